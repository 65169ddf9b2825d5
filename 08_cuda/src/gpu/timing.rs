//! Timing on the GPU: [`Device::measure`] for a [`Method`] (kernel alone with CUDA events,
//! with the download, end to end), and the two floors of a workload —
//! [`Device::measure_read`], the read kernel over `a` on the device, and
//! [`Device::measure_upload`], copying `a` from host memory.

use std::time::{Duration, Instant};

use cust::context::CurrentContext;
use cust::event::{Event, EventFlags};
use cust::memory::{CopyDestination, DeviceBuffer};
use cust::stream::Stream;
use ndarray::ArrayView2;

use super::error::During;
use super::launch::{row_major, upload};
use super::{Device, GpuError, Method};
use crate::kernels::read_launch_config;
use matmul_data::assert_inner_dims;

impl Device {
    /// Times `method` on `a @ b`: see [`Measurement`] for what each time includes. Runs one
    /// untimed launch first (the driver JIT-compiles and caches the kernel on first use).
    ///
    /// # Panics
    ///
    /// When `a.ncols() != b.nrows()`, naming both shapes, or when a dimension is zero (there
    /// is nothing to time).
    pub fn measure(
        &self,
        method: Method,
        a: ArrayView2<'_, f32>,
        b: ArrayView2<'_, f32>,
        options: MeasureOptions,
    ) -> Result<Measurement, GpuError> {
        let shape = assert_inner_dims(a.dim(), b.dim());
        let (m, k, n) = shape;
        assert!(
            m > 0 && k > 0 && n > 0,
            "measure: nothing to time in ({m}, {k}) @ ({k}, {n})"
        );
        let _guard = self.enter()?;
        let (a_host, b_host) = (row_major(a), row_major(b));
        let (a_dev, b_dev) = upload(a, b)?;
        // SAFETY: every element is written by the launch before it is read back.
        let mut c_dev = unsafe { DeviceBuffer::uninitialized(m * n) }.during("allocating c")?;
        let mut c_host = vec![0.0_f32; m * n];

        self.enqueue(method, shape, &a_dev, &b_dev, &mut c_dev)?; // warm-up
        self.stream.synchronize().during("warming up")?;

        let kernel_samples = self.time_with_events(options, || {
            self.enqueue(method, shape, &a_dev, &b_dev, &mut c_dev)
        })?;
        let kernel = median(&kernel_samples);
        // One launch and the copy of c back: what both wall-clock timings include.
        let launch_and_download = |a_dev: &DeviceBuffer<f32>,
                                   b_dev: &DeviceBuffer<f32>,
                                   c_dev: &mut DeviceBuffer<f32>,
                                   c_host: &mut [f32]| {
            self.enqueue(method, shape, a_dev, b_dev, c_dev)?;
            self.stream.synchronize().during("running the kernel")?;
            c_dev.copy_to(c_host).during("copying c to the host")
        };
        let kernel_and_download = options.repeat(|| {
            let t = Instant::now();
            launch_and_download(&a_dev, &b_dev, &mut c_dev, &mut c_host)?;
            Ok(t.elapsed())
        })?;
        let end_to_end = options.repeat(|| {
            let t = Instant::now();
            let a_dev = DeviceBuffer::from_slice(&a_host).during("copying a to the device")?;
            let b_dev = DeviceBuffer::from_slice(&b_host).during("copying b to the device")?;
            // SAFETY: every element is written by the launch before it is read back.
            let mut c_dev = unsafe { DeviceBuffer::uninitialized(m * n) }.during("allocating c")?;
            launch_and_download(&a_dev, &b_dev, &mut c_dev, &mut c_host)?;
            Ok(t.elapsed())
        })?;
        Ok(Measurement {
            method,
            shape,
            kernel,
            kernel_samples,
            kernel_and_download,
            end_to_end,
        })
    }

    /// The GPU floor of any kernel that reads `x`: the times (CUDA events) of the read
    /// kernel ([`READ_FLOOR`](crate::kernels::READ_FLOOR), `kernels/read.cu`) reading every
    /// element of `x` from device memory once — `float4` loads, a grid-stride loop over enough
    /// blocks to fill every multiprocessor, one sum per block written so that no load can be
    /// dropped. `x` is uploaded once, before the timing; one untimed launch comes first.
    ///
    /// For `mnist50k`, `x` is `a`: a product of that shape cannot take less.
    ///
    /// # Panics
    ///
    /// When `x` is empty (there is nothing to time).
    pub fn measure_read(
        &self,
        x: ArrayView2<'_, f32>,
        options: MeasureOptions,
    ) -> Result<Timings, GpuError> {
        assert!(
            !x.is_empty(),
            "measure_read: nothing to read in {:?}",
            x.dim()
        );
        let _guard = self.enter()?;
        let x_dev = DeviceBuffer::from_slice(&row_major(x)).during("copying x to the device")?;
        let blocks = read_launch_config(x.len(), self.multiprocessors()).grid.x as usize;
        // SAFETY: every block writes its sum before anything reads it (nothing reads them here).
        let mut sums =
            unsafe { DeviceBuffer::uninitialized(blocks) }.during("allocating the block sums")?;
        self.enqueue_read(&x_dev, &mut sums)?; // warm-up
        self.stream.synchronize().during("warming up")?;
        let times = self.time_with_events(options, || self.enqueue_read(&x_dev, &mut sums))?;
        Ok(Timings::new(times))
    }

    /// The wall-clock times of copying `x` from pageable host memory to the device (the
    /// lesson's `cuda.to_device(x)`, whose allocation is left out: the device buffer is
    /// allocated once, as a caching allocator would), around the copy and a synchronisation
    /// of the context.
    ///
    /// A non-contiguous `x` is first copied to row-major order on the host, outside the
    /// timing. An empty `x` times an empty copy.
    pub fn measure_upload(
        &self,
        x: ArrayView2<'_, f32>,
        options: MeasureOptions,
    ) -> Result<Timings, GpuError> {
        let _guard = self.enter()?;
        let host = row_major(x);
        if host.is_empty() {
            return options.repeat_all(|| Ok(Duration::ZERO)).map(Timings::new);
        }
        // SAFETY: the timed copies write every element before anything could read one.
        let mut x_dev =
            unsafe { DeviceBuffer::uninitialized(host.len()) }.during("allocating x")?;
        x_dev
            .copy_from(&host[..])
            .during("copying x to the device")?; // warm-up
        options
            .repeat_all(|| {
                let t = Instant::now();
                x_dev
                    .copy_from(&host[..])
                    .during("copying x to the device")?;
                CurrentContext::synchronize().during("finishing the copy")?;
                Ok(t.elapsed())
            })
            .map(Timings::new)
    }

    /// The median of `options`' repetitions of `enqueue`, timed with CUDA events recorded on
    /// the stream before and after it (call with the lock held).
    fn time_with_events(
        &self,
        options: MeasureOptions,
        mut enqueue: impl FnMut() -> Result<(), GpuError>,
    ) -> Result<Vec<Duration>, GpuError> {
        let (start, stop) = (
            Event::new(EventFlags::DEFAULT).during("creating an event")?,
            Event::new(EventFlags::DEFAULT).during("creating an event")?,
        );
        let stream: &Stream = &self.stream;
        options.repeat_all(|| {
            start.record(stream).during("recording an event")?;
            enqueue()?;
            stop.record(stream).during("recording an event")?;
            stop.synchronize().during("running the kernel")?;
            stop.elapsed(&start).during("reading the events")
        })
    }
}

/// How many times [`Device::measure`] repeats each timing: at least `min_reps`, then more
/// until `budget` is spent or `max_reps` is reached. Each reported time is the median.
#[derive(Clone, Copy, Debug)]
pub struct MeasureOptions {
    /// Repetitions always done.
    pub min_reps: usize,
    /// Repetitions never exceeded.
    pub max_reps: usize,
    /// Time after which no repetitions beyond `min_reps` start (per timing).
    pub budget: Duration,
}

impl Default for MeasureOptions {
    /// 3 to 100 repetitions, within a budget of 500 ms per timing. <!-- fact -->
    fn default() -> Self {
        Self {
            min_reps: 3,
            max_reps: 100,
            budget: Duration::from_millis(500),
        }
    }
}

impl MeasureOptions {
    /// Runs `once` as these options say and returns the median of what it measured.
    pub(super) fn repeat(
        &self,
        once: impl FnMut() -> Result<Duration, GpuError>,
    ) -> Result<Duration, GpuError> {
        Ok(median(&self.repeat_all(once)?))
    }

    /// Every time [`MeasureOptions::repeat`] takes the median of, in the order taken.
    pub(super) fn repeat_all(
        &self,
        mut once: impl FnMut() -> Result<Duration, GpuError>,
    ) -> Result<Vec<Duration>, GpuError> {
        let started = Instant::now();
        let mut times = Vec::new();
        while times.len() < self.min_reps.max(1)
            || (times.len() < self.max_reps && started.elapsed() < self.budget)
        {
            times.push(once()?);
        }
        Ok(times)
    }
}

/// The median of `times` (the upper one of an even count).
///
/// # Panics
///
/// When `times` is empty.
fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

/// Repeated timings of one operation, as [`Device::measure_read`] and
/// [`Device::measure_upload`] return them: every sample, in the order taken, and their median.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timings {
    /// The median of [`Timings::samples`].
    pub median: Duration,
    /// Every timing, in the order taken (at least one).
    pub samples: Vec<Duration>,
}

impl Timings {
    /// The median of `samples`, kept with them.
    ///
    /// # Panics
    ///
    /// When `samples` is empty.
    fn new(samples: Vec<Duration>) -> Timings {
        Timings {
            median: median(&samples),
            samples,
        }
    }
}

/// The result of [`Device::measure`]: medians over repetitions.
#[derive(Clone, Debug)]
pub struct Measurement {
    /// What ran.
    pub method: Method,
    /// The product's `(m, k, n)`.
    pub shape: (usize, usize, usize),
    /// The kernel alone (CUDA events around the launch, inputs already on the device).
    pub kernel: Duration,
    /// Every timing of the kernel alone that [`Measurement::kernel`] is the median of.
    pub kernel_samples: Vec<Duration>,
    /// Kernel plus copying `c` back to pageable host memory: what the lesson's `%timeit` of
    /// `matmul[grid, block](...); r = rg.copy_to_host()` and `(m1c @ m2c).cpu()` measure.
    pub kernel_and_download: Duration,
    /// From host arrays to a host array: allocate and copy `a` and `b` to the device, run,
    /// copy `c` back (wall clock, pageable memory).
    pub end_to_end: Duration,
}

impl Measurement {
    /// Arithmetic rate of the kernel alone: `2·m·k·n` flops per [`Measurement::kernel`].
    pub fn gflops(&self) -> f64 {
        let (m, k, n) = self.shape;
        2.0 * m as f64 * k as f64 * n as f64 / self.kernel.as_secs_f64() / 1e9
    }

    /// Bytes the product must move at least once (`a`, `b` read, `c` written) divided by the
    /// kernel time, in GB/s: the figure to compare with HBM bandwidth for memory-bound shapes.
    pub fn effective_bandwidth(&self) -> f64 {
        let (m, k, n) = self.shape;
        let bytes = 4.0 * (m * k + k * n + m * n) as f64;
        bytes / self.kernel.as_secs_f64() / 1e9
    }
}

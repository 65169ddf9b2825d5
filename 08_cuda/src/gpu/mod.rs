//! Running the kernels on a real GPU with cust (feature `cuda`).
//!
//! [`Device::detect`] opens the first CUDA device — context, the four PTX modules of
//! `kernels/*.cu` JIT-compiled by the driver, a stream — or returns `None` when there is no
//! usable driver or device. Every [`Method`] (the [`Kernel`]s and cuBLAS) then runs through the
//! same three calls:
//!
//! - [`Device::matmul`]: host arrays in, host array out (any strides: inputs that are not
//!   contiguous row-major are copied to that layout on the host first, since the kernels take
//!   plain row-major buffers);
//! - [`Device::validate`]: a run against the float64 reference with the output poisoned (NaN)
//!   before the launch, so a missed element cannot pass;
//! - [`Device::measure`]: kernel time from CUDA events, and wall-clock times including the
//!   copies.
//!
//! [`gpu_stages`] wraps the kernels as [`Stage`]s, listed only when a device is present.
//!
//! ## For `cargo xtask bench --cuda`
//!
//! Built with `--features cuda` (xtask forwards its own `cuda` feature), the bench needs only:
//!
//! - [`Device::shared`] (or [`Device::open`] for the reason there is none);
//! - [`Device::measure`]`(method, a, b, MeasureOptions::default())` for each of
//!   [`Method::ALL`] on each workload, giving a [`Measurement`]: `kernel` (CUDA events),
//!   `kernel_and_download` (the lesson's timing, with `.cpu()`), `end_to_end`, and
//!   [`Measurement::gflops`]; percent of cuBLAS is `gflops / cublas.gflops`;
//! - optionally [`Device::validate`] before timing (a [`Validation`] that `Display`s as one
//!   line and says [`Validation::passed`]).
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use matmul_cuda::gpu::{Device, MeasureOptions, Method};
//!
//! let gpu = Device::shared().ok_or_else(|| Device::open().unwrap_err())?;
//! let (a, b) = (matmul_data::synthetic::uniform(4096, 4096, 1), matmul_data::synthetic::uniform(4096, 4096, 2));
//! let cublas = gpu.measure(Method::Cublas, a.view(), b.view(), MeasureOptions::default())?;
//! for method in Method::ALL {
//!     let m = gpu.measure(method, a.view(), b.view(), MeasureOptions::default())?;
//!     println!(
//!         "{:<16} {:>10.3} ms {:>8.0} GFLOP/s {:>6.1}% of cuBLAS",
//!         method.name(),
//!         m.kernel.as_secs_f64() * 1e3,
//!         m.gflops(),
//!         100.0 * m.gflops() / cublas.gflops()
//!     );
//! }
//! # Ok(())
//! # }
//! ```
//!
//! The binary links `libcuda.so.1` (cust does), so a `cuda` build starts only where the
//! driver library is installed; there, a missing or busy GPU makes `detect` return `None`.
//!
//! ```no_run
//! use matmul_cuda::gpu::{Device, Method, MeasureOptions};
//! use matmul_cuda::kernels::Kernel;
//! use matmul_data::synthetic;
//!
//! let Some(gpu) = Device::detect() else {
//!     println!("no GPU: skipping");
//!     return;
//! };
//! let (a, b) = (synthetic::mnist_like(50_000, 1), synthetic::weights(784, 10, 2));
//! let check = gpu.validate(Method::Kernel(Kernel::Skinny), a.view(), b.view()).unwrap();
//! assert!(check.passed(), "{check}");
//! let m = gpu.measure(Method::Cublas, a.view(), b.view(), MeasureOptions::default()).unwrap();
//! println!("{}: {:?} kernel, {:.0} GFLOP/s", m.method.name(), m.kernel, m.gflops());
//! ```

mod cublas;

use std::borrow::Cow;
use std::fmt;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use cust::context::{Context, CurrentContext};
use cust::error::CudaError;
use cust::event::{Event, EventFlags};
use cust::memory::{CopyDestination, DeviceBuffer};
use cust::module::Module;
use cust::stream::{Stream, StreamFlags};
use cust::{CudaFlags, launch};
use ndarray::{Array2, ArrayView2, Axis};

use crate::kernels::{Kernel, TooLarge};
use matmul_data::{Stage, assert_inner_dims, reference_matmul, relative_error};

use cublas::Cublas;

/// `("NAME.cu", the PTX build.rs made of it)`.
macro_rules! ptx {
    ($name:literal) => {
        (
            concat!($name, ".cu"),
            include_str!(concat!(env!("OUT_DIR"), "/", $name, ".ptx")),
        )
    };
}

/// The PTX that `build.rs` made from each `kernels/*.cu` (its `KERNELS` list).
const PTX: [(&str, &str); 6] = [
    ptx!("naive"),
    ptx!("coalesced"),
    ptx!("tiled"),
    ptx!("regblock"),
    ptx!("pipelined"),
    ptx!("rowwise"),
];

/// NaN as a 32-bit pattern, written over the output before a validated launch.
const POISON: u32 = 0x7FC0_0000;

/// The largest normwise relative error against float64 a GPU result may have (the bar every
/// CPU stage meets in [`matmul_data::conformance`]).
pub const MAX_RELATIVE_ERROR: f64 = matmul_data::conformance::MAX_RELATIVE_ERROR;

/// One way to multiply on the GPU: one of this step's kernels, or cuBLAS as the yardstick.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// A kernel from `kernels/*.cu`.
    Kernel(Kernel),
    /// `cublasSgemm` (FP32, TF32 off), loaded at run time.
    Cublas,
}

impl Method {
    /// Every method: the kernels in reading order, then cuBLAS.
    pub const ALL: [Method; 8] = [
        Method::Kernel(Kernel::Naive),
        Method::Kernel(Kernel::Coalesced),
        Method::Kernel(Kernel::Tiled),
        Method::Kernel(Kernel::RegisterBlocked),
        Method::Kernel(Kernel::Skinny),
        Method::Kernel(Kernel::Pipelined),
        Method::Kernel(Kernel::RowWise),
        Method::Cublas,
    ];

    /// The name used in tables: the kernel's [`Kernel::name`], or `"cublas"`.
    pub const fn name(self) -> &'static str {
        match self {
            Method::Kernel(kernel) => kernel.name(),
            Method::Cublas => "cublas",
        }
    }
}

/// Why a GPU call failed.
#[derive(Debug)]
pub enum GpuError {
    /// A CUDA driver call failed.
    Cuda {
        /// What was being done.
        during: &'static str,
        /// The driver's error.
        source: CudaError,
    },
    /// No device could be opened (no driver, no GPU, or the modules did not load).
    Unavailable(String),
    /// cuBLAS could not be loaded or failed.
    Cublas(String),
    /// The product does not fit a kernel's launch arithmetic.
    TooLarge(TooLarge),
}

// CUDA errors are shown with `Debug` (`NoDevice`, `InvalidPtx`): their `Display` asks the driver
// for a message and fails when the driver is the thing that is missing.
impl fmt::Display for GpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GpuError::Cuda { during, source } => write!(f, "CUDA error while {during}: {source:?}"),
            GpuError::Unavailable(why) => write!(f, "no usable CUDA device: {why}"),
            GpuError::Cublas(why) => write!(f, "cuBLAS: {why}"),
            GpuError::TooLarge(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for GpuError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // not the CudaError: it is in the message already, and its Display may fail
            GpuError::TooLarge(err) => Some(err),
            _ => None,
        }
    }
}

/// Attaches what was being done to a driver error.
trait During<T> {
    fn during(self, what: &'static str) -> Result<T, GpuError>;
}

impl<T> During<T> for Result<T, CudaError> {
    fn during(self, during: &'static str) -> Result<T, GpuError> {
        self.map_err(|source| GpuError::Cuda { during, source })
    }
}

/// An open CUDA device: its context, the kernels' modules, a stream and (lazily) cuBLAS.
///
/// Methods take `&self` and serialise on an internal lock, so one `Device` may be shared
/// between threads; the context is made current on the calling thread each time.
pub struct Device {
    // Fields drop in order: everything that lives in the context comes before it.
    cublas: OnceLock<Result<Cublas, String>>,
    modules: Vec<(&'static str, Module)>,
    stream: Stream,
    lock: Mutex<()>,
    name: String,
    compute_capability: (i32, i32),
    context: Context,
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Device")
            .field("name", &self.name)
            .field("compute_capability", &self.compute_capability)
            .finish_non_exhaustive()
    }
}

impl Device {
    /// Opens device 0, or returns `None` when there is no usable driver or GPU (the reason is
    /// available from [`Device::open`]). Never panics.
    pub fn detect() -> Option<Device> {
        Self::open().ok()
    }

    /// Opens device 0: initialises the driver, retains the device's primary context (the one
    /// cuBLAS and PyTorch use too), loads the kernels' PTX and creates a stream.
    pub fn open() -> Result<Device, GpuError> {
        // A driver that misbehaves badly enough to panic inside cust still means "no device".
        std::panic::catch_unwind(Self::open_inner).unwrap_or_else(|_| {
            Err(GpuError::Unavailable(
                "the CUDA driver panicked while opening the device".into(),
            ))
        })
    }

    fn open_inner() -> Result<Device, GpuError> {
        let unavailable =
            |what: &str, err: CudaError| GpuError::Unavailable(format!("{what}: {err:?}"));
        cust::init(CudaFlags::empty()).map_err(|e| unavailable("cuInit", e))?;
        let device = cust::device::Device::get_device(0).map_err(|e| unavailable("device 0", e))?;
        let context = Context::new(device).map_err(|e| unavailable("context", e))?;
        CurrentContext::set_current(&context).map_err(|e| unavailable("context", e))?;
        let name = device
            .name()
            .unwrap_or_else(|_| "unknown CUDA device".into());
        let attribute = |a| device.get_attribute(a).unwrap_or(0);
        use cust::device::DeviceAttribute::{ComputeCapabilityMajor, ComputeCapabilityMinor};
        let compute_capability = (
            attribute(ComputeCapabilityMajor),
            attribute(ComputeCapabilityMinor),
        );
        let mut modules = Vec::new();
        for (file, ptx) in PTX {
            modules.push((file, load_ptx(file, ptx)?));
        }
        let stream = Stream::new(StreamFlags::DEFAULT, None).during("creating a stream")?;
        Ok(Device {
            cublas: OnceLock::new(),
            modules,
            stream,
            lock: Mutex::new(()),
            name,
            compute_capability,
            context,
        })
    }

    /// The device opened once per process and shared, as the [`Stage`] functions need (they
    /// are plain `fn`s); `None` when [`Device::detect`] finds none.
    pub fn shared() -> Option<&'static Device> {
        static SHARED: OnceLock<Option<Device>> = OnceLock::new();
        SHARED.get_or_init(Device::detect).as_ref()
    }

    /// The device's name, as the driver reports it (`"NVIDIA H100 80GB HBM3"`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The device's compute capability, `(9, 0)` for an H100.
    pub fn compute_capability(&self) -> (i32, i32) {
        self.compute_capability
    }

    /// Where cuBLAS was loaded from, or why it could not be (loading it on first use).
    pub fn cublas_library(&self) -> Result<&str, GpuError> {
        let _guard = self.enter()?;
        self.cublas().map(|cublas| cublas.path.as_str())
    }

    /// Takes the lock and makes the context current on this thread.
    fn enter(&self) -> Result<std::sync::MutexGuard<'_, ()>, GpuError> {
        // A panic while holding the lock leaves nothing half-done that matters here.
        let guard = self
            .lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        CurrentContext::set_current(&self.context).during("making the context current")?;
        Ok(guard)
    }

    /// cuBLAS, loaded on first use (call with the lock held).
    fn cublas(&self) -> Result<&Cublas, GpuError> {
        self.cublas
            .get_or_init(|| Cublas::load(self.stream.as_inner().cast()))
            .as_ref()
            .map_err(|why| GpuError::Cublas(why.clone()))
    }

    fn module(&self, file: &str) -> &Module {
        let (_, module) = self
            .modules
            .iter()
            .find(|(name, _)| *name == file)
            .expect("every kernel file has a module (PTX is listed for each)");
        module
    }

    /// Enqueues `method` on the stream for device buffers holding row-major `a: (m, k)`,
    /// `b: (k, n)` and `c: (m, n)`, all dimensions at least 1 (call with the lock held).
    fn enqueue(
        &self,
        method: Method,
        (m, k, n): (usize, usize, usize),
        a: &DeviceBuffer<f32>,
        b: &DeviceBuffer<f32>,
        c: &mut DeviceBuffer<f32>,
    ) -> Result<(), GpuError> {
        debug_assert!(m > 0 && k > 0 && n > 0);
        debug_assert!(a.len() == m * k && b.len() == k * n && c.len() == m * n);
        let kernel = match method {
            Method::Kernel(kernel) => kernel,
            Method::Cublas => {
                let too_large = |_| {
                    GpuError::Cublas(format!("({m}, {k}) @ ({k}, {n}) does not fit 32-bit ints"))
                };
                let (mi, ki, ni) = (
                    i32::try_from(m).map_err(too_large)?,
                    i32::try_from(k).map_err(too_large)?,
                    i32::try_from(n).map_err(too_large)?,
                );
                // SAFETY: the three buffers hold m·k, k·n and m·n floats (asserted above) and
                // outlive the stream's work: every caller synchronises before dropping them.
                return unsafe {
                    self.cublas()?.sgemm_row_major(
                        mi,
                        ni,
                        ki,
                        a.as_device_ptr().as_ptr(),
                        b.as_device_ptr().as_ptr(),
                        c.as_device_ptr().as_mut_ptr(),
                    )
                }
                .map_err(GpuError::Cublas);
            }
        };
        let config = kernel.launch_config(m, k, n).map_err(GpuError::TooLarge)?;
        let function = self
            .module(kernel.file())
            .get_function(kernel.entry_point())
            .during("looking up a kernel")?;
        let (grid, block) = (config.grid, config.block);
        let stream = &self.stream;
        // launch_config checked that m, k and n fit an i32.
        let (mi, ni, ki) = (m as i32, n as i32, k as i32);
        // SAFETY: every kernel has the signature (const float*, const float*, float*, int m,
        // int n, int k) and reads only a[0..m·k] and b[0..k·n] and writes only c[0..m·n],
        // which the buffers hold; they outlive the launch (callers synchronise before
        // dropping them).
        unsafe {
            launch!(function<<<(grid.x, grid.y, grid.z), (block.x, block.y, block.z), 0, stream>>>(
                a.as_device_ptr(),
                b.as_device_ptr(),
                c.as_device_ptr(),
                mi,
                ni,
                ki
            ))
        }
        .during("launching a kernel")
    }

    /// `a @ b` on the GPU with `method`, from host arrays to a host array.
    ///
    /// Inputs of any layout are accepted: the kernels take contiguous row-major buffers, so
    /// anything else is first copied to that layout on the host. Zero-sized products return
    /// without touching the GPU (zeros when `k = 0`).
    ///
    /// # Panics
    ///
    /// When `a.ncols() != b.nrows()`, naming both shapes.
    pub fn matmul(
        &self,
        method: Method,
        a: ArrayView2<'_, f32>,
        b: ArrayView2<'_, f32>,
    ) -> Result<Array2<f32>, GpuError> {
        let shape = assert_inner_dims(a.dim(), b.dim());
        let (m, k, n) = shape;
        if m == 0 || k == 0 || n == 0 {
            return Ok(Array2::zeros((m, n)));
        }
        let _guard = self.enter()?;
        let (a_dev, b_dev) = upload(a, b)?;
        // SAFETY: every element is written by the launch before it is read back.
        let mut c_dev = unsafe { DeviceBuffer::uninitialized(m * n) }.during("allocating c")?;
        self.enqueue(method, shape, &a_dev, &b_dev, &mut c_dev)?;
        self.stream.synchronize().during("running the kernel")?;
        download(&c_dev, m, n)
    }

    /// Checks `method` on `a @ b` against the float64 reference, with `c` poisoned (NaN)
    /// before the launch so that an element the kernel skips shows up.
    ///
    /// Large products are compared on a sample of rows (first, last and evenly spaced ones,
    /// at most about 2^29 reference multiply-adds); every element is checked for NaN.
    ///
    /// # Panics
    ///
    /// When `a.ncols() != b.nrows()`, naming both shapes.
    pub fn validate(
        &self,
        method: Method,
        a: ArrayView2<'_, f32>,
        b: ArrayView2<'_, f32>,
    ) -> Result<Validation, GpuError> {
        let shape = assert_inner_dims(a.dim(), b.dim());
        let (m, k, n) = shape;
        let c = if m == 0 || k == 0 || n == 0 {
            self.matmul(method, a, b)?
        } else {
            let _guard = self.enter()?;
            let (a_dev, b_dev) = upload(a, b)?;
            let mut c_dev = DeviceBuffer::zeroed(m * n).during("allocating c")?;
            c_dev.set_32(POISON).during("poisoning c")?;
            self.enqueue(method, shape, &a_dev, &b_dev, &mut c_dev)?;
            self.stream.synchronize().during("running the kernel")?;
            download(&c_dev, m, n)?
        };
        let unwritten = c.iter().filter(|x| x.is_nan()).count();
        let rows = sample_rows(m, k, n);
        let reference = reference_matmul(a.select(Axis(0), &rows).view(), b);
        let relative_error = relative_error(&c.select(Axis(0), &rows), &reference);
        Ok(Validation {
            method,
            shape,
            checked_rows: rows.len(),
            unwritten,
            relative_error,
        })
    }

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

        let (start, stop) = (
            Event::new(EventFlags::DEFAULT).during("creating an event")?,
            Event::new(EventFlags::DEFAULT).during("creating an event")?,
        );
        let kernel = options.repeat(|| {
            start.record(&self.stream).during("recording an event")?;
            self.enqueue(method, shape, &a_dev, &b_dev, &mut c_dev)?;
            stop.record(&self.stream).during("recording an event")?;
            stop.synchronize().during("running the kernel")?;
            stop.elapsed(&start).during("reading the events")
        })?;
        let kernel_and_download = options.repeat(|| {
            let t = Instant::now();
            self.enqueue(method, shape, &a_dev, &b_dev, &mut c_dev)?;
            self.stream.synchronize().during("running the kernel")?;
            c_dev
                .copy_to(&mut c_host[..])
                .during("copying c to the host")?;
            Ok(t.elapsed())
        })?;
        let end_to_end = options.repeat(|| {
            let t = Instant::now();
            let a_dev = DeviceBuffer::from_slice(&a_host).during("copying a to the device")?;
            let b_dev = DeviceBuffer::from_slice(&b_host).during("copying b to the device")?;
            // SAFETY: every element is written by the launch before it is read back.
            let mut c_dev = unsafe { DeviceBuffer::uninitialized(m * n) }.during("allocating c")?;
            self.enqueue(method, shape, &a_dev, &b_dev, &mut c_dev)?;
            self.stream.synchronize().during("running the kernel")?;
            c_dev
                .copy_to(&mut c_host[..])
                .during("copying c to the host")?;
            Ok(t.elapsed())
        })?;
        Ok(Measurement {
            method,
            shape,
            kernel,
            kernel_and_download,
            end_to_end,
        })
    }
}

/// Loads one PTX module. The PTX's `.version` line is that of the compiler that made it; a
/// driver older than that compiler refuses it, so on failure the load is retried once with
/// the version lowered to 7.8 (CUDA 11.8, the oldest driver an H100 runs with), which these
/// kernels (plain loads, stores, FMAs and barriers) are valid under.
fn load_ptx(file: &str, ptx: &str) -> Result<Module, GpuError> {
    let first = match Module::from_ptx(ptx, &[]) {
        Ok(module) => return Ok(module),
        Err(err) => err,
    };
    let lowered = with_ptx_version(ptx, FALLBACK_PTX_VERSION);
    Module::from_ptx(lowered, &[]).map_err(|second| {
        GpuError::Unavailable(format!(
            "the driver rejected the PTX of kernels/{file} ({first:?}; with .version {FALLBACK_PTX_VERSION}: {second:?}); \
             rebuild with MATMUL_CUDA_ARCH set to this GPU's sm_XX or with an nvcc no newer \
             than the driver"
        ))
    })
}

/// The PTX ISA version [`load_ptx`] falls back to: CUDA 11.8's, the oldest an H100 runs.
const FALLBACK_PTX_VERSION: &str = "7.8";

/// `ptx` with its `.version` directive replaced by `version`.
fn with_ptx_version(ptx: &str, version: &str) -> String {
    ptx.lines()
        .map(|line| {
            if line.starts_with(".version ") {
                format!(".version {version}")
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `x` as a contiguous row-major slice, borrowed when it already is one.
fn row_major<'a>(x: ArrayView2<'a, f32>) -> Cow<'a, [f32]> {
    match x.to_slice() {
        Some(slice) => Cow::Borrowed(slice),
        None => Cow::Owned(x.as_standard_layout().iter().copied().collect()),
    }
}

fn upload(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
) -> Result<(DeviceBuffer<f32>, DeviceBuffer<f32>), GpuError> {
    Ok((
        DeviceBuffer::from_slice(&row_major(a)).during("copying a to the device")?,
        DeviceBuffer::from_slice(&row_major(b)).during("copying b to the device")?,
    ))
}

fn download(c_dev: &DeviceBuffer<f32>, m: usize, n: usize) -> Result<Array2<f32>, GpuError> {
    let mut c = vec![0.0_f32; m * n];
    c_dev.copy_to(&mut c[..]).during("copying c to the host")?;
    Ok(Array2::from_shape_vec((m, n), c).expect("m·n elements for an (m, n) array"))
}

/// The rows of an `(m, n)` result compared with the float64 reference: all of them when the
/// reference costs at most 2^29 multiply-adds, else first, last and evenly spaced rows in
/// that budget (at least 8).
fn sample_rows(m: usize, k: usize, n: usize) -> Vec<usize> {
    const BUDGET: usize = 1 << 29;
    let count = (BUDGET / (k * n).max(1)).max(8);
    if count >= m {
        return (0..m).collect();
    }
    // m > count >= 8, so the spacing (m - 1) / (count - 1) exceeds 1: distinct rows, the first
    // and the last among them.
    (0..count).map(|i| i * (m - 1) / (count - 1)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kernel_is_an_entry_of_its_ptx() {
        for kernel in Kernel::ALL {
            let (_, ptx) = PTX
                .iter()
                .find(|(file, _)| *file == kernel.file())
                .unwrap_or_else(|| panic!("no PTX for {}", kernel.file()));
            let entry = format!(".entry {}(", kernel.entry_point());
            assert!(ptx.contains(&entry), "{} lacks {entry}", kernel.file());
        }
    }

    #[test]
    fn the_fallback_changes_only_the_version_line() {
        let ptx = "//\n.version 8.8\n.target sm_80\n.address_size 64\n";
        assert_eq!(
            with_ptx_version(ptx, "7.8"),
            "//\n.version 7.8\n.target sm_80\n.address_size 64"
        );
        for (_, ptx) in PTX {
            assert_eq!(
                ptx.lines().filter(|l| l.starts_with(".version ")).count(),
                1
            );
        }
    }

    #[test]
    fn sample_rows_takes_all_small_products_and_spreads_over_large_ones() {
        assert_eq!(sample_rows(5, 784, 10), vec![0, 1, 2, 3, 4]);
        assert_eq!(sample_rows(50_000, 784, 10).len(), 50_000);
        let rows = sample_rows(4096, 4096, 4096);
        assert_eq!((rows.len(), rows[0], rows[rows.len() - 1]), (32, 0, 4095));
        assert!(rows.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(sample_rows(8192, 8192, 8192).len(), 8);
    }
}

/// The result of [`Device::validate`].
#[derive(Clone, Debug)]
pub struct Validation {
    /// What ran.
    pub method: Method,
    /// The product's `(m, k, n)`.
    pub shape: (usize, usize, usize),
    /// How many rows were compared with the float64 reference.
    pub checked_rows: usize,
    /// Elements still NaN after the launch (the output was poisoned before it).
    pub unwritten: usize,
    /// Normwise relative error against float64 on the checked rows (NaN if any is NaN).
    pub relative_error: f64,
}

impl Validation {
    /// Every element written, and the error at most [`MAX_RELATIVE_ERROR`].
    pub fn passed(&self) -> bool {
        // written this way round so that a NaN error fails
        self.unwritten == 0 && self.relative_error <= MAX_RELATIVE_ERROR
    }
}

impl fmt::Display for Validation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (m, k, n) = self.shape;
        write!(
            f,
            "{} ({m}, {k}) @ ({k}, {n}): {} — relative error {:.2e} (max {MAX_RELATIVE_ERROR:.0e}) \
             on {} rows, {} elements unwritten",
            self.method.name(),
            if self.passed() { "ok" } else { "FAILED" },
            self.relative_error,
            self.checked_rows,
            self.unwritten
        )
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
    /// 3 to 100 repetitions within half a second per timing.
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
    fn repeat(
        &self,
        mut once: impl FnMut() -> Result<Duration, GpuError>,
    ) -> Result<Duration, GpuError> {
        let started = Instant::now();
        let mut times = Vec::new();
        while times.len() < self.min_reps.max(1)
            || (times.len() < self.max_reps && started.elapsed() < self.budget)
        {
            times.push(once()?);
        }
        times.sort();
        Ok(times[times.len() / 2])
    }
}

/// The result of [`Device::measure`]: medians over repetitions.
#[derive(Clone, Copy, Debug)]
pub struct Measurement {
    /// What ran.
    pub method: Method,
    /// The product's `(m, k, n)`.
    pub shape: (usize, usize, usize),
    /// The kernel alone (CUDA events around the launch, inputs already on the device).
    pub kernel: Duration,
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

/// The GPU kernels as [`Stage`]s (timed from host arrays to a host array, copies included),
/// or an empty list when no device is present. cuBLAS is not a stage: it is the yardstick,
/// measured with [`Device::measure`].
pub fn gpu_stages() -> Vec<Stage> {
    if Device::shared().is_none() {
        return Vec::new();
    }
    let stage = |kernel: Kernel, matmul| Stage {
        name: kernel.name(),
        package: env!("CARGO_PKG_NAME"),
        summary: kernel.summary(),
        matmul,
    };
    vec![
        stage(Kernel::Naive, stage_naive),
        stage(Kernel::Coalesced, stage_coalesced),
        stage(Kernel::Tiled, stage_tiled),
        stage(Kernel::RegisterBlocked, stage_regblock),
        stage(Kernel::Skinny, stage_skinny),
        stage(Kernel::Pipelined, stage_pipelined),
        stage(Kernel::RowWise, stage_rowwise),
    ]
}

/// The body of every GPU stage function.
///
/// # Panics
///
/// When the inner dimensions differ (naming both shapes), and when the GPU fails — a stage
/// has no error channel, and [`gpu_stages`] lists GPU stages only where a device opened.
fn run_stage(kernel: Kernel, a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    assert_inner_dims(a.dim(), b.dim());
    let device = Device::shared().expect("GPU stages are listed only when a device is present");
    device
        .matmul(Method::Kernel(kernel), a, b)
        .unwrap_or_else(|err| panic!("{}: {err}", kernel.name()))
}

fn stage_naive(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    run_stage(Kernel::Naive, a, b)
}
fn stage_coalesced(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    run_stage(Kernel::Coalesced, a, b)
}
fn stage_tiled(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    run_stage(Kernel::Tiled, a, b)
}
fn stage_regblock(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    run_stage(Kernel::RegisterBlocked, a, b)
}
fn stage_skinny(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    run_stage(Kernel::Skinny, a, b)
}
fn stage_pipelined(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    run_stage(Kernel::Pipelined, a, b)
}
fn stage_rowwise(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    run_stage(Kernel::RowWise, a, b)
}

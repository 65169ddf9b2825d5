//! Running a [`Method`] once: launching it on device buffers, [`Device::matmul`] from host
//! arrays to a host array, and [`Device::validate`] against the float64 reference with the
//! output poisoned first. Also the read kernel's launch, and [`Device::read_sum`] to check it.

use std::borrow::Cow;
use std::fmt;

use cust::launch;
use cust::memory::{CopyDestination, DeviceBuffer};
use ndarray::{Array2, ArrayView2, Axis};

use super::error::During;
use super::{Device, GpuError, Method};
use crate::kernels::{READ_FLOOR, read_launch_config};
use matmul_data::{assert_inner_dims, reference_matmul, relative_error};

/// NaN as a 32-bit pattern, written over the output before a validated launch.
const POISON: u32 = 0x7FC0_0000;

/// The largest normwise relative error against float64 a GPU result may have (the bar every
/// CPU stage meets in [`matmul_data::conformance`]).
pub const MAX_RELATIVE_ERROR: f64 = matmul_data::conformance::MAX_RELATIVE_ERROR;

impl Device {
    /// Enqueues `method` on the stream for device buffers holding row-major `a: (m, k)`,
    /// `b: (k, n)` and `c: (m, n)`, all dimensions at least 1 (call with the lock held).
    pub(super) fn enqueue(
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
        let function = self.function(kernel.file(), kernel.entry_point())?;
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

    /// Enqueues the read kernel ([`READ_FLOOR`]) over the `x.len()` floats of `x`, writing
    /// one sum per block into `sums`, which must hold
    /// [`read_launch_config`]`(x.len(), multiprocessors).grid.x` floats (call with the lock
    /// held).
    pub(super) fn enqueue_read(
        &self,
        x: &DeviceBuffer<f32>,
        sums: &mut DeviceBuffer<f32>,
    ) -> Result<(), GpuError> {
        let config = read_launch_config(x.len(), self.multiprocessors());
        assert_eq!(
            sums.len(),
            config.grid.x as usize,
            "enqueue_read: one sum per block"
        );
        let function = self.function(READ_FLOOR.file, READ_FLOOR.entry_point)?;
        let (grid, block) = (config.grid, config.block);
        let stream = &self.stream;
        let count = i64::try_from(x.len()).expect("a device buffer's length fits an i64");
        // SAFETY: read_sum has the signature (const float *x, long long count, float *sums);
        // it reads x[0..count], which x holds (cuMemAlloc's alignment, 256 bytes, makes its
        // float4 loads legal), and writes sums[0..grid.x], which sums holds (asserted above).
        // Both outlive the launch: callers synchronise before dropping them.
        unsafe {
            launch!(function<<<(grid.x, grid.y, grid.z), (block.x, block.y, block.z), 0, stream>>>(
                x.as_device_ptr(),
                count,
                sums.as_device_ptr()
            ))
        }
        .during("launching the read kernel")
    }

    /// The sum of `x` as the read kernel of [`Device::measure_read`] computes it (in f32, in
    /// its own order): the check that the floor's kernel reads every element exactly once.
    /// An empty `x` sums to 0 without touching the GPU.
    pub fn read_sum(&self, x: ArrayView2<'_, f32>) -> Result<f32, GpuError> {
        if x.is_empty() {
            return Ok(0.0);
        }
        let _guard = self.enter()?;
        let x_dev = DeviceBuffer::from_slice(&row_major(x)).during("copying x to the device")?;
        let blocks = read_launch_config(x.len(), self.multiprocessors()).grid.x as usize;
        let mut sums = DeviceBuffer::zeroed(blocks).during("allocating the block sums")?;
        sums.set_32(POISON).during("poisoning the block sums")?;
        self.enqueue_read(&x_dev, &mut sums)?;
        self.stream
            .synchronize()
            .during("running the read kernel")?;
        let mut host = vec![0.0_f32; blocks];
        sums.copy_to(&mut host[..])
            .during("copying the block sums to the host")?;
        // a block that wrote nothing leaves NaN, so the sum is NaN
        Ok(host.iter().sum())
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

/// `x` as a contiguous row-major slice, borrowed when it already is one.
pub(super) fn row_major<'a>(x: ArrayView2<'a, f32>) -> Cow<'a, [f32]> {
    match x.to_slice() {
        Some(slice) => Cow::Borrowed(slice),
        None => Cow::Owned(x.as_standard_layout().iter().copied().collect()),
    }
}

pub(super) fn upload(
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
    fn sample_rows_takes_all_small_products_and_spreads_over_large_ones() {
        assert_eq!(sample_rows(5, 784, 10), vec![0, 1, 2, 3, 4]);
        assert_eq!(sample_rows(50_000, 784, 10).len(), 50_000);
        let rows = sample_rows(4096, 4096, 4096);
        assert_eq!((rows.len(), rows[0], rows[rows.len() - 1]), (32, 0, 4095));
        assert!(rows.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(sample_rows(8192, 8192, 8192).len(), 8);
    }
}

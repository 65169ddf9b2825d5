//! Running the kernels on a real GPU with cust (feature `cuda`).
//!
//! [`Device::detect`] opens the first CUDA device — context, one PTX module per file of the
//! [kernel table](crate::kernel_table::KERNEL_TABLE), JIT-compiled by the driver, a stream —
//! or returns `None` when there is no usable driver or device. Every [`Method`] (the
//! [`Kernel`]s and cuBLAS) then runs through the same three calls:
//!
//! - [`Device::matmul`]: host arrays in, host array out (any strides: inputs that are not
//!   contiguous row-major are copied to that layout on the host first, since the kernels take
//!   plain row-major buffers);
//! - [`Device::validate`]: a run against the float64 reference with the output poisoned (NaN)
//!   before the launch, so a missed element cannot pass;
//! - [`Device::measure`]: kernel time from CUDA events, and wall-clock times including the
//!   copies.
//!
//! [`gpu_stages`] wraps the kernels as [`Stage`](crate::Stage)s that say they run on the GPU;
//! listing them opens no device.
//!
//! The module is split by job: `device` (opening it, what it reports, its FP32 peak),
//! `module` (the embedded PTX and loading it), `launch` (running a method once, validating
//! it), `timing` (CUDA-event and wall-clock medians, the read and upload floors), `stages`
//! (the kernels as stages) and `cublas` (SGEMM loaded at run time).
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
//!   line and says [`Validation::passed`]);
//! - the floors of a workload: [`Device::measure_read`]`(a, options)`, the read kernel over
//!   `a` on the device (no kernel that reads `a` can be faster), and
//!   [`Device::measure_upload`]`(a, options)`, copying `a` from host memory (the lesson's
//!   `cuda.to_device`), both as [`Timings`]: every sample and their median;
//! - [`Device::peak_fp32_flops`], the arithmetic ceiling (`None` for an architecture the
//!   table of [`fp32_lanes_per_multiprocessor`] does not know).
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
//! let images = matmul_data::synthetic::mnist_like(50_000, 3);
//! let floor = gpu.measure_read(images.view(), MeasureOptions::default())?;
//! let upload = gpu.measure_upload(images.view(), MeasureOptions::default())?;
//! println!(
//!     "mnist50k floor {:?}, upload {:?}, peak {:?} FLOP/s",
//!     floor.median,
//!     upload.median,
//!     gpu.peak_fp32_flops()
//! );
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
mod device;
mod error;
mod launch;
mod module;
mod stages;
mod timing;

use crate::kernels::Kernel;

pub use device::{Device, fp32_lanes_per_multiprocessor};
pub use error::GpuError;
pub use launch::{MAX_RELATIVE_ERROR, Validation};
pub use stages::gpu_stages;
pub use timing::{MeasureOptions, Measurement, Timings};

/// One way to multiply on the GPU: one of this step's kernels, or cuBLAS as the yardstick.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// A kernel from `kernels/*.cu`.
    Kernel(Kernel),
    /// `cublasSgemm` (FP32, TF32 off), loaded at run time.
    Cublas,
}

impl Method {
    /// Every method: the kernels in reading order ([`Kernel::ALL`]), then cuBLAS.
    pub const ALL: [Method; Kernel::ALL.len() + 1] = {
        let mut all = [Method::Cublas; Kernel::ALL.len() + 1];
        let mut i = 0;
        while i < Kernel::ALL.len() {
            all[i] = Method::Kernel(Kernel::ALL[i]);
            i += 1;
        }
        all
    };

    /// The name used in tables: the kernel's [`Kernel::name`], or `"cublas"`.
    pub const fn name(self) -> &'static str {
        match self {
            Method::Kernel(kernel) => kernel.name(),
            Method::Cublas => "cublas",
        }
    }
}

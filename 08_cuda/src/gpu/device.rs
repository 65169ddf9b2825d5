//! [`Device`]: opening the GPU (driver, context, modules, stream), what it reports about
//! itself, and its FP32 peak.

use std::fmt;
use std::sync::{Mutex, MutexGuard, OnceLock};

use cust::CudaFlags;
use cust::context::{Context, CurrentContext};
use cust::device::DeviceAttribute;
use cust::error::CudaError;
use cust::function::Function;
use cust::module::Module;
use cust::stream::{Stream, StreamFlags};

use super::cublas::Cublas;
use super::error::During;
use super::{GpuError, module};

/// An open CUDA device: its context, the kernels' modules, a stream and (lazily) cuBLAS.
///
/// Methods take `&self` and serialise on an internal lock, so one `Device` may be shared
/// between threads; the context is made current on the calling thread each time. Running
/// kernels ([`Device::matmul`], [`Device::validate`]) and timing them ([`Device::measure`],
/// [`Device::measure_read`], [`Device::measure_upload`]) are in the modules beside this one.
pub struct Device {
    // Fields drop in order: everything that lives in the context comes before it.
    pub(super) cublas: OnceLock<Result<Cublas, String>>,
    modules: Vec<(&'static str, Module)>,
    pub(super) stream: Stream,
    lock: Mutex<()>,
    name: String,
    compute_capability: (i32, i32),
    multiprocessors: u32,
    clock_khz: u32,
    context: Context,
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Device")
            .field("name", &self.name)
            .field("compute_capability", &self.compute_capability)
            .field("multiprocessors", &self.multiprocessors)
            .finish_non_exhaustive()
    }
}

/// The device of [`Device::shared`], opened on first use.
static SHARED: OnceLock<Option<Device>> = OnceLock::new();

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
        // An attribute the driver does not answer reads as 0: "unknown" below.
        let attribute = |a| device.get_attribute(a).unwrap_or(0);
        let compute_capability = (
            attribute(DeviceAttribute::ComputeCapabilityMajor),
            attribute(DeviceAttribute::ComputeCapabilityMinor),
        );
        let multiprocessors =
            u32::try_from(attribute(DeviceAttribute::MultiprocessorCount)).unwrap_or(0);
        let clock_khz = u32::try_from(attribute(DeviceAttribute::ClockRate)).unwrap_or(0);
        let modules = module::load_modules()?;
        let stream = Stream::new(StreamFlags::DEFAULT, None).during("creating a stream")?;
        Ok(Device {
            cublas: OnceLock::new(),
            modules,
            stream,
            lock: Mutex::new(()),
            name,
            compute_capability,
            multiprocessors,
            clock_khz,
            context,
        })
    }

    /// The device opened once per process and shared, as the [`Stage`](crate::Stage)
    /// functions need (they are plain `fn`s); `None` when [`Device::detect`] finds none.
    pub fn shared() -> Option<&'static Device> {
        SHARED.get_or_init(Device::detect).as_ref()
    }

    /// Whether [`Device::shared`] has been called yet in this process: whether anything has
    /// initialised the driver through it. Listing the stages does not.
    pub fn shared_was_opened() -> bool {
        SHARED.get().is_some()
    }

    /// The device's name, as the driver reports it (`"NVIDIA H100 80GB HBM3"`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The device's compute capability, `(9, 0)` for an H100.
    pub fn compute_capability(&self) -> (i32, i32) {
        self.compute_capability
    }

    /// How many streaming multiprocessors it has (132 on an H100 SXM); 0 if the driver did
    /// not say.
    pub fn multiprocessors(&self) -> u32 {
        self.multiprocessors
    }

    /// The FP32 peak in FLOP/s, from what the driver reports: multiprocessors × FP32 lanes
    /// per multiprocessor ([`fp32_lanes_per_multiprocessor`]) × 2 (a fused multiply-add is
    /// two operations) × the SM clock (`CU_DEVICE_ATTRIBUTE_CLOCK_RATE`, in kHz: the boost
    /// clock). `None` for an architecture the table does not know, or when the driver did
    /// not report the count or the clock.
    ///
    /// An H100 SXM: 132 × 128 × 2 × 1.98 GHz ≈ 66.9 TFLOP/s. <!-- fact -->
    pub fn peak_fp32_flops(&self) -> Option<f64> {
        peak_fp32_flops(
            self.multiprocessors,
            self.compute_capability,
            self.clock_khz,
        )
    }

    /// Where cuBLAS was loaded from, or why it could not be (loading it on first use).
    pub fn cublas_library(&self) -> Result<&str, GpuError> {
        let _guard = self.enter()?;
        self.cublas().map(|cublas| cublas.path.as_str())
    }

    /// Takes the lock and makes the context current on this thread.
    pub(super) fn enter(&self) -> Result<MutexGuard<'_, ()>, GpuError> {
        // A panic while holding the lock leaves nothing half-done that matters here.
        let guard = self
            .lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        CurrentContext::set_current(&self.context).during("making the context current")?;
        Ok(guard)
    }

    /// cuBLAS, loaded on first use (call with the lock held).
    pub(super) fn cublas(&self) -> Result<&Cublas, GpuError> {
        self.cublas
            .get_or_init(|| Cublas::load(self.stream.as_inner().cast()))
            .as_ref()
            .map_err(|why| GpuError::Cublas(why.clone()))
    }

    /// The kernel `entry_point` of the module made from `file` (a file of the kernel table).
    pub(super) fn function(&self, file: &str, entry_point: &str) -> Result<Function<'_>, GpuError> {
        let (_, module) = self
            .modules
            .iter()
            .find(|(name, _)| *name == file)
            .expect("every file of the kernel table has a module (build.rs lists them all)");
        module
            .get_function(entry_point)
            .during("looking up a kernel")
    }
}

/// FP32 lanes (CUDA cores) per streaming multiprocessor, by compute capability: how many FP32
/// fused multiply-adds one multiprocessor starts per clock. From the CUDA C++ Programming
/// Guide's table of arithmetic instruction throughput:
///
/// | compute capability | architecture (example)               | FP32 lanes per SM |
/// |--------------------|--------------------------------------|-------------------|
/// | 5.0, 5.2, 5.3      | Maxwell (GTX 980)                    | 128               |
/// | 6.0                | Pascal GP100 (P100)                  | 64                |
/// | 6.1, 6.2           | Pascal (GTX 1080, Jetson TX2)        | 128               |
/// | 7.0, 7.2           | Volta (V100, Xavier)                 | 64                |
/// | 7.5                | Turing (T4, RTX 2080)                | 64                |
/// | 8.0                | Ampere GA100 (A100)                  | 64                |
/// | 8.6, 8.7, 8.9      | Ampere GA10x, Orin, Ada (A10, L4)    | 128               |
/// | 9.0                | Hopper (H100, H200)                  | 128               |
/// | 10.0, 12.0         | Blackwell (B200, RTX 50)             | 128               |
///
/// `None` for anything else (older, newer, or unreported).
///
/// ```
/// use matmul_cuda::gpu::fp32_lanes_per_multiprocessor;
///
/// assert_eq!(fp32_lanes_per_multiprocessor((8, 0)), Some(64)); // A100
/// assert_eq!(fp32_lanes_per_multiprocessor((9, 0)), Some(128)); // H100
/// assert_eq!(fp32_lanes_per_multiprocessor((3, 5)), None);
/// ```
pub const fn fp32_lanes_per_multiprocessor(compute_capability: (i32, i32)) -> Option<u32> {
    match compute_capability {
        (5, 0 | 2 | 3) | (6, 1 | 2) | (8, 6 | 7 | 9) | (9, 0) | (10, 0) | (12, 0) => Some(128),
        (6, 0) | (7, 0 | 2 | 5) | (8, 0) => Some(64),
        _ => None,
    }
}

/// `multiprocessors × lanes × 2 × clock`: see [`Device::peak_fp32_flops`]. `None` when the <!-- fact -->
/// architecture is unknown or the count or clock is 0 (not reported).
fn peak_fp32_flops(
    multiprocessors: u32,
    compute_capability: (i32, i32),
    clock_khz: u32,
) -> Option<f64> {
    let lanes = fp32_lanes_per_multiprocessor(compute_capability)?;
    if multiprocessors == 0 || clock_khz == 0 {
        return None;
    }
    Some(f64::from(multiprocessors) * f64::from(lanes) * 2.0 * f64::from(clock_khz) * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_is_sms_times_lanes_times_two_times_the_clock() {
        // H100 SXM: 132 SMs at 1980 MHz, 67 TFLOP/s on the datasheet
        let h100 = peak_fp32_flops(132, (9, 0), 1_980_000).unwrap();
        assert!((h100 / 1e12 - 66.9).abs() < 0.1, "{h100}");
        // A100: 108 SMs at 1410 MHz, 19.5 TFLOP/s on the datasheet
        let a100 = peak_fp32_flops(108, (8, 0), 1_410_000).unwrap();
        assert!((a100 / 1e12 - 19.5).abs() < 0.1, "{a100}");
        // V100 SXM2: 80 SMs at 1530 MHz, 15.7 TFLOP/s
        let v100 = peak_fp32_flops(80, (7, 0), 1_530_000).unwrap();
        assert!((v100 / 1e12 - 15.7).abs() < 0.1, "{v100}");
    }

    #[test]
    fn unknown_architectures_and_unreported_attributes_have_no_peak() {
        assert_eq!(peak_fp32_flops(132, (3, 5), 1_000_000), None);
        assert_eq!(peak_fp32_flops(132, (11, 0), 1_000_000), None);
        assert_eq!(peak_fp32_flops(0, (9, 0), 1_980_000), None);
        assert_eq!(peak_fp32_flops(132, (9, 0), 0), None);
    }
}

//! [`GpuError`], what every GPU call returns when it fails, and the helper that attaches what
//! was being done to a driver error.

use std::fmt;

use cust::error::CudaError;

use crate::kernels::TooLarge;

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
pub(super) trait During<T> {
    fn during(self, what: &'static str) -> Result<T, GpuError>;
}

impl<T> During<T> for Result<T, CudaError> {
    fn during(self, during: &'static str) -> Result<T, GpuError> {
        self.map_err(|source| GpuError::Cuda { during, source })
    }
}

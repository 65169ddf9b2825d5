//! cuBLAS SGEMM, loaded at run time with `dlopen`, as the reference row of the GPU table.
//!
//! Neither the build nor a machine without cuBLAS needs the library: [`Cublas::load`] looks
//! for it when asked and says where it looked when it is not there.
//!
//! cuBLAS is column-major. A row-major `c = a @ b` is, read column-major, `cᵀ = bᵀ aᵀ`, and a
//! row-major buffer read column-major *is* the transpose — so the row-major product is one
//! SGEMM with the operands swapped and nothing transposed: `sgemm(N, N, n, m, k, b, n, a, k,
//! c, n)`.

use std::ffi::{c_int, c_void};

use libloading::Library;

/// `cublasHandle_t`.
type Handle = *mut c_void;
/// `cublasStatus_t`: 0 is success.
type Status = c_int;

type CreateFn = unsafe extern "C" fn(*mut Handle) -> Status;
type DestroyFn = unsafe extern "C" fn(Handle) -> Status;
type SetStreamFn = unsafe extern "C" fn(Handle, *mut c_void) -> Status;
type SetMathModeFn = unsafe extern "C" fn(Handle, c_int) -> Status;
#[allow(clippy::type_complexity)] // the C signature, spelled out once
type SgemmFn = unsafe extern "C" fn(
    Handle,
    c_int,
    c_int,
    c_int,
    c_int,
    c_int,
    *const f32,
    *const f32,
    c_int,
    *const f32,
    c_int,
    *const f32,
    *mut f32,
    c_int,
) -> Status;

/// `CUBLAS_OP_N`: use the operand as stored.
const OP_N: c_int = 0;
/// `CUBLAS_DEFAULT_MATH`: FP32 arithmetic, no TF32 tensor cores (unless the environment
/// overrides it with `NVIDIA_TF32_OVERRIDE=1`; `scripts/gpu-run.sh` sets it to 0).
const DEFAULT_MATH: c_int = 0;

/// The names tried, newest first, then the same names in the usual toolkit directory.
const NAMES: [&str; 4] = [
    "libcublas.so.13",
    "libcublas.so.12",
    "libcublas.so.11",
    "libcublas.so",
];
const TOOLKIT_DIR: &str = "/usr/local/cuda/lib64";

/// A loaded cuBLAS and one handle bound to a stream.
pub(crate) struct Cublas {
    handle: Handle,
    sgemm: SgemmFn,
    destroy: DestroyFn,
    /// Where it was loaded from, for reports.
    pub(crate) path: String,
    // Last: the function pointers above point into it.
    _library: Library,
}

// SAFETY: the handle is only used while the owning `Device`'s lock is held, so never from two
// threads at once, which is all cuBLAS asks of a handle.
unsafe impl Send for Cublas {}
// SAFETY: as above; `&Cublas` gives no unsynchronised access to the handle.
unsafe impl Sync for Cublas {}

impl Cublas {
    /// Loads cuBLAS (from `$MATMUL_CUBLAS` if set, else by the usual names) and creates a
    /// handle that runs on `stream` in FP32 without TF32. A CUDA context must be current.
    pub(crate) fn load(stream: *mut c_void) -> Result<Self, String> {
        let mut candidates: Vec<String> = Vec::new();
        if let Some(path) = std::env::var_os("MATMUL_CUBLAS") {
            candidates.push(path.to_string_lossy().into_owned());
        }
        candidates.extend(NAMES.iter().map(|name| (*name).to_owned()));
        candidates.extend(NAMES.iter().map(|name| format!("{TOOLKIT_DIR}/{name}")));

        let mut failures = Vec::new();
        for candidate in &candidates {
            // SAFETY: loading cuBLAS runs its initialisers, which have no preconditions.
            match unsafe { Library::new(candidate) } {
                Ok(library) => return Self::bind(library, candidate.clone(), stream),
                Err(err) => failures.push(format!("{candidate}: {err}")),
            }
        }
        Err(format!(
            "cuBLAS not found (set MATMUL_CUBLAS=/path/to/libcublas.so.12); tried {}",
            failures.join("; ")
        ))
    }

    fn bind(library: Library, path: String, stream: *mut c_void) -> Result<Self, String> {
        // SAFETY: each symbol is looked up with the type of its declaration in cublas_api.h
        // (CUDA 11–13 keep these `_v2` entry points and signatures).
        let (create, destroy, set_stream, set_math_mode, sgemm) = unsafe {
            let symbol = |name: &str| format!("{path}: no symbol {name}");
            (
                *library
                    .get::<CreateFn>(b"cublasCreate_v2\0")
                    .map_err(|_| symbol("cublasCreate_v2"))?,
                *library
                    .get::<DestroyFn>(b"cublasDestroy_v2\0")
                    .map_err(|_| symbol("cublasDestroy_v2"))?,
                *library
                    .get::<SetStreamFn>(b"cublasSetStream_v2\0")
                    .map_err(|_| symbol("cublasSetStream_v2"))?,
                *library
                    .get::<SetMathModeFn>(b"cublasSetMathMode\0")
                    .map_err(|_| symbol("cublasSetMathMode"))?,
                *library
                    .get::<SgemmFn>(b"cublasSgemm_v2\0")
                    .map_err(|_| symbol("cublasSgemm_v2"))?,
            )
        };
        let mut handle: Handle = std::ptr::null_mut();
        // SAFETY: `handle` is a valid place for cublasCreate to write to.
        check("cublasCreate", unsafe { create(&mut handle) })?;
        let cublas = Self {
            handle,
            sgemm,
            destroy,
            path,
            _library: library,
        };
        // SAFETY: the handle was just created; `stream` is a live CUstream (the same type as
        // cudaStream_t) owned by the Device that owns this Cublas.
        check("cublasSetStream", unsafe { set_stream(handle, stream) })?;
        // SAFETY: as above; DEFAULT_MATH is a valid cublasMath_t.
        check("cublasSetMathMode", unsafe {
            set_math_mode(handle, DEFAULT_MATH)
        })?;
        Ok(cublas)
    }

    /// Enqueues row-major `c = a @ b` on the handle's stream.
    ///
    /// # Safety
    ///
    /// `a`, `b` and `c` are device pointers to at least `m·k`, `k·n` and `m·n` floats, alive
    /// until the stream has finished; `m`, `n`, `k` are at least 1.
    pub(crate) unsafe fn sgemm_row_major(
        &self,
        m: c_int,
        n: c_int,
        k: c_int,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
    ) -> Result<(), String> {
        let (alpha, beta) = (1.0_f32, 0.0_f32);
        // Column-major cᵀ (n × m, ld n) = bᵀ (n × k, ld n) · aᵀ (k × m, ld k).
        // SAFETY: the caller guarantees the buffers; alpha and beta are host scalars (the
        // default pointer mode) that outlive the call, which reads them before returning.
        let status = unsafe {
            (self.sgemm)(
                self.handle,
                OP_N,
                OP_N,
                n,
                m,
                k,
                &alpha,
                b,
                n,
                a,
                k,
                &beta,
                c,
                n,
            )
        };
        check("cublasSgemm", status)
    }
}

impl Drop for Cublas {
    fn drop(&mut self) {
        // SAFETY: the handle was created by this library, is destroyed once, and the library
        // is still loaded (it is dropped after this).
        unsafe {
            (self.destroy)(self.handle);
        }
    }
}

fn check(call: &str, status: Status) -> Result<(), String> {
    if status == 0 {
        Ok(())
    } else {
        Err(format!("{call} failed with cublasStatus_t {status}"))
    }
}

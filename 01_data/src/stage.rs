//! The contract every step of the lesson fulfils.
//!
//! Each numbered crate defines one or more ways to compute `c = a @ b` for
//! `a: (m, k)` and `b: (k, n)`, all with the same signature, and lists them as [`Stage`]s.
//! Its `stages()` function returns the previous crate's stages followed by its own, so the last
//! crate in the chain can enumerate — and the bench can time — every idea in reading order.
//!
//! A stage also says where it runs ([`Processor`]: step 8's kernels run on a GPU) and which
//! crate defines it ([`Crate`], filled in by [`this_crate!`](crate::this_crate)), so that the
//! bench and the docs split and file the stages without a list of names of their own. Listing
//! stages opens no device: a GPU stage finds its device when it is first run.

use ndarray::{Array2, ArrayView2};

/// A matrix multiplication `(m, k) @ (k, n) -> (m, n)` over `f32`.
///
/// Implementations accept views with any strides (transposed, sliced with steps, even
/// negative), give a correctly shaped result when a dimension is zero (`k = 0` gives zeros),
/// and panic when the inner dimensions differ (see [`assert_inner_dims`]).
pub type MatmulFn = fn(ArrayView2<'_, f32>, ArrayView2<'_, f32>) -> Array2<f32>;

/// One step of the lesson: a named way to multiply matrices.
///
/// ```
/// use matmul_data::{Processor, Stage, this_crate};
/// # fn matmul(a: ndarray::ArrayView2<'_, f32>, b: ndarray::ArrayView2<'_, f32>) -> ndarray::Array2<f32> { a.dot(&b) }
///
/// let stage = Stage {
///     name: "naive",
///     summary: "triple loop with indexing",
///     matmul,
///     runs_on: Processor::Cpu,
///     defined_in: this_crate!(),
///     runs_as: None,
/// };
/// assert_eq!(stage.defined_in.package, "matmul-data"); // the crate that wrote `this_crate!()`
/// assert_eq!(stage.defined_in.directory, "01_data");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Stage {
    /// Short, unique, kebab-case name used in tables and on the command line (`"naive"`).
    pub name: &'static str,
    /// One line saying what this stage does differently from the one before.
    pub summary: &'static str,
    /// The implementation.
    pub matmul: MatmulFn,
    /// Where it runs.
    pub runs_on: Processor,
    /// The crate that defines it, which is where its tutorial page is.
    pub defined_in: Crate,
    /// For a stage that only chooses another stage's code by shape (step 7's `blas`): the
    /// name of the stage it runs on `(m, k, n)`, so that the two can be told apart from the
    /// same code measured twice. `None` for a stage with code of its own.
    pub runs_as: Option<fn(usize, usize, usize) -> &'static str>,
}

/// Where a stage computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Processor {
    /// On the CPU, in the calling thread and any threads it starts.
    Cpu,
    /// On a GPU (step 8, with its `cuda` feature): the stage copies its operands to the
    /// device, runs a kernel and copies the result back. Running one without a GPU panics,
    /// saying so: whoever runs every stage keeps to `Processor::Cpu` unless it has opened a
    /// device (the bench times the GPU's kernels through their own runner, with CUDA events).
    Gpu,
}

/// A crate of the workspace: its package name and its directory. Write it as
/// [`this_crate!()`](crate::this_crate), which reads both from cargo at compile time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Crate {
    /// The package name (`"matmul-naive"`).
    pub package: &'static str,
    /// Its directory, the last component of its manifest's directory (`"02_naive"`).
    pub directory: &'static str,
}

impl Crate {
    /// The crate named `package` whose `Cargo.toml` is in `manifest_dir` (an absolute path, as
    /// cargo's `CARGO_MANIFEST_DIR`): its directory is that path's last component.
    ///
    /// ```
    /// use matmul_data::Crate;
    ///
    /// const NAIVE: Crate = Crate::new("matmul-naive", "/src/matmul/02_naive");
    /// assert_eq!(NAIVE.directory, "02_naive");
    /// assert_eq!(Crate::new("x", r"C:\src\matmul\08_cuda").directory, "08_cuda");
    /// ```
    pub const fn new(package: &'static str, manifest_dir: &'static str) -> Crate {
        let bytes = manifest_dir.as_bytes();
        let mut start = bytes.len();
        while start > 0 && bytes[start - 1] != b'/' && bytes[start - 1] != b'\\' {
            start -= 1;
        }
        let (_, last) = bytes.split_at(start);
        let directory = match std::str::from_utf8(last) {
            Ok(directory) => directory,
            // cut at an ASCII separator, so the rest is still UTF-8
            Err(_) => manifest_dir,
        };
        Crate { package, directory }
    }
}

/// The [`Crate`] this macro is written in, from cargo's `CARGO_PKG_NAME` and
/// `CARGO_MANIFEST_DIR` as that crate is compiled.
#[macro_export]
macro_rules! this_crate {
    () => {
        $crate::Crate::new(env!("CARGO_PKG_NAME"), env!("CARGO_MANIFEST_DIR"))
    };
}

/// Checks that `a: (m, k)` and `b: (k2, n)` can be multiplied and returns `(m, k, n)`.
///
/// # Panics
///
/// When `k != k2`, with a message naming both shapes — a programmer error, as in ndarray's
/// `dot`.
///
/// ```
/// use matmul_data::assert_inner_dims;
///
/// assert_eq!(assert_inner_dims((5, 784), (784, 10)), (5, 784, 10));
/// ```
///
/// ```should_panic
/// # use matmul_data::assert_inner_dims;
/// // panics: "matmul: inner dimensions differ: a is (5, 784) but b is (783, 10)"
/// assert_inner_dims((5, 784), (783, 10));
/// ```
#[track_caller]
pub fn assert_inner_dims(a: (usize, usize), b: (usize, usize)) -> (usize, usize, usize) {
    let ((m, k), (k2, n)) = (a, b);
    assert!(
        k == k2,
        "matmul: inner dimensions differ: a is ({m}, {k}) but b is ({k2}, {n}); \
         (m, k) @ (k, n) needs a's columns to equal b's rows"
    );
    (m, k, n)
}

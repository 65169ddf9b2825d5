//! The workloads the bench times: the lesson's linear layer on 5 and on 50,000 images, square
//! matrices for the GEMM sweep, and a few other shapes that the squares leave out.
//!
//! Shared by `cargo xtask bench` and the criterion benches (`cargo bench -p xtask`), so that
//! both time the same products on the same data.

use std::path::Path;

use ndarray::{Array2, s};

/// `(5, 784) @ (784, 10)`: the lesson's headline, five images through a linear layer.
pub const MNIST5: &str = "mnist5";
/// `(50000, 784) @ (784, 10)`: every training image.
pub const MNIST50K: &str = "mnist50k";
/// The sizes `N` of the `square-N` sweep, `(N, N) @ (N, N)`.
pub const SQUARE_SIZES: [usize; 6] = [64, 128, 256, 512, 1024, 2048];

/// The `(m, k, n)` of the other shapes, `(m, k) @ (k, n)`: where the three matrices differ in
/// size as a square's never do, and a product tuned on squares can fall behind.
///
/// - `(1, 784) @ (784, 1000)`: one image through a layer of 1000 outputs. A single row of `a`
///   against 3 MB of `b`: the time goes to reading `b`, each element for one multiply-add.
/// - `(64, 784) @ (784, 1000)`: a small batch through the same layer.
/// - `(2000, 50) @ (50, 2000)`: a product of rank 50. `a` and `b` are 400 KB each, `c` is
///   16 MB, written once after 50 multiply-adds per element.
/// - `(33, 3000) @ (3000, 33)`: long sums into a small `c`.
pub const SHAPES: [(usize, usize, usize); 4] = [
    (1, 784, 1000),
    (64, 784, 1000),
    (2000, 50, 2000),
    (33, 3000, 33),
];

/// The name of the workload of shape `(m, k, n)` from [`SHAPES`]: `shape-{m}x{k}x{n}`.
pub fn shape_name((m, k, n): (usize, usize, usize)) -> String {
    format!("shape-{m}x{k}x{n}")
}

/// The `(m, k, n)` of a `shape-{m}x{k}x{n}` workload, from its name; `None` for another
/// workload.
pub fn shape_dims(name: &str) -> Option<(usize, usize, usize)> {
    let mut parts = name.strip_prefix("shape-")?.split('x').map(str::parse);
    let dims = (
        parts.next()?.ok()?,
        parts.next()?.ok()?,
        parts.next()?.ok()?,
    );
    parts.next().is_none().then_some(dims)
}

/// The name of the square workload of size `n`: `square-{n}`.
pub fn square_name(n: usize) -> String {
    format!("square-{n}")
}

/// The size `n` of a `square-{n}` workload, from its name; `None` for another workload.
pub fn square_size(name: &str) -> Option<usize> {
    name.strip_prefix("square-")?.parse().ok()
}

/// The `(m, k, n)` of a workload, from its name; `None` for a name the bench does not make.
pub fn dims_of(name: &str) -> Option<(usize, usize, usize)> {
    match name {
        MNIST5 => Some((5, 784, 10)),
        MNIST50K => Some((TRAINING_IMAGES, 784, 10)),
        _ => square_size(name)
            .map(|n| (n, n, n))
            .or_else(|| shape_dims(name)),
    }
}

/// Arithmetic intensity of `(m, k, n)`: flops (`2·m·k·n`) per byte of compulsory traffic
/// (`a` and `b` read once, `c` written once, 4 bytes an element).
pub fn intensity((m, k, n): (usize, usize, usize)) -> f64 {
    let (m, k, n) = (m as f64, k as f64, n as f64);
    2.0 * m * k * n / (4.0 * (m * k + k * n + m * n))
}

/// One product to time: `a @ b`, with a name for tables.
#[derive(Debug)]
pub struct Workload {
    /// `mnist5`, `mnist50k`, `square-N` or `shape-MxKxN`.
    pub name: String,
    /// The left operand `(m, k)`, row-major.
    pub a: Array2<f32>,
    /// The right operand `(k, n)`, row-major.
    pub b: Array2<f32>,
}

impl Workload {
    /// `(m, k, n)`.
    pub fn dims(&self) -> (usize, usize, usize) {
        let ((m, k), n) = (self.a.dim(), self.b.ncols());
        (m, k, n)
    }

    /// Floating-point operations of one product: a multiply and an add per term, `2·m·k·n`.
    pub fn flops(&self) -> f64 {
        let (m, k, n) = self.dims();
        2.0 * m as f64 * k as f64 * n as f64
    }

    /// The first `rows` images times the weights: the lesson's linear layer.
    ///
    /// # Panics
    ///
    /// When `images` has fewer than `rows` rows.
    pub fn lesson(name: &str, data: &LessonData, rows: usize) -> Workload {
        Workload {
            name: name.to_owned(),
            a: data.images.slice(s![..rows, ..]).to_owned(),
            b: data.weights.clone(),
        }
    }

    /// `(n, n) @ (n, n)` of uniform numbers in `[-1, 1)`.
    pub fn square(n: usize) -> Workload {
        Workload {
            name: square_name(n),
            a: matmul_data::synthetic::uniform(n, n, 2 * n as u64),
            b: matmul_data::synthetic::uniform(n, n, 2 * n as u64 + 1),
        }
    }

    /// `(m, k) @ (k, n)` of uniform numbers in `[-1, 1)`, named by [`shape_name`].
    pub fn shape((m, k, n): (usize, usize, usize)) -> Workload {
        let seed = (m * k * n) as u64;
        Workload {
            name: shape_name((m, k, n)),
            a: matmul_data::synthetic::uniform(m, k, seed),
            b: matmul_data::synthetic::uniform(k, n, seed + 1),
        }
    }
}

/// The lesson's operands: 50,000 images `(50000, 784)` and weights `(784, 10)`.
#[derive(Debug)]
pub struct LessonData {
    /// The training images, one per row, pixels in `[0, 1)`.
    pub images: Array2<f32>,
    /// Standard normal weights, like the lesson's `torch.randn(784, 10)`.
    pub weights: Array2<f32>,
    /// Which data this is, for the machine line: real MNIST or synthetic.
    pub source: String,
}

/// Images in the training set.
pub const TRAINING_IMAGES: usize = 50_000;

impl LessonData {
    /// MNIST-like synthetic images (same shape, about 80% zeros, the rest in `[0, 1)`) and
    /// normal weights, with `source` saying why real MNIST was not used.
    pub fn synthetic(why: &str) -> LessonData {
        LessonData {
            images: matmul_data::synthetic::mnist_like(TRAINING_IMAGES, 1),
            weights: matmul_data::synthetic::weights(784, 10, 2),
            source: format!("synthetic MNIST-like data (same shape and density; {why})"),
        }
    }

    /// The lesson's data: real MNIST when `01_data` finds it in its cache (verified, no network
    /// needed; `cargo xtask data` puts it there), otherwise synthetic data of the same shape and
    /// density, saying why.
    pub fn load() -> LessonData {
        let download = matmul_data::Download::mnist().progress(false);
        let path = download.path();
        let shown = tilde(&path);
        if !path.is_file() {
            return LessonData::synthetic(&format!(
                "no MNIST in the cache at {shown}; `cargo xtask data` fetches it"
            ));
        }
        match matmul_data::Mnist::load_cached(&download) {
            Ok(mnist) if mnist.train.images.nrows() >= TRAINING_IMAGES => LessonData {
                images: mnist
                    .train
                    .images
                    .slice_move(ndarray::s![..TRAINING_IMAGES, ..])
                    .as_standard_layout()
                    .into_owned(),
                weights: matmul_data::synthetic::weights(784, 10, 2),
                source: format!("MNIST training images from {shown}"),
            },
            Ok(mnist) => LessonData::synthetic(&format!(
                "{shown} holds only {} training images",
                mnist.train.images.nrows()
            )),
            Err(error) => LessonData::synthetic(&format!("MNIST could not be loaded: {error}")),
        }
    }
}

/// `path` as a reader should see it in generated text: `~/…` under the home directory, so that
/// no one's home directory ends up in a committed page.
pub fn tilde(path: &Path) -> String {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    tilde_under(path, home.as_deref())
}

/// [`tilde`] with the home directory given.
fn tilde_under(path: &Path, home: Option<&Path>) -> String {
    match home.and_then(|home| path.strip_prefix(home).ok()) {
        Some(rest) if !rest.as_os_str().is_empty() => format!("~/{}", rest.display()),
        _ => path.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn shape_names_give_back_their_dimensions() {
        for shape in SHAPES {
            assert_eq!(shape_dims(&shape_name(shape)), Some(shape));
            assert_eq!(dims_of(&shape_name(shape)), Some(shape));
            let workload = Workload::shape(shape);
            assert_eq!(workload.dims(), shape);
        }
        assert_eq!(dims_of("square-64"), Some((64, 64, 64)));
        for name in [
            "shape-1x2",
            "shape-1x2x3x",
            "shape-ax2x3",
            "square-",
            "mnist",
        ] {
            assert_eq!(dims_of(name), None, "{name}");
        }
    }

    #[test]
    fn home_paths_become_tilde_paths() {
        let home = Path::new("/home/someone");
        assert_eq!(
            tilde_under(Path::new("/home/someone/.cache/m/mnist.pkl.gz"), Some(home)),
            "~/.cache/m/mnist.pkl.gz"
        );
        assert_eq!(
            tilde_under(Path::new("/data/mnist"), Some(home)),
            "/data/mnist"
        );
        assert_eq!(tilde_under(Path::new("/data/mnist"), None), "/data/mnist");
    }
}

//! The data set's types: [`Mnist`] and its [`Split`]s, as the loaders return them.
//!
//! A leaf: it knows nothing of pickles, IDX files or downloads. The parsers beside it
//! build these values, and the loading functions on [`Mnist`] live in the module above.

use ndarray::{Array1, Array2, ArrayView2};

/// Pixels in one image: 28 × 28.
pub const IMAGE_PIXELS: usize = 28 * 28;

/// The MNIST data set as the lesson uses it: three splits of images and labels.
///
/// `mnist.pkl.gz` holds 50,000 training, 10,000 validation and 10,000 test images; the
/// IDX files' 60,000 training images are split the same way (see [`Mnist::from_idx_dir`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Mnist {
    /// The training split (`x_train`, `y_train`).
    pub train: Split,
    /// The validation split (`x_valid`, `y_valid`).
    pub valid: Split,
    /// The test split (the lesson's `_`).
    pub test: Split,
}

/// One split: `n` images of 28 × 28 pixels, flattened to rows of 784, and their labels.
///
/// The loaders guarantee `images.nrows() == labels.len()` and `images.ncols() == 784`;
/// the fields are public so that a reader can use them as the lesson uses `x_train`, and
/// code that changes them must keep that.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    /// Shape `(n, 784)`, row-major; pixel values in `[0, 1)`: the byte value `/ 256`.
    pub images: Array2<f32>,
    /// Shape `(n,)`: the digit shown in each image, `0..=9`.
    ///
    /// `u8` because a digit needs no more; the published file stores int64, and every
    /// loader checks that each value is a digit before narrowing it.
    pub labels: Array1<u8>,
}

impl Split {
    /// The number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the split has no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Image `i` as a 28 × 28 view (rows of pixels, top to bottom), without copying.
    ///
    /// # Panics
    ///
    /// If `i >= self.len()`, or if `images` was changed to rows that are not 784 long.
    pub fn image(&self, i: usize) -> ArrayView2<'_, f32> {
        assert!(
            i < self.images.nrows(),
            "image index {i} out of range for a split of {} images",
            self.images.nrows()
        );
        self.images
            .row(i)
            .into_shape_with_order((28, 28))
            .unwrap_or_else(|_| {
                panic!(
                    "image rows must have 784 pixels, found {}",
                    self.images.ncols()
                )
            })
    }

    /// How many images show each digit: `counts[d]` for digit `d`.
    ///
    /// ```
    /// # let mnist = matmul_data::Mnist::from_pickle_gz("fixtures/mnist_py2.pkl.gz")?;
    /// let counts = mnist.train.label_counts();
    /// assert_eq!(counts.iter().sum::<usize>(), mnist.train.len());
    /// # Ok::<(), matmul_data::MnistError>(())
    /// ```
    pub fn label_counts(&self) -> [usize; 10] {
        let mut counts = [0; 10];
        for &label in &self.labels {
            counts[usize::from(label)] += 1;
        }
        counts
    }
}

impl Mnist {
    /// The three splits with their names, in the order the pickle stores them.
    pub fn splits(&self) -> [(&'static str, &Split); 3] {
        [
            ("train", &self.train),
            ("valid", &self.valid),
            ("test", &self.test),
        ]
    }
}

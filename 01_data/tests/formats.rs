//! Every form of the file loads to the same arrays: the published Python 2 layout, Python 3
//! re-pickles at protocols 2, 3 and 4, and the IDX files.

mod common;

use common::{ArraySpec, fixture, gunzip_file, gzip, py2_pickle, tiny_specs, tiny_splits, write};
use matmul_data::{IMAGE_PIXELS, Mnist};

const PICKLES: [&str; 4] = [
    "mnist_py2.pkl.gz",
    "mnist_py3_p2.pkl.gz",
    "mnist_py3_p3.pkl.gz",
    "mnist_py3_p4.pkl.gz",
];

#[test]
fn every_pickle_form_and_the_idx_files_load_to_identical_arrays() {
    let from_idx = Mnist::from_idx_dir(fixture("idx")).unwrap();
    assert_eq!(from_idx.train.images.dim(), (10, IMAGE_PIXELS));
    assert_eq!(from_idx.valid.images.dim(), (2, IMAGE_PIXELS));
    assert_eq!(from_idx.test.images.dim(), (3, IMAGE_PIXELS));
    for name in PICKLES {
        let from_pickle =
            Mnist::from_pickle_gz(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(from_pickle, from_idx, "{name} differs from the IDX files");
        // The same, unpickled from an uncompressed stream.
        let raw = gunzip_file(fixture(name));
        assert_eq!(
            Mnist::from_pickle(&raw[..], name).unwrap(),
            from_idx,
            "{name} (uncompressed)"
        );
    }
}

#[test]
fn idx_pixels_are_bytes_over_256_and_the_split_is_five_sixths() {
    let mnist = Mnist::from_idx_dir(fixture("idx")).unwrap();
    // Read the IDX bytes by hand and compare every pixel and label.
    let images = gunzip_file(fixture("idx/train-images-idx3-ubyte.gz"));
    let labels = gunzip_file(fixture("idx/train-labels-idx1-ubyte.gz"));
    assert_eq!(&images[..4], &[0, 0, 8, 3]);
    assert_eq!(u32::from_be_bytes(images[4..8].try_into().unwrap()), 12);
    let pixels = &images[16..];
    for (i, (split, offset)) in [(&mnist.train, 0), (&mnist.valid, 10)]
        .into_iter()
        .enumerate()
    {
        for row in 0..split.len() {
            assert_eq!(
                split.labels[row],
                labels[8 + offset + row],
                "split {i} row {row}"
            );
            for col in 0..IMAGE_PIXELS {
                let byte = pixels[(offset + row) * IMAGE_PIXELS + col];
                assert_eq!(split.images[[row, col]], f32::from(byte) / 256.0);
            }
        }
    }
    assert!(
        mnist.train.images.iter().any(|&p| p > 0.0),
        "the fixture has non-zero pixels"
    );
}

#[test]
fn uncompressed_idx_files_load_too() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ] {
        write(
            dir.path(),
            name,
            &gunzip_file(fixture(&format!("idx/{name}.gz"))),
        );
    }
    assert_eq!(
        Mnist::from_idx_dir(dir.path()).unwrap(),
        Mnist::from_idx_dir(fixture("idx")).unwrap()
    );
}

#[test]
fn the_rust_test_writer_matches_the_fixture_script_byte_for_byte() {
    // Re-pickle the fixture's arrays with the test writer: same bytes as the script wrote,
    // so the broken files the other tests make from this writer are in the published layout.
    let mnist = Mnist::from_pickle_gz(fixture("mnist_py2.pkl.gz")).unwrap();
    let specs = specs_of(&mnist);
    assert_eq!(py2_pickle(&specs), gunzip_file(fixture("mnist_py2.pkl.gz")));
}

#[test]
fn the_dtype_is_read_from_both_of_its_places() {
    // In the published layout, the first float32 array's dtype is its BUILD state
    // (3, '<', ...) and later ones are memo references to ('f4', 0, 1): the loader reads
    // both (train has the first form, valid and test the second).
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "tiny.pkl.gz", &gzip(&py2_pickle(&tiny_specs())));
    let mnist = Mnist::from_pickle_gz(&path).unwrap();
    for ((_, split), (rows, pixels, labels)) in mnist.splits().into_iter().zip(tiny_splits()) {
        assert_eq!(split.images.dim(), (rows, IMAGE_PIXELS));
        assert_eq!(split.images.as_slice().unwrap(), &pixels[..]);
        let expected: Vec<u8> = labels.iter().map(|&l| l as u8).collect();
        assert_eq!(split.labels.to_vec(), expected);
    }
}

#[test]
fn images_may_be_28_by_28_fortran_ordered_and_labels_narrower() {
    let mut specs = tiny_specs();
    let (rows, pixels, labels) = tiny_splits().swap_remove(0);
    // train images as (n, 28, 28); valid images in Fortran order; labels as uint8.
    specs[0].0.shape = vec![rows, 28, 28];
    let (valid_rows, valid_pixels, _) = tiny_splits().swap_remove(1);
    let mut fortran = Vec::new();
    for col in 0..IMAGE_PIXELS {
        for row in 0..valid_rows {
            fortran.extend_from_slice(&valid_pixels[row * IMAGE_PIXELS + col].to_le_bytes());
        }
    }
    specs[1].0.data = fortran;
    specs[1].0.fortran = true;
    specs[2].1 = ArraySpec {
        code: "u1".into(),
        order: "|".into(),
        data: vec![1, 2, 3],
        shape: vec![3],
        fortran: false,
    };
    let mnist = Mnist::from_pickle(&py2_pickle(&specs)[..], "variants").unwrap();
    assert_eq!(mnist.train.images.as_slice().unwrap(), &pixels[..]);
    assert_eq!(mnist.train.labels.len(), labels.len());
    assert_eq!(mnist.valid.images.as_slice().unwrap(), &valid_pixels[..]);
    assert_eq!(mnist.test.labels.to_vec(), vec![1, 2, 3]);
}

#[test]
fn image_views_are_28_by_28_rows() {
    let mnist = Mnist::from_idx_dir(fixture("idx")).unwrap();
    let image = mnist.train.image(3);
    assert_eq!(image.dim(), (28, 28));
    assert_eq!(image[[2, 5]], mnist.train.images[[3, 2 * 28 + 5]]);
    let counts = mnist.train.label_counts();
    assert_eq!(counts.iter().sum::<usize>(), 10);
}

#[test]
#[should_panic(expected = "image index 10 out of range for a split of 10 images")]
fn image_panics_past_the_end() {
    let mnist = Mnist::from_idx_dir(fixture("idx")).unwrap();
    let _ = mnist.train.image(10);
}

/// A full-size check on real data where the system has it: Debian's
/// `dataset-fashion-mnist` (60,000 + 10,000 real 28 x 28 images in IDX files).
#[test]
fn full_size_idx_files_load_when_installed() {
    let dir = std::path::Path::new("/usr/share/datasets/fashion-mnist");
    if !dir.join("train-images-idx3-ubyte.gz").is_file() {
        eprintln!(
            "skipped: {} is absent (apt-get install dataset-fashion-mnist)",
            dir.display()
        );
        return;
    }
    let mnist = Mnist::from_idx_dir(dir).unwrap();
    assert_eq!(mnist.train.images.dim(), (50_000, IMAGE_PIXELS));
    assert_eq!(mnist.valid.images.dim(), (10_000, IMAGE_PIXELS));
    assert_eq!(mnist.test.images.dim(), (10_000, IMAGE_PIXELS));
    // Fashion-MNIST has 6,000 training and 1,000 test images of each class.
    let train_and_valid: Vec<usize> = mnist
        .train
        .label_counts()
        .iter()
        .zip(mnist.valid.label_counts())
        .map(|(a, b)| a + b)
        .collect();
    assert_eq!(train_and_valid, vec![6_000; 10]);
    assert_eq!(mnist.test.label_counts(), [1_000; 10]);
    let max = mnist.train.images.iter().fold(0.0f32, |m, &p| m.max(p));
    assert_eq!(max, 255.0 / 256.0);

    // The same 70,000 images written in the published pickle layout (220 MB, a 157 MB
    // BINSTRING among them) load back to identical arrays.
    let specs = specs_of(&mnist);
    let pickle = py2_pickle(&specs);
    drop(specs);
    assert_eq!(
        Mnist::from_pickle(&pickle[..], "full-size.pkl").unwrap(),
        mnist
    );
}

/// The arrays of `mnist` as the published file stores them: float32 images, int64 labels.
fn specs_of(mnist: &Mnist) -> Vec<(ArraySpec, ArraySpec)> {
    mnist
        .splits()
        .into_iter()
        .map(|(_, split)| {
            let pixels: Vec<f32> = split.images.iter().copied().collect();
            let labels: Vec<i64> = split.labels.iter().map(|&l| i64::from(l)).collect();
            (
                ArraySpec::images(split.len(), &pixels),
                ArraySpec::labels(&labels),
            )
        })
        .collect()
}

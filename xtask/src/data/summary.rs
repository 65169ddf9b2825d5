//! What `cargo xtask data` says about the data: each split's shapes, label counts and pixel
//! range, as text or as the `--json` object.

use matmul_data::{Mnist, Split};
use serde::Serialize;

/// The `--json` object: one entry per split, in the pickle's order.
#[derive(Debug, Serialize)]
pub struct Summary {
    train: SplitSummary,
    valid: SplitSummary,
    test: SplitSummary,
}

/// Shapes, label counts and pixel statistics of one split.
#[derive(Debug, Serialize)]
pub struct SplitSummary {
    images: [usize; 2],
    labels: [usize; 1],
    label_counts: [usize; 10],
    /// Summed in f64: exact for MNIST, whose pixels are multiples of 1/256.
    pixel_sum: f64,
    pixel_min: Option<f32>,
    pixel_max: Option<f32>,
    first_label: Option<u8>,
}

impl Summary {
    /// The summary as the terminal shows it: one line per split.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for (name, stats) in [
            ("train", &self.train),
            ("valid", &self.valid),
            ("test", &self.test),
        ] {
            let range = match (stats.pixel_min, stats.pixel_max) {
                (Some(min), Some(max)) => format!("pixels in [{min}, {max}]"),
                _ => "no pixels".to_owned(),
            };
            out.push_str(&format!(
                "{name:>5}: images ({}, {}), labels ({},), {range}, label counts {:?}\n",
                stats.images[0], stats.images[1], stats.labels[0], stats.label_counts
            ));
        }
        out
    }

    /// The summary of every split of `mnist`.
    pub fn of(mnist: &Mnist) -> Self {
        Self {
            train: SplitSummary::of(&mnist.train),
            valid: SplitSummary::of(&mnist.valid),
            test: SplitSummary::of(&mnist.test),
        }
    }
}

impl SplitSummary {
    /// The summary of one split.
    pub fn of(split: &Split) -> Self {
        let (mut sum, mut min, mut max) = (0.0f64, None::<f32>, None::<f32>);
        for &pixel in &split.images {
            sum += f64::from(pixel);
            min = Some(min.map_or(pixel, |m| m.min(pixel)));
            max = Some(max.map_or(pixel, |m| m.max(pixel)));
        }
        Self {
            images: [split.images.nrows(), split.images.ncols()],
            labels: [split.labels.len()],
            label_counts: split.label_counts(),
            pixel_sum: sum,
            pixel_min: min,
            pixel_max: max,
            first_label: split.labels.first().copied(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn fixture() -> Mnist {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../01_data/fixtures/mnist_py2.pkl.gz"
        );
        Mnist::from_pickle_gz(path).unwrap()
    }

    #[test]
    fn the_json_summary_has_the_issues_keys_in_order() {
        let mnist = fixture();
        let json = serde_json::to_string(&Summary::of(&mnist)).unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        let splits: Vec<&String> = value.as_object().unwrap().keys().collect();
        assert_eq!(splits, ["test", "train", "valid"]); // serde_json sorts when parsing
        assert!(
            json.starts_with(r#"{"train":{"images":[10,784],"labels":[10],"label_counts":["#),
            "{json}"
        );
        let train = &value["train"];
        let keys: Vec<&String> = train.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 7);
        // The pixel sum, recomputed here in a different order, is exact: pixels are k/256.
        let sum: f64 = mnist
            .train
            .images
            .rows()
            .into_iter()
            .map(|r| r.iter().map(|&p| f64::from(p)).sum::<f64>())
            .sum();
        assert_eq!(train["pixel_sum"].as_f64().unwrap(), sum);
        assert_eq!(
            train["first_label"].as_u64().unwrap(),
            u64::from(mnist.train.labels[0])
        );
        assert_eq!(value["test"]["label_counts"].as_array().unwrap().len(), 10);
    }

    #[test]
    fn an_empty_split_has_no_pixel_range() {
        let mut mnist = fixture();
        mnist.test = Split {
            images: ndarray::Array2::zeros((0, 784)),
            labels: ndarray::Array1::zeros(0),
        };
        let json = serde_json::to_string(&Summary::of(&mnist).test).unwrap();
        assert!(
            json.contains(r#""pixel_min":null,"pixel_max":null,"first_label":null"#),
            "{json}"
        );
    }
}

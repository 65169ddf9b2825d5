//! Loads a file in `mnist.pkl.gz`'s format and prints its shapes: the Rust side of the
//! comparison with Python's `pickle.load(gzip.open(path), encoding='latin-1')`.
//!
//! ```text
//! cargo run --release -p matmul-data --example load_pickle -- mnist.pkl.gz
//! ```

use std::time::Instant;

use matmul_data::Mnist;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: load_pickle PATH")?;
    let start = Instant::now();
    let mnist = Mnist::from_pickle_gz(&path)?;
    let seconds = start.elapsed().as_secs_f64();
    for (name, split) in mnist.splits() {
        println!(
            "{name}: images {:?}, labels {:?}",
            split.images.dim(),
            split.labels.dim()
        );
    }
    println!("loaded in {seconds:.3} s");
    Ok(())
}

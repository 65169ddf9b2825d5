//! Every CPU stage the workspace defines — found by iterating `matmul_cuda::stages()`, the end
//! of the chain — against a float64 reference and against the naive loop, on random shapes and
//! layouts that none of the per-crate conformance tests use. (The GPU stages, listed with the
//! `cuda` feature, need a device: `08_cuda/tests/gpu.rs` runs the conformance checks on them.)

use matmul_data::conformance::{LAYOUTS, Layout, with_layout};
use matmul_data::synthetic::{SplitMix64, uniform};
use matmul_data::{Processor, Stage, reference_matmul, relative_error, test_near};
use ndarray::s;

/// The stages that run on the CPU, in reading order.
fn cpu_stages() -> Vec<Stage> {
    matmul_cuda::stages()
        .into_iter()
        .filter(|stage| stage.runs_on == Processor::Cpu)
        .collect()
}

/// A shape drawn at random: sizes 0..=40 for the outer dimensions and 0..=300 inner, with a
/// bias towards the edges (0, 1) where off-by-one mistakes live.
fn random_size(rng: &mut SplitMix64, max: u64) -> usize {
    match rng.next_u64() % 8 {
        0 => 0,
        1 => 1,
        _ => (rng.next_u64() % (max + 1)) as usize,
    }
}

fn random_layout(rng: &mut SplitMix64) -> Layout {
    LAYOUTS[(rng.next_u64() % LAYOUTS.len() as u64) as usize]
}

#[test]
fn every_stage_agrees_with_float64_on_unseen_shapes_and_layouts() {
    let stages = cpu_stages();
    let names: Vec<_> = stages.iter().map(|stage| stage.name).collect();
    for expected in ["naive", "dot", "elementwise", "broadcast", "einsum"] {
        assert!(
            names.contains(&expected),
            "stage {expected:?} missing from {names:?}"
        );
    }
    let naive = stages[0];
    assert_eq!(naive.name, "naive", "the chain starts with the triple loop");

    let mut rng = SplitMix64::new(0x5EED);
    for trial in 0..40 {
        let (m, k, n) = (
            random_size(&mut rng, 40),
            random_size(&mut rng, 300),
            random_size(&mut rng, 40),
        );
        let a = uniform(m, k, rng.next_u64());
        let b = uniform(k, n, rng.next_u64());
        let (a_layout, b_layout) = (random_layout(&mut rng), random_layout(&mut rng));
        with_layout(&a, a_layout, |a| {
            with_layout(&b, b_layout, |b| {
                let exact = reference_matmul(a, b);
                let expected = (naive.matmul)(a, b);
                for stage in &stages {
                    let actual = (stage.matmul)(a, b);
                    let error = relative_error(&actual, &exact);
                    assert!(
                        error < 1e-4,
                        "trial {trial}: stage {} on ({m}, {k}) @ ({k}, {n}), a {a_layout:?}, \
                         b {b_layout:?}: relative error {error:e}",
                        stage.name
                    );
                    test_near(&actual, &expected);
                }
            })
        });
    }
}

#[test]
fn every_stage_accepts_a_window_into_a_larger_matrix() {
    // Sub-blocks with an offset and a row stride larger than the width: what a tiled
    // algorithm hands to a kernel.
    let big = uniform(50, 60, 11);
    let a = big.slice(s![3..20, 5..45]);
    let b = big.slice(s![10..50, 7..30]);
    let exact = reference_matmul(a, b);
    for stage in cpu_stages() {
        let error = relative_error(&(stage.matmul)(a, b), &exact);
        assert!(
            error < 1e-4,
            "stage {}: relative error {error:e}",
            stage.name
        );
    }
}

#[test]
fn stage_names_are_unique_and_documented() {
    let stages = matmul_cuda::stages();
    for (index, stage) in stages.iter().enumerate() {
        assert!(
            !stage.summary.is_empty(),
            "stage {} has no summary",
            stage.name
        );
        assert!(
            stage.defined_in.package.starts_with("matmul-")
                && stage
                    .defined_in
                    .directory
                    .starts_with(|c: char| c.is_ascii_digit()),
            "stage {}: {:?}",
            stage.name,
            stage.defined_in
        );
        assert!(
            stages[..index]
                .iter()
                .all(|earlier| earlier.name != stage.name),
            "stage name {} appears twice",
            stage.name
        );
    }
}

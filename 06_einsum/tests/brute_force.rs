//! einsum against the definition, on random specs: for every assignment of values to all the
//! labels, multiply the operands' entries and add the product into the output entry. This is
//! the nested loop over all labels that einsum is careful *not* to run; here it is the
//! reference.
//!
//! The random specs mix everything: one to three operands, repeated labels (diagonals),
//! summed and kept labels, implicit and explicit outputs, sizes of 1 that broadcast, and
//! `...` covering zero to two right-aligned broadcast dimensions.

use matmul_data::synthetic::SplitMix64;
use matmul_data::test_near;
use matmul_einsum::einsum;
use ndarray::{ArrayD, ArrayViewD, IxDyn};

/// Broadcast dimensions carry these hidden names in the reference (right-aligned: the last
/// broadcast dimension is always `Z`).
const BROADCAST: [char; 2] = ['Y', 'Z'];

struct Rng(SplitMix64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// One random test: the spec einsum sees, and the same spec with every `...` written out as
/// hidden labels, for the reference.
struct Case {
    spec: String,
    terms: Vec<Vec<char>>,
    output: Vec<char>,
    operands: Vec<ArrayD<f32>>,
}

fn random_case(rng: &mut Rng) -> Case {
    let pool = ['a', 'b', 'c', 'd'];
    let sizes: Vec<usize> = (0..pool.len()).map(|_| 1 + rng.below(3)).collect();
    let broadcast_sizes: Vec<usize> = (0..BROADCAST.len()).map(|_| 1 + rng.below(3)).collect();
    let operand_count = 1 + rng.below(3);
    let mut spec_terms = Vec::new();
    let mut terms = Vec::new();
    let mut operands = Vec::new();
    let mut ellipsis_anywhere = false;
    for index in 0..operand_count {
        let labels: Vec<char> = (0..rng.below(4))
            .map(|_| pool[rng.below(pool.len())])
            .collect();
        // An ellipsis covering the last `covered` broadcast dimensions, at a random place.
        let ellipsis = rng
            .chance(40)
            .then(|| (rng.below(labels.len() + 1), rng.below(3)));
        let mut written = String::new();
        let mut expanded = Vec::new();
        for position in 0..=labels.len() {
            if let Some((at, covered)) = ellipsis
                && at == position
            {
                written.push_str("...");
                expanded.extend_from_slice(&BROADCAST[BROADCAST.len() - covered..]);
                ellipsis_anywhere = true;
            }
            if let Some(&label) = labels.get(position) {
                written.push(label);
                expanded.push(label);
            }
        }
        // Each operand's length of a label: its size, or (sometimes) 1, which broadcasts —
        // the same on every axis of a repeated label, as a diagonal needs.
        let mut broadcast_here = std::collections::HashMap::new();
        let shape: Vec<usize> = expanded
            .iter()
            .map(|label| {
                let ones = *broadcast_here
                    .entry(*label)
                    .or_insert_with(|| rng.chance(15));
                if ones {
                    1
                } else if let Some(p) = pool.iter().position(|l| l == label) {
                    sizes[p]
                } else {
                    broadcast_sizes[BROADCAST.iter().position(|l| l == label).unwrap()]
                }
            })
            .collect();
        let mut values = SplitMix64::new(1000 + index as u64 + rng.0.next_u64() % 1000);
        operands.push(ArrayD::from_shape_simple_fn(IxDyn(&shape), || {
            (2.0 * values.next_f64() - 1.0) as f32
        }));
        spec_terms.push(written);
        terms.push(expanded);
    }

    // The broadcast dimensions the output's `...` stands for: as many as the widest `...`.
    let covered = terms
        .iter()
        .map(|t| t.iter().filter(|l| BROADCAST.contains(l)).count())
        .max()
        .unwrap_or(0);
    let ellipsis_labels = &BROADCAST[BROADCAST.len() - covered..];
    let mut present: Vec<char> = terms
        .iter()
        .flatten()
        .copied()
        .filter(|l| pool.contains(l))
        .collect();
    present.sort_unstable();
    present.dedup();
    let (output_spec, output) = if rng.chance(30) {
        // Implicit: NumPy's rule, computed independently here.
        let all: Vec<char> = terms.iter().flatten().copied().collect();
        let once: Vec<char> = present
            .iter()
            .copied()
            .filter(|l| all.iter().filter(|x| *x == l).count() == 1)
            .collect();
        (None, [ellipsis_labels, &once].concat())
    } else {
        // Explicit: a random subset of the labels in a random order, `...` somewhere if needed.
        let mut kept: Vec<char> = present.iter().copied().filter(|_| rng.chance(50)).collect();
        for i in (1..kept.len()).rev() {
            kept.swap(i, rng.below(i + 1));
        }
        let mut written: String = kept.iter().collect();
        let mut output = kept.clone();
        if ellipsis_anywhere {
            let at = rng.below(kept.len() + 1);
            written.insert_str(at, "...");
            output.splice(at..at, ellipsis_labels.iter().copied());
        }
        (Some(written), output)
    };
    let mut spec = spec_terms.join(",");
    if let Some(output) = output_spec {
        spec = format!("{spec}->{output}");
    }
    Case {
        spec,
        terms,
        output,
        operands,
    }
}

/// The definition: Σ over all label values of Π operands, in float64.
fn reference(case: &Case) -> ArrayD<f64> {
    let mut labels: Vec<char> = case.terms.iter().flatten().copied().collect();
    labels.sort_unstable();
    labels.dedup();
    // Each label's size is the largest length it has (the others are 1, broadcasting).
    let sizes: Vec<usize> = labels
        .iter()
        .map(|label| {
            case.terms
                .iter()
                .zip(&case.operands)
                .flat_map(|(term, operand)| {
                    term.iter()
                        .zip(operand.shape())
                        .filter(|(l, _)| *l == label)
                        .map(|(_, &n)| n)
                })
                .max()
                .unwrap_or(1)
        })
        .collect();
    let size_of = |label: &char| sizes[labels.iter().position(|l| l == label).unwrap()];
    let output_shape: Vec<usize> = case.output.iter().map(size_of).collect();
    let mut result = ArrayD::<f64>::zeros(IxDyn(&output_shape));
    let mut values = vec![0usize; labels.len()];
    let value_of =
        |values: &[usize], label: &char| values[labels.iter().position(|l| l == label).unwrap()];
    if sizes.contains(&0) {
        return result;
    }
    loop {
        let mut product = 1.0f64;
        for (term, operand) in case.terms.iter().zip(&case.operands) {
            let index: Vec<usize> = term
                .iter()
                .zip(operand.shape())
                .map(|(label, &length)| {
                    if length == 1 {
                        0
                    } else {
                        value_of(&values, label)
                    }
                })
                .collect();
            product *= f64::from(operand[IxDyn(&index)]);
        }
        let index: Vec<usize> = case
            .output
            .iter()
            .map(|label| value_of(&values, label))
            .collect();
        result[IxDyn(&index)] += product;
        // Next assignment, odometer style.
        let mut digit = 0;
        loop {
            if digit == labels.len() {
                return result;
            }
            values[digit] += 1;
            if values[digit] < sizes[digit] {
                break;
            }
            values[digit] = 0;
            digit += 1;
        }
    }
}

#[test]
fn random_specs_agree_with_the_definition() {
    let mut rng = Rng(SplitMix64::new(7));
    let mut with_ellipsis = 0;
    let mut with_diagonal = 0;
    for _ in 0..3000 {
        let case = random_case(&mut rng);
        let views: Vec<ArrayViewD<'_, f32>> = case.operands.iter().map(|o| o.view()).collect();
        let shapes: Vec<&[usize]> = case.operands.iter().map(|o| o.shape()).collect();
        let result = einsum(&case.spec, &views)
            .unwrap_or_else(|error| panic!("{:?} on {shapes:?}: {error}", case.spec));
        let expected = reference(&case);
        assert_eq!(
            result.shape(),
            expected.shape(),
            "{:?} on {shapes:?}",
            case.spec
        );
        test_near(&result, &expected);
        with_ellipsis += usize::from(case.spec.contains("..."));
        with_diagonal += usize::from(
            case.terms
                .iter()
                .any(|t| t.iter().enumerate().any(|(i, l)| t[..i].contains(l))),
        );
    }
    // The generator really exercises the interesting forms.
    assert!(
        with_ellipsis > 500 && with_diagonal > 300,
        "{with_ellipsis} {with_diagonal}"
    );
}

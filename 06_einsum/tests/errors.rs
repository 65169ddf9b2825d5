//! Every way an einsum call can be wrong gives an `EinsumError` whose message names where the
//! problem is, what was expected and what was found — and no spec, however garbled, panics.

use std::panic::{AssertUnwindSafe, catch_unwind};

use matmul_data::synthetic::SplitMix64;
use matmul_einsum::{EinsumError, Place, einsum};
use ndarray::{ArrayD, ArrayViewD, IxDyn};

fn zeros(shape: &[usize]) -> ArrayD<f32> {
    ArrayD::zeros(IxDyn(shape))
}

/// The error `einsum(spec, operands of these shapes)` gives.
fn error(spec: &str, shapes: &[&[usize]]) -> EinsumError {
    let operands: Vec<ArrayD<f32>> = shapes.iter().map(|shape| zeros(shape)).collect();
    let views: Vec<ArrayViewD<'_, f32>> = operands.iter().map(|o| o.view()).collect();
    match einsum(spec, &views) {
        Ok(result) => panic!("{spec:?} on {shapes:?} gave a {:?} result", result.shape()),
        Err(error) => error,
    }
}

/// Asserts that the message mentions each of `parts` (and the spec itself).
#[track_caller]
fn mentions(error: &EinsumError, spec: &str, parts: &[&str]) {
    let message = error.to_string();
    assert!(
        message.contains(&format!("{spec:?}")),
        "{message}\n  should quote the spec"
    );
    for part in parts.iter().chain(&["expected", "found"]) {
        assert!(
            message.contains(part),
            "{message}\n  should mention {part:?}"
        );
    }
}

#[test]
fn invalid_character() {
    let e = error("ij,j1", &[&[2, 3], &[3]]);
    assert!(matches!(
        e,
        EinsumError::InvalidCharacter {
            position: 4,
            found: '1',
            place: Place::Operand(1),
            ..
        }
    ));
    mentions(&e, "ij,j1", &["operand 1", "'1'", "position 4"]);

    let e = error("ij->i$", &[&[2, 3]]);
    assert!(matches!(
        e,
        EinsumError::InvalidCharacter {
            found: '$',
            place: Place::Output,
            ..
        }
    ));
    mentions(&e, "ij->i$", &["the output", "'$'"]);

    // Letters beyond ASCII are not labels, as in NumPy.
    let e = error("iä", &[&[2, 3]]);
    assert!(matches!(
        e,
        EinsumError::InvalidCharacter {
            found: 'ä',
            position: 1,
            ..
        }
    ));
    mentions(&e, "iä", &["operand 0", "'ä'"]);

    // A comma in the output.
    let e = error("ij->i,j", &[&[2, 3]]);
    assert!(matches!(
        e,
        EinsumError::InvalidCharacter {
            found: ',',
            place: Place::Output,
            ..
        }
    ));
}

#[test]
fn malformed_arrow() {
    for (spec, position, found) in [
        ("ij-ji", 2, "'-' without '>'"),
        ("ij>ji", 2, "'>' without '-'"),
        ("ij->ji->i", 6, "a second '->'"),
        ("ij - > ji", 3, "'-' without '>'"),
    ] {
        let e = error(spec, &[&[2, 3]]);
        assert!(
            matches!(e, EinsumError::MalformedArrow { position: p, .. } if p == position),
            "{spec}: {e:?}"
        );
        mentions(&e, spec, &["'->'", found, &format!("position {position}")]);
    }
}

#[test]
fn stray_dot() {
    let e = error("..ij", &[&[2, 3]]);
    assert!(matches!(e, EinsumError::StrayDot { position: 0, .. }));
    mentions(&e, "..ij", &["operand 0", "'...'", "\"..\""]);
    let e = error("i.j", &[&[2, 3]]);
    assert!(matches!(e, EinsumError::StrayDot { position: 1, .. }));
    // Four dots: an ellipsis and a stray dot.
    let e = error("....ij", &[&[2, 3]]);
    assert!(matches!(e, EinsumError::StrayDot { position: 3, .. }));
    let e = error("...ij->..ij", &[&[2, 3]]);
    assert!(matches!(
        e,
        EinsumError::StrayDot {
            place: Place::Output,
            ..
        }
    ));
    mentions(&e, "...ij->..ij", &["the output"]);
}

#[test]
fn repeated_ellipsis() {
    let e = error("...i...", &[&[2, 3]]);
    assert!(matches!(
        e,
        EinsumError::RepeatedEllipsis {
            position: 4,
            place: Place::Operand(0),
            ..
        }
    ));
    mentions(&e, "...i...", &["operand 0", "second '...'", "position 4"]);
    let e = error("...i->......", &[&[2, 3]]);
    assert!(matches!(
        e,
        EinsumError::RepeatedEllipsis {
            place: Place::Output,
            ..
        }
    ));
}

#[test]
fn wrong_number_of_operands() {
    let e = error("ij,jk->ik", &[&[2, 3]]);
    assert!(matches!(
        e,
        EinsumError::OperandCount {
            expected: 2,
            found: 1,
            ..
        }
    ));
    mentions(&e, "ij,jk->ik", &["2 operand(s)", "found 1"]);
    let e = error("ij,jk", &[&[2, 3], &[3, 4], &[4, 5]]);
    assert!(matches!(
        e,
        EinsumError::OperandCount {
            expected: 2,
            found: 3,
            ..
        }
    ));
    let e = error("", &[]);
    assert!(matches!(
        e,
        EinsumError::OperandCount {
            expected: 1,
            found: 0,
            ..
        }
    ));
}

#[test]
fn rank_mismatch() {
    let e = error("ik,kjl->ij", &[&[2, 3], &[3, 4]]);
    assert!(matches!(
        e,
        EinsumError::RankMismatch {
            operand: 1,
            expected: 3,
            ..
        }
    ));
    mentions(
        &e,
        "ik,kjl->ij",
        &["operand 1", "\"kjl\"", "exactly 3", "found 2", "[3, 4]"],
    );
    let e = error("ij", &[&[2, 3, 4]]);
    mentions(&e, "ij", &["operand 0", "exactly 2", "found 3"]);
    let e = error("...ijk", &[&[2, 3]]);
    assert!(matches!(
        e,
        EinsumError::RankMismatch { ellipsis: true, .. }
    ));
    mentions(&e, "...ijk", &["operand 0", "at least 3", "found 2"]);
}

#[test]
fn repeated_label_of_different_sizes() {
    let e = error("ii", &[&[2, 3]]);
    assert!(matches!(
        e,
        EinsumError::RepeatedLabelSize {
            label: 'i',
            operand: 0,
            expected: 2,
            found: 3,
            ..
        }
    ));
    mentions(
        &e,
        "ii",
        &["label 'i'", "operand 0", "[2, 3]", "axis 1", "found 3"],
    );
    // Unlike sizes across operands, a size of 1 does not broadcast within a diagonal.
    let e = error("j,ii->i", &[&[4], &[1, 2]]);
    assert!(matches!(
        e,
        EinsumError::RepeatedLabelSize { operand: 1, .. }
    ));
    mentions(&e, "j,ii->i", &["operand 1"]);
}

#[test]
fn label_of_different_sizes_across_operands() {
    let e = error("ik,kj->ij", &[&[2, 3], &[4, 5]]);
    assert!(matches!(
        e,
        EinsumError::LabelSize {
            label: 'k',
            first_operand: 0,
            operand: 1,
            expected: 3,
            found: 4,
            ..
        }
    ));
    mentions(
        &e,
        "ik,kj->ij",
        &["label 'k'", "operand 0", "operand 1", "size 3", "found 4"],
    );
    // Across three operands, the message names the first one that fixed the size.
    let e = error("i,i,i->", &[&[1], &[3], &[2]]);
    assert!(matches!(
        e,
        EinsumError::LabelSize {
            first_operand: 1,
            operand: 2,
            ..
        }
    ));
}

#[test]
fn ellipsis_shapes_that_do_not_broadcast() {
    let e = error("...i,...i->...", &[&[2, 3], &[4, 3]]);
    assert!(matches!(
        e,
        EinsumError::EllipsisShape {
            dimension: 0,
            expected: 2,
            found: 4,
            operand: 1,
            ..
        }
    ));
    mentions(
        &e,
        "...i,...i->...",
        &["'...'", "operand 0", "operand 1", "[4, 3]", "found 4"],
    );
    // Right-aligned: (2, 3) against (3,) broadcasts; (2, 3) against (2,) does not.
    assert!(einsum("...,...->...", &[zeros(&[2, 3]).view(), zeros(&[3]).view()]).is_ok());
    let e = error("...,...->...", &[&[2, 3], &[2]]);
    assert!(matches!(
        e,
        EinsumError::EllipsisShape {
            dimension: 1,
            axis: 0,
            ..
        }
    ));
}

#[test]
fn output_label_not_in_any_input() {
    let e = error("ij->ik", &[&[2, 3]]);
    assert!(matches!(
        e,
        EinsumError::UnknownOutputLabel { label: 'k', .. }
    ));
    mentions(&e, "ij->ik", &["output label 'k'", "operand"]);
}

#[test]
fn repeated_output_label() {
    let e = error("i,j->iji", &[&[2], &[3]]);
    assert!(matches!(
        e,
        EinsumError::RepeatedOutputLabel {
            label: 'i',
            count: 2,
            ..
        }
    ));
    mentions(&e, "i,j->iji", &["output label 'i'", "2 times"]);
}

#[test]
fn ellipsis_in_the_output_only_stands_for_no_dimensions() {
    // NumPy accepts this: the output's `...` covers the operands' zero broadcast dimensions.
    let x = ndarray::ArrayD::from_shape_fn(vec![2, 3], |index| (index[0] * 3 + index[1]) as f32);
    assert_eq!(einsum("ij->...ij", &[x.view()]).unwrap(), x);
    assert_eq!(einsum("ij->...ji", &[x.view()]).unwrap(), x.t());
}

#[test]
fn broadcast_dimensions_without_an_output_ellipsis() {
    let e = error("...i->i", &[&[2, 3]]);
    assert!(matches!(
        e,
        EinsumError::MissingOutputEllipsis { operand: 0, .. }
    ));
    mentions(&e, "...i->i", &["operand 0", "[2]", "no '...'", "\"i\""]);
    // An ellipsis that covers nothing needs no place in the output.
    assert!(einsum("...i->i", &[zeros(&[3]).view()]).is_ok());
}

#[test]
fn results_too_large_for_memory() {
    // Zero-sized operands, so nothing is allocated, whose outer product has more (non-zero)
    // dimension lengths than any array may: ndarray would panic; einsum reports it.
    let big = 1usize << 40;
    let e = error("ab,cd->abcd", &[&[big, 0], &[big, 0]]);
    assert!(matches!(e, EinsumError::TooLarge { .. }));
    mentions(&e, "ab,cd->abcd", &["[1099511627776, 0, 1099511627776, 0]"]);
}

/// Random strings over the characters specs are made of (and a few they must not contain),
/// against random small operands: every call returns, `Ok` or `Err`, and none panics.
#[test]
fn garbage_specs_never_panic() {
    const ALPHABET: &[char] = &[
        'i', 'j', 'k', 'i', 'j', 'a', 'Z', '.', '.', '.', ',', ',', '-', '>', '-', '>', ' ', '1',
        'é', '\t', '_',
    ];
    let mut rng = SplitMix64::new(2024);
    let mut below = |n: usize| (rng.next_u64() % n as u64) as usize;
    let mut ok = 0;
    for _ in 0..20_000 {
        let length = below(12);
        let spec: String = (0..length)
            .map(|_| ALPHABET[below(ALPHABET.len())])
            .collect();
        let operands: Vec<ArrayD<f32>> = (0..below(4))
            .map(|_| {
                let rank = below(4);
                let shape: Vec<usize> = (0..rank).map(|_| below(4)).collect();
                zeros(&shape)
            })
            .collect();
        let views: Vec<ArrayViewD<'_, f32>> = operands.iter().map(|o| o.view()).collect();
        let outcome = catch_unwind(AssertUnwindSafe(|| einsum(&spec, &views)));
        match outcome {
            Ok(Ok(_)) => ok += 1,
            Ok(Err(error)) => assert!(!error.to_string().is_empty()),
            Err(_) => {
                let shapes: Vec<&[usize]> = operands.iter().map(|o| o.shape()).collect();
                panic!("einsum({spec:?}) on shapes {shapes:?} panicked");
            }
        }
    }
    // The generator must also produce valid calls, or the test proves little.
    assert!(ok > 100, "only {ok} of the random calls were valid");
}

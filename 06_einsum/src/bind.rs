//! Binding a [`Spec`] to the operands' shapes: which label each axis carries, and how long
//! each label is.
//!
//! After binding, every axis of every operand has a [`Label`] — a letter, or one of the
//! dimensions a `...` covers — and every label has one size. The `...` dimensions are aligned
//! at the right, as NumPy broadcasts: with `"...ij"` on a `(2, 1, 3, 4)` operand and `"...jk"`
//! on a `(5, 4, 6)` one, the broadcast dimensions are `(2, 1)` and `(5,)`, which broadcast to
//! `(2, 5)`. As in NumPy, a size of 1 broadcasts for letters too: `"i,i->i"` accepts shapes
//! `(1,)` and `(3,)`.

use crate::error::EinsumError;
use crate::spec::{Spec, Subscript, Term};

/// How many letter labels there are: `A`–`Z` then `a`–`z`.
const LETTERS: usize = 52;

/// A dimension's name once bound: a letter, or the `d`-th dimension of the broadcast `...`.
///
/// Letters are numbered in character-code order, the order of the implicit output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Label(usize);

impl Label {
    /// The label of an ASCII letter.
    fn letter(c: char) -> Label {
        match c {
            'A'..='Z' => Label(c as usize - 'A' as usize),
            'a'..='z' => Label(26 + c as usize - 'a' as usize),
            _ => unreachable!("the parser accepts only ASCII letters as labels, not {c:?}"),
        }
    }

    /// The label of broadcast dimension `dimension` of the `...`.
    fn ellipsis(dimension: usize) -> Label {
        Label(LETTERS + dimension)
    }

    /// A dense index, for tables indexed by label.
    pub(crate) fn index(self) -> usize {
        self.0
    }

    /// The letter this label is, if it is one.
    fn as_letter(self) -> Option<char> {
        match self.0 {
            index @ 0..26 => Some((b'A' + index as u8) as char),
            index @ 26..LETTERS => Some((b'a' + (index - 26) as u8) as char),
            _ => None,
        }
    }
}

/// A spec bound to concrete shapes: the labels of every operand axis, the size of every label
/// and the output's labels.
#[derive(Clone, Debug)]
pub(crate) struct Bound {
    /// For each operand, the label of each of its axes.
    pub(crate) operands: Vec<Vec<Label>>,
    /// For each output axis, its label.
    pub(crate) output: Vec<Label>,
    /// The size of each label, indexed by [`Label::index`] (0 for labels not used).
    pub(crate) sizes: Vec<usize>,
}

/// Binds `spec` to operands of the given shapes.
///
/// # Errors
///
/// [`EinsumError::OperandCount`], [`EinsumError::RankMismatch`],
/// [`EinsumError::RepeatedLabelSize`], [`EinsumError::LabelSize`],
/// [`EinsumError::EllipsisShape`] or [`EinsumError::MissingOutputEllipsis`].
pub(crate) fn bind(spec: &Spec, shapes: &[&[usize]]) -> Result<Bound, EinsumError> {
    let source = || spec.source().to_owned();
    if spec.inputs().len() != shapes.len() {
        return Err(EinsumError::OperandCount {
            spec: source(),
            expected: spec.inputs().len(),
            found: shapes.len(),
        });
    }

    // How many dimensions each operand's `...` covers; the broadcast `...` has the most.
    let mut covered = Vec::with_capacity(shapes.len());
    for (operand, (term, shape)) in spec.inputs().iter().zip(shapes).enumerate() {
        let named = term.labels().count();
        let ellipsis = term.has_ellipsis();
        if shape.len() < named || (!ellipsis && shape.len() != named) {
            return Err(EinsumError::RankMismatch {
                spec: source(),
                operand,
                subscripts: term.to_string(),
                ellipsis,
                expected: named,
                shape: shape.to_vec(),
            });
        }
        covered.push(shape.len() - named);
    }
    let broadcast_rank = covered.iter().copied().max().unwrap_or(0);

    let operands: Vec<Vec<Label>> = spec
        .inputs()
        .iter()
        .zip(&covered)
        .map(|(term, &covered)| axis_labels(term, covered, broadcast_rank))
        .collect();

    // The size of each label and the operand it was first seen with a size other than 1 in.
    let mut seen: Vec<Option<(usize, usize)>> = vec![None; LETTERS + broadcast_rank];
    for (operand, (labels, shape)) in operands.iter().zip(shapes).enumerate() {
        check_diagonals(spec, operand, labels, shape)?;
        for (axis, (&label, &size)) in labels.iter().zip(shape.iter()).enumerate() {
            match seen[label.index()] {
                // A size of 1 broadcasts against anything; keep the first other size.
                Some((known, _)) if size == 1 || size == known => {}
                Some((1, _)) | None => seen[label.index()] = Some((size, operand)),
                Some((expected, first_operand)) => {
                    return Err(size_error(
                        spec,
                        label,
                        (first_operand, expected),
                        (operand, axis, size, shape),
                    ));
                }
            }
        }
    }
    let sizes: Vec<usize> = seen
        .iter()
        .map(|entry| entry.map_or(0, |(size, _)| size))
        .collect();

    let output = output_labels(spec.output(), broadcast_rank);
    if broadcast_rank > 0 && !spec.output().has_ellipsis() {
        let operand = covered.iter().position(|&c| c > 0).unwrap_or(0);
        return Err(EinsumError::MissingOutputEllipsis {
            spec: source(),
            operand,
            broadcast_shape: sizes[LETTERS..].to_vec(),
            output: spec.output().to_string(),
        });
    }
    Ok(Bound {
        operands,
        output,
        sizes,
    })
}

/// The labels of an operand's axes: its letters, with its `...` expanded to the last `covered`
/// of the `broadcast_rank` broadcast dimensions (right-aligned, as NumPy broadcasts).
fn axis_labels(term: &Term, covered: usize, broadcast_rank: usize) -> Vec<Label> {
    let mut labels = Vec::with_capacity(term.subscripts().len() + covered);
    for subscript in term.subscripts() {
        match *subscript {
            Subscript::Label(c) => labels.push(Label::letter(c)),
            Subscript::Ellipsis => {
                labels.extend((broadcast_rank - covered..broadcast_rank).map(Label::ellipsis))
            }
        }
    }
    labels
}

/// The output's labels, with its `...` expanded to all broadcast dimensions.
fn output_labels(term: &Term, broadcast_rank: usize) -> Vec<Label> {
    axis_labels(term, broadcast_rank, broadcast_rank)
}

/// Checks that a label repeated within one operand has the same size on each of its axes:
/// a diagonal of a non-square array is not defined (NumPy requires equality too, even for 1).
fn check_diagonals(
    spec: &Spec,
    operand: usize,
    labels: &[Label],
    shape: &[usize],
) -> Result<(), EinsumError> {
    for (axis, label) in labels.iter().enumerate() {
        let first_axis = labels.iter().position(|l| l == label).unwrap_or(axis);
        if shape[axis] != shape[first_axis] {
            return Err(EinsumError::RepeatedLabelSize {
                spec: spec.source().to_owned(),
                operand,
                label: label.as_letter().unwrap_or('.'),
                shape: shape.to_vec(),
                first_axis,
                axis,
                expected: shape[first_axis],
                found: shape[axis],
            });
        }
    }
    Ok(())
}

/// The error for a label whose sizes in two operands do not broadcast.
fn size_error(
    spec: &Spec,
    label: Label,
    (first_operand, expected): (usize, usize),
    (operand, axis, found, shape): (usize, usize, usize, &[usize]),
) -> EinsumError {
    let spec = spec.source().to_owned();
    let shape = shape.to_vec();
    match label.as_letter() {
        Some(label) => EinsumError::LabelSize {
            spec,
            label,
            first_operand,
            operand,
            shape,
            expected,
            found,
        },
        None => EinsumError::EllipsisShape {
            spec,
            dimension: label.index() - LETTERS,
            first_operand,
            operand,
            shape,
            axis,
            expected,
            found,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(spec: &str, shapes: &[&[usize]]) -> Result<Bound, EinsumError> {
        bind(&Spec::parse(spec).unwrap(), shapes)
    }

    #[test]
    fn ellipsis_dimensions_align_at_the_right() {
        let b = bound("...ij,...jk->...ik", &[&[2, 1, 3, 4], &[5, 4, 6]]).unwrap();
        let e = Label::ellipsis;
        let l = Label::letter;
        assert_eq!(b.operands[0], vec![e(0), e(1), l('i'), l('j')]);
        assert_eq!(b.operands[1], vec![e(1), l('j'), l('k')]);
        assert_eq!(b.output, vec![e(0), e(1), l('i'), l('k')]);
        assert_eq!(&b.sizes[LETTERS..], &[2, 5]);
    }

    #[test]
    fn sizes_of_one_broadcast() {
        let b = bound("i,i->i", &[&[1], &[3]]).unwrap();
        assert_eq!(b.sizes[Label::letter('i').index()], 3);
        let b = bound("i,i->i", &[&[3], &[1]]).unwrap();
        assert_eq!(b.sizes[Label::letter('i').index()], 3);
        assert!(bound("i,i->i", &[&[2], &[3]]).is_err());
    }

    #[test]
    fn letters_round_trip() {
        for c in ('a'..='z').chain('A'..='Z') {
            assert_eq!(Label::letter(c).as_letter(), Some(c));
        }
        assert_eq!(Label::ellipsis(0).as_letter(), None);
    }
}

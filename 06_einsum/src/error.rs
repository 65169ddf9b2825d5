//! What can be wrong with an einsum call, and how each problem is reported.
//!
//! Every message starts with the spec as written, names where the problem is (a position in the
//! spec, an operand by its index counting from 0, a label), and says what was expected and what
//! was found — the reader should be able to fix the call from the message alone.

use std::fmt;

/// The part of a spec a problem was found in: the subscripts of one operand, or the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// The subscripts of the operand with this index (counting from 0).
    Operand(usize),
    /// The output subscripts, after `->`.
    Output,
}

impl Place {
    /// The characters allowed here, for the "expected" half of an error message.
    fn allowed(self) -> &'static str {
        match self {
            Place::Operand(_) => "a label (a-z, A-Z), '...', ',', '->' or whitespace",
            Place::Output => "a label (a-z, A-Z), '...' or whitespace",
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Operand(index) => write!(f, "operand {index}"),
            Place::Output => f.write_str("the output"),
        }
    }
}

/// A spec that cannot be read, or operands that do not fit it.
///
/// Positions count characters of the spec from 0; operands are counted from 0 in the order
/// they are passed.
///
/// ```
/// use matmul_einsum::{einsum, EinsumError};
/// use ndarray::Array2;
///
/// let a = Array2::<f32>::zeros((2, 3)).into_dyn();
/// let b = Array2::<f32>::zeros((4, 5)).into_dyn();
/// let error = einsum("ik,kj->ij", &[a.view(), b.view()]).unwrap_err();
/// assert!(matches!(error, EinsumError::LabelSize { label: 'k', operand: 1, .. }));
/// assert_eq!(
///     error.to_string(),
///     "einsum \"ik,kj->ij\": label 'k' has size 3 in operand 0, so expected size 3 (or 1, \
///      which broadcasts) in operand 1 (shape [4, 5]), found 4"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EinsumError {
    /// A character that is not a label, `,`, `...`, `->` or whitespace.
    #[error(
        "einsum {spec:?}: invalid character {found:?} at position {position}, in the subscripts \
         of {place}: expected {}, found {found:?}",
        .place.allowed()
    )]
    InvalidCharacter {
        /// The spec as written.
        spec: String,
        /// Where the character is, counting characters from 0.
        position: usize,
        /// The offending character.
        found: char,
        /// Which subscripts it is in.
        place: Place,
    },

    /// A `-` without `>`, a `>` without `-`, or a second `->`.
    #[error(
        "einsum {spec:?}: malformed arrow at position {position}: expected a single '->' \
         between the operands' subscripts and the output, found {found}"
    )]
    MalformedArrow {
        /// The spec as written.
        spec: String,
        /// Where the malformed arrow starts, counting characters from 0.
        position: usize,
        /// What is there instead, in words.
        found: &'static str,
    },

    /// A `.` that is not part of a `...`.
    #[error(
        "einsum {spec:?}: the '.' at position {position}, in the subscripts of {place}, is not \
         part of an ellipsis: expected '...', found {found:?}"
    )]
    StrayDot {
        /// The spec as written.
        spec: String,
        /// Where the stray dot is, counting characters from 0.
        position: usize,
        /// Which subscripts it is in.
        place: Place,
        /// The run of dots found there (`"."` or `".."`).
        found: String,
    },

    /// A second `...` in the subscripts of one operand or of the output.
    #[error(
        "einsum {spec:?}: a second '...' at position {position}, in the subscripts of {place}: \
         expected at most one ellipsis there, found two"
    )]
    RepeatedEllipsis {
        /// The spec as written.
        spec: String,
        /// Where the second ellipsis starts, counting characters from 0.
        position: usize,
        /// Which subscripts it is in.
        place: Place,
    },

    /// The spec has subscripts for a different number of operands than were passed.
    #[error(
        "einsum {spec:?}: the spec has subscripts for {expected} operand(s), so expected \
         {expected} operand(s), found {found}"
    )]
    OperandCount {
        /// The spec as written.
        spec: String,
        /// How many comma-separated subscripts the spec has.
        expected: usize,
        /// How many operands were passed.
        found: usize,
    },

    /// An operand has a different number of dimensions than its subscripts name.
    #[error(
        "einsum {spec:?}: operand {operand} has subscripts {subscripts:?}, so expected {} {expected} \
         dimension(s), found {} (shape {shape:?})",
        if *.ellipsis { "at least" } else { "exactly" },
        .shape.len()
    )]
    RankMismatch {
        /// The spec as written.
        spec: String,
        /// Which operand.
        operand: usize,
        /// That operand's subscripts.
        subscripts: String,
        /// Whether the subscripts have a `...`, which stands for any number of dimensions.
        ellipsis: bool,
        /// How many labels the subscripts have (the dimensions they name, `...` aside).
        expected: usize,
        /// The operand's shape; its length is the rank found.
        shape: Vec<usize>,
    },

    /// A label repeated within one operand (a diagonal) over axes of different sizes.
    #[error(
        "einsum {spec:?}: label '{label}' is repeated in operand {operand} (shape {shape:?}), \
         which takes a diagonal: axis {first_axis} has size {expected}, so expected size \
         {expected} on axis {axis}, found {found}"
    )]
    RepeatedLabelSize {
        /// The spec as written.
        spec: String,
        /// Which operand.
        operand: usize,
        /// The repeated label.
        label: char,
        /// The operand's shape.
        shape: Vec<usize>,
        /// The first axis with this label.
        first_axis: usize,
        /// The axis whose size differs.
        axis: usize,
        /// The size of `first_axis`.
        expected: usize,
        /// The size of `axis`.
        found: usize,
    },

    /// A label whose size differs between two operands (and neither size is 1).
    #[error(
        "einsum {spec:?}: label '{label}' has size {expected} in operand {first_operand}, so \
         expected size {expected} (or 1, which broadcasts) in operand {operand} (shape \
         {shape:?}), found {found}"
    )]
    LabelSize {
        /// The spec as written.
        spec: String,
        /// The label.
        label: char,
        /// The operand where the label first had a size other than 1.
        first_operand: usize,
        /// The operand whose size differs.
        operand: usize,
        /// That operand's shape.
        shape: Vec<usize>,
        /// The label's size in `first_operand`.
        expected: usize,
        /// The label's size in `operand`.
        found: usize,
    },

    /// The dimensions covered by `...` in two operands do not broadcast together.
    #[error(
        "einsum {spec:?}: the '...' dimensions do not broadcast: broadcast dimension {dimension} \
         has size {expected} in operand {first_operand}, so expected {expected} or 1 in operand \
         {operand} (shape {shape:?}, axis {axis}), found {found}"
    )]
    EllipsisShape {
        /// The spec as written.
        spec: String,
        /// Which of the broadcast dimensions (counting from 0 at the left of the broadcast
        /// shape, whose dimensions are aligned at the right as in NumPy).
        dimension: usize,
        /// The operand where this dimension first had a size other than 1.
        first_operand: usize,
        /// The operand whose size differs.
        operand: usize,
        /// That operand's shape.
        shape: Vec<usize>,
        /// The axis of `operand` that is this broadcast dimension.
        axis: usize,
        /// The size in `first_operand`.
        expected: usize,
        /// The size in `operand`.
        found: usize,
    },

    /// An output label that no operand has.
    #[error(
        "einsum {spec:?}: output label '{label}' is not in any operand's subscripts: expected \
         every output label to name a dimension of some operand, found '{label}' only in the \
         output"
    )]
    UnknownOutputLabel {
        /// The spec as written.
        spec: String,
        /// The label.
        label: char,
    },

    /// An output label written more than once.
    #[error(
        "einsum {spec:?}: output label '{label}' appears {count} times in the output: expected \
         each output label at most once, found it {count} times"
    )]
    RepeatedOutputLabel {
        /// The spec as written.
        spec: String,
        /// The label.
        label: char,
        /// How many times it appears in the output.
        count: usize,
    },

    /// Operands whose `...` covers dimensions, with an explicit output that has no `...`.
    #[error(
        "einsum {spec:?}: the '...' of operand {operand} covers dimensions (broadcast shape \
         {broadcast_shape:?}) but the output has no '...': expected '...' in the output to say \
         where they go, found {output:?}"
    )]
    MissingOutputEllipsis {
        /// The spec as written.
        spec: String,
        /// An operand whose `...` covers at least one dimension.
        operand: usize,
        /// The broadcast shape of all operands' `...` dimensions.
        broadcast_shape: Vec<usize>,
        /// The output subscripts.
        output: String,
    },

    /// A result or intermediate with more elements than memory can address.
    #[error(
        "einsum {spec:?}: an intermediate or the result would have shape {shape:?}: expected at \
         most {} elements, found more",
        crate::limits::MAX_ELEMENTS
    )]
    TooLarge {
        /// The spec as written.
        spec: String,
        /// The shape that is too large.
        shape: Vec<usize>,
    },
}

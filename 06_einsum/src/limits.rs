//! Limits shared by the evaluator ([`contract`](crate::contract)) and its error messages
//! ([`error`](crate::error)): a leaf module, so that neither has to import the other.

/// The most elements an intermediate or result may have: the largest `f32` allocation the
/// address space allows.
pub const MAX_ELEMENTS: usize = isize::MAX as usize / std::mem::size_of::<f32>();

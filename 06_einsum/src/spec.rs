//! Reading a spec such as `"bik,bkj->bij"` into a typed [`Spec`], before any operand is seen.
//!
//! The grammar is NumPy's:
//!
//! ```text
//! spec       = subscripts ("," subscripts)* ["->" subscripts]
//! subscripts = (label | "...")*          at most one "..." each
//! label      = "a".."z" | "A".."Z"
//! ```
//!
//! Whitespace anywhere is ignored. Without `->` the output is *implicit*: the `...` dimensions
//! first (if any operand has `...`), then every label that appears exactly once in the whole
//! spec, in alphabetical order — by character code, as NumPy does, so upper case sorts before
//! lower case. `"ij,jk"` therefore means `"ij,jk->ik"`, and `"ba"` means `"ba->ab"`, a
//! transpose.
//!
//! Everything that can be checked without the operands is checked here: characters, arrows,
//! dots, output labels that are repeated or that no operand has, and a `...` in the output with
//! none in the operands. (NumPy reads that last one as zero dimensions; it can only be a
//! mistake, so it is an error here.)

use std::fmt;
use std::str::FromStr;

use crate::error::{EinsumError, Place};

/// One entry of a [`Term`]: a labelled dimension, or the `...` standing for any number of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Subscript {
    /// A dimension named by an ASCII letter.
    Label(char),
    /// `...`: all the dimensions the labels do not name, broadcast across operands.
    Ellipsis,
}

/// The subscripts of one operand, or of the output: `"bik"`, `"...ij"`, `""`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Term {
    subscripts: Vec<Subscript>,
}

impl Term {
    /// The subscripts in order.
    pub fn subscripts(&self) -> &[Subscript] {
        &self.subscripts
    }

    /// The labels in order, `...` left out.
    pub fn labels(&self) -> impl Iterator<Item = char> + '_ {
        self.subscripts
            .iter()
            .filter_map(|subscript| match subscript {
                Subscript::Label(label) => Some(*label),
                Subscript::Ellipsis => None,
            })
    }

    /// Whether the term has a `...`.
    pub fn has_ellipsis(&self) -> bool {
        self.subscripts.contains(&Subscript::Ellipsis)
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for subscript in &self.subscripts {
            match subscript {
                Subscript::Label(label) => write!(f, "{label}")?,
                Subscript::Ellipsis => f.write_str("...")?,
            }
        }
        Ok(())
    }
}

/// A parsed spec: the subscripts of each operand and of the output.
///
/// The output is always known: when the spec has no `->`, [`Spec::parse`] works it out by
/// NumPy's implicit rule. [`Display`](fmt::Display) writes the explicit form.
///
/// ```
/// use matmul_einsum::Spec;
///
/// let spec = Spec::parse("ij, jk").unwrap();
/// assert_eq!(spec.inputs().len(), 2);
/// assert!(!spec.is_explicit());
/// assert_eq!(spec.to_string(), "ij,jk->ik");
/// assert_eq!(Spec::parse("...ij,...jk").unwrap().to_string(), "...ij,...jk->...ik");
/// assert_eq!(Spec::parse("ii").unwrap().to_string(), "ii->"); // a trace
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    source: String,
    inputs: Vec<Term>,
    output: Term,
    explicit: bool,
}

impl Spec {
    /// Parses `spec`, working out the output if it is implicit.
    ///
    /// # Errors
    ///
    /// [`EinsumError::InvalidCharacter`], [`EinsumError::MalformedArrow`],
    /// [`EinsumError::StrayDot`], [`EinsumError::RepeatedEllipsis`],
    /// [`EinsumError::RepeatedOutputLabel`], [`EinsumError::UnknownOutputLabel`] or
    /// naming the position and what was expected.
    pub fn parse(spec: &str) -> Result<Spec, EinsumError> {
        let (inputs, output) = Parser::new(spec).parse()?;
        let explicit = output.is_some();
        let output = match output {
            Some(output) => {
                check_output(spec, &inputs, &output)?;
                output
            }
            None => implicit_output(&inputs),
        };
        Ok(Spec {
            source: spec.to_owned(),
            inputs,
            output,
            explicit,
        })
    }

    /// The spec as it was written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The subscripts of each operand, in order.
    pub fn inputs(&self) -> &[Term] {
        &self.inputs
    }

    /// The output subscripts: as written after `->`, or worked out by the implicit rule.
    pub fn output(&self) -> &Term {
        &self.output
    }

    /// Whether the spec has `->` (an explicit output).
    pub fn is_explicit(&self) -> bool {
        self.explicit
    }
}

impl FromStr for Spec {
    type Err = EinsumError;

    fn from_str(spec: &str) -> Result<Spec, EinsumError> {
        Spec::parse(spec)
    }
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, input) in self.inputs.iter().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            write!(f, "{input}")?;
        }
        write!(f, "->{}", self.output)
    }
}

/// A one-pass reader over the characters of a spec.
struct Parser<'s> {
    spec: &'s str,
    chars: Vec<char>,
    position: usize,
}

impl<'s> Parser<'s> {
    fn new(spec: &'s str) -> Self {
        Parser {
            spec,
            chars: spec.chars().collect(),
            position: 0,
        }
    }

    fn peek(&self, offset: usize) -> Option<char> {
        self.chars.get(self.position + offset).copied()
    }

    /// The operands' terms and the output term (`None` when there is no `->`).
    fn parse(mut self) -> Result<(Vec<Term>, Option<Term>), EinsumError> {
        let mut inputs = Vec::new();
        let mut current = Term::default();
        let mut output: Option<Term> = None;
        while let Some(c) = self.peek(0) {
            let place = match output {
                Some(_) => Place::Output,
                None => Place::Operand(inputs.len()),
            };
            let term = output.as_mut().unwrap_or(&mut current);
            match c {
                c if c.is_ascii_alphabetic() => term.subscripts.push(Subscript::Label(c)),
                c if c.is_whitespace() => {}
                '.' => {
                    self.ellipsis(term, place)?;
                    continue; // `ellipsis` has moved past the dots
                }
                ',' if output.is_none() => inputs.push(std::mem::take(&mut current)),
                '-' if self.peek(1) == Some('>') => {
                    if output.is_some() {
                        return Err(self.arrow("a second '->'"));
                    }
                    inputs.push(std::mem::take(&mut current));
                    output = Some(Term::default());
                    self.position += 1; // the '>'
                }
                '-' => return Err(self.arrow("'-' without '>' after it")),
                '>' => return Err(self.arrow("'>' without '-' before it")),
                found => {
                    return Err(EinsumError::InvalidCharacter {
                        spec: self.spec.to_owned(),
                        position: self.position,
                        found,
                        place,
                    });
                }
            }
            self.position += 1;
        }
        if output.is_none() {
            inputs.push(current);
        }
        Ok((inputs, output))
    }

    /// Reads the `...` at the current position into `term`.
    fn ellipsis(&mut self, term: &mut Term, place: Place) -> Result<(), EinsumError> {
        let dots = (0..3).take_while(|&i| self.peek(i) == Some('.')).count();
        if dots < 3 {
            return Err(EinsumError::StrayDot {
                spec: self.spec.to_owned(),
                position: self.position,
                place,
                found: ".".repeat(dots),
            });
        }
        if term.has_ellipsis() {
            return Err(EinsumError::RepeatedEllipsis {
                spec: self.spec.to_owned(),
                position: self.position,
                place,
            });
        }
        term.subscripts.push(Subscript::Ellipsis);
        self.position += 3;
        Ok(())
    }

    fn arrow(&self, found: &'static str) -> EinsumError {
        EinsumError::MalformedArrow {
            spec: self.spec.to_owned(),
            position: self.position,
            found,
        }
    }
}

/// Checks an explicit output against the operands' subscripts.
fn check_output(spec: &str, inputs: &[Term], output: &Term) -> Result<(), EinsumError> {
    for label in output.labels() {
        let count = output.labels().filter(|&other| other == label).count();
        if count > 1 {
            return Err(EinsumError::RepeatedOutputLabel {
                spec: spec.to_owned(),
                label,
                count,
            });
        }
        if !inputs
            .iter()
            .any(|input| input.labels().any(|l| l == label))
        {
            return Err(EinsumError::UnknownOutputLabel {
                spec: spec.to_owned(),
                label,
            });
        }
    }
    // A `...` in the output when no operand has one stands for zero dimensions, as in NumPy
    // (`np.einsum('ij->...ij', x)` is `x`), so it needs no check here.
    Ok(())
}

/// NumPy's implicit output: `...` if any operand has one, then the labels that appear exactly
/// once, sorted by character code.
fn implicit_output(inputs: &[Term]) -> Term {
    let mut subscripts = Vec::new();
    if inputs.iter().any(Term::has_ellipsis) {
        subscripts.push(Subscript::Ellipsis);
    }
    let mut once: Vec<char> = inputs.iter().flat_map(Term::labels).collect();
    once.sort_unstable();
    let all = once.clone();
    once.dedup();
    once.retain(|&label| all.iter().filter(|&&l| l == label).count() == 1);
    subscripts.extend(once.into_iter().map(Subscript::Label));
    Term { subscripts }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn explicit(spec: &str) -> String {
        Spec::parse(spec).unwrap().to_string()
    }

    #[test]
    fn implicit_outputs_follow_numpy() {
        assert_eq!(explicit("ij,jk"), "ij,jk->ik");
        assert_eq!(explicit("ba"), "ba->ab");
        assert_eq!(explicit("ii"), "ii->");
        assert_eq!(explicit("i,i"), "i,i->");
        assert_eq!(explicit("bA"), "bA->Ab"); // character code order: upper case first
        assert_eq!(explicit("i..."), "i...->...i");
        assert_eq!(explicit(""), "->");
        assert_eq!(explicit(","), ",->");
    }

    #[test]
    fn whitespace_is_ignored() {
        assert_eq!(explicit(" i k ,\tk j -> i j\n"), "ik,kj->ij");
    }

    #[test]
    fn explicit_outputs_are_kept_as_written() {
        let spec = Spec::parse("ij->ji").unwrap();
        assert!(spec.is_explicit());
        assert_eq!(spec.output().to_string(), "ji");
        assert_eq!(explicit("ij->"), "ij->");
        assert_eq!(explicit("...ij->...ji"), "...ij->...ji");
    }

    #[test]
    fn errors_name_the_position() {
        let error = Spec::parse("ij,j1").unwrap_err();
        assert_eq!(
            error,
            EinsumError::InvalidCharacter {
                spec: "ij,j1".into(),
                position: 4,
                found: '1',
                place: Place::Operand(1),
            }
        );
        assert!(matches!(
            Spec::parse("i....").unwrap_err(),
            EinsumError::StrayDot { position: 4, .. }
        ));
        assert!(matches!(
            Spec::parse("......").unwrap_err(),
            EinsumError::RepeatedEllipsis { position: 3, .. }
        ));
        assert!(matches!(
            Spec::parse("i->i->i").unwrap_err(),
            EinsumError::MalformedArrow { position: 4, .. }
        ));
    }
}

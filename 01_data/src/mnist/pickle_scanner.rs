//! The pickle scanner in front of the unpickler: a reader that scans the pickle's opcodes as
//! they stream past and refuses, before `serde-pickle` allocates anything for them, a pickle
//! that nests too deep or is larger than any MNIST file.
//!
//! Why here and not after the fact: `serde-pickle` trusts the file. A `BINBYTES` opcode
//! followed by a 4-byte length makes it read that many bytes into one buffer, a `MARK`
//! reserves a new stack, every opcode can push a value, and it builds nested values
//! recursively (a two-kilobyte file of a million `TUPLE1` opcodes would overflow the stack
//! and abort the process). This reader sees every byte before the unpickler does, so it
//! can check each length field, line and opcode first and fail the read instead:
//!
//! - the whole stream: at most [`MAX_PICKLE_BYTES`]; a length-prefixed argument must fit in
//!   what is left of that budget, so a claimed 3 GiB object is refused from its header;
//! - a text argument (the lines of `GLOBAL`, `INT`, ...): at most [`MAX_LINE_BYTES`];
//! - the size of any value the unpickler builds, with each memo reference counted at the
//!   size of what it refers to (`serde-pickle` copies it): at most [`MAX_PICKLE_BYTES`].
//!   The scanner keeps the stack and the memo as sizes, one number per value;
//! - opcodes: at most [`MAX_OPCODES`];
//! - container-building or calling opcodes: at most [`MAX_CONTAINERS`]. A value can nest at
//!   most one level deeper per such opcode, so counting them bounds the depth without
//!   building anything. The published layout has 48 of them, a Python 3 re-pickle at
//!   protocol 2 has 62; 256 is a depth that the unpickler handles on a 2 MiB thread stack
//!   (it overflows one near 1,000).
//!
//! The scanner only reads opcodes and skips their arguments, so it costs nothing next to
//! decompression. What it knows of each opcode — its name, its byte, what follows it in the
//! stream, what it does to the stack — is one row of [`OPCODES`], the table of Python's
//! `pickletools`; both halves of the scan (arguments, stack sizes) read that row. On an opcode
//! it does not know it stops scanning opcodes (the unpickler reports it) but still counts the
//! stream's bytes.

use std::collections::HashMap;
use std::io::{self, Read};

/// The most bytes a pickle may have: 256 MiB, about 1.2 times the published file's
/// 220 MB (its float32 pixels alone are 219,520,000 bytes).
pub const MAX_PICKLE_BYTES: u64 = 256 << 20;

/// The most bytes a text argument (one line, as after `GLOBAL` or `INT`) may have; MNIST's
/// longest is a module name.
pub const MAX_LINE_BYTES: u64 = 4096;

/// The most opcodes a pickle may have. MNIST's layouts have 150 to 240, whatever the
/// number of images: each array's data is one opcode.
pub const MAX_OPCODES: u32 = 4096;

/// The most container-building or calling opcodes a pickle may have.
pub(crate) const MAX_CONTAINERS: u32 = 256;

/// What follows an opcode's byte in the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Argument {
    /// Nothing.
    Nothing,
    /// STOP: the end of the pickle; what follows is passed through unscanned.
    Stop,
    /// A fixed number of bytes.
    Fixed(u8),
    /// A little-endian length field of `bytes` bytes (`signed`: a negative one is an error),
    /// then that many bytes.
    Length { bytes: u8, signed: bool },
    /// Newline-terminated text lines.
    Lines(u8),
    /// A memo index of `bytes` little-endian bytes: store the stack top there (`put`), or
    /// push a copy of what is stored there.
    MemoIndex { put: bool, bytes: u8 },
    /// The same with protocol 0's decimal index on a line of its own.
    MemoLine { put: bool },
    /// MEMOIZE: store the stack top at the next memo index, as the unpickler counts them.
    Memoize,
}

/// What an opcode does to the unpickler's stack, counted in sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Effect {
    /// Pushes a new value of one byte (plus its argument, added when the argument is read).
    Push,
    /// Changes nothing on the stack (or handles the memo through its argument).
    Nothing,
    /// MARK: reserves a new stack.
    Mark,
    /// POP: drops the top.
    Pop,
    /// POP_MARK: drops everything down to the last MARK.
    PopMark,
    /// DUP: pushes a copy of the top.
    Dup,
    /// Builds one value from the items since the last MARK (a tuple, list, dict, ...).
    FromMark,
    /// Pops this many values and pushes one of their total size plus one.
    Combine(u8),
    /// Adds this many values (1 or 2) into the value below them.
    AddTo(u8),
    /// Adds the items since the last MARK into the value below the MARK.
    AddFromMark,
}

/// One opcode of the pickle protocols 0 to 5, as Python's `pickletools` describes it.
#[derive(Clone, Copy, Debug)]
struct Opcode {
    /// `pickletools`' name.
    name: &'static str,
    /// Its byte in the stream.
    byte: u8,
    /// What follows it.
    argument: Argument,
    /// What it does to the stack.
    effect: Effect,
    /// Whether it builds a container or calls something: each can nest the stack top one
    /// level deeper, and they are counted against [`MAX_CONTAINERS`].
    nests: bool,
}

/// A length-prefixed argument with an unsigned length field of `bytes` bytes.
const fn length(bytes: u8) -> Argument {
    Argument::Length {
        bytes,
        signed: false,
    }
}

/// The same with a signed length field (a negative one is an error).
const fn signed_length(bytes: u8) -> Argument {
    Argument::Length {
        bytes,
        signed: true,
    }
}

/// A row of [`OPCODES`].
const fn op(
    name: &'static str,
    byte: u8,
    argument: Argument,
    effect: Effect,
    nests: bool,
) -> Opcode {
    Opcode {
        name,
        byte,
        argument,
        effect,
        nests,
    }
}

use Argument::{Fixed, Length, Lines, MemoIndex, MemoLine, Memoize, Nothing, Stop};
use Effect::{AddFromMark, AddTo, Combine, Dup, FromMark, Mark, Pop, PopMark, Push};

/// Every opcode of pickle protocols 0 to 5: name, byte, argument, stack effect, whether it
/// nests.
#[rustfmt::skip]
const OPCODES: [Opcode; 68] = [
    // Protocol 0 and 1.
    op("MARK",              b'(', Nothing,                             Mark,              false),
    op("STOP",              b'.', Stop,                                Effect::Nothing,   false),
    op("POP",               b'0', Nothing,                             Pop,               false),
    op("POP_MARK",          b'1', Nothing,                             PopMark,           false),
    op("DUP",               b'2', Nothing,                             Dup,               false),
    op("FLOAT",             b'F', Lines(1),                            Push,              false),
    op("INT",               b'I', Lines(1),                            Push,              false),
    op("BININT",            b'J', Fixed(4),                            Push,              false),
    op("BININT1",           b'K', Fixed(1),                            Push,              false),
    op("LONG",              b'L', Lines(1),                            Push,              false),
    op("BININT2",           b'M', Fixed(2),                            Push,              false),
    op("NONE",              b'N', Nothing,                             Push,              false),
    op("PERSID",            b'P', Lines(1),                            Push,              false),
    op("BINPERSID",         b'Q', Nothing,                             Combine(1),        false),
    op("REDUCE",            b'R', Nothing,                             Combine(2),        true),
    op("STRING",            b'S', Lines(1),                            Push,              false),
    op("BINSTRING",         b'T', signed_length(4),                    Push,              false),
    op("SHORT_BINSTRING",   b'U', length(1),                           Push,              false),
    op("UNICODE",           b'V', Lines(1),                            Push,              false),
    op("BINUNICODE",        b'X', length(4),                           Push,              false),
    op("APPEND",            b'a', Nothing,                             AddTo(1),          true),
    op("BUILD",             b'b', Nothing,                             AddTo(1),          true),
    op("GLOBAL",            b'c', Lines(2),                            Push,              false),
    op("DICT",              b'd', Nothing,                             FromMark,          true),
    op("EMPTY_DICT",        b'}', Nothing,                             Push,              true),
    op("APPENDS",           b'e', Nothing,                             AddFromMark,       true),
    op("GET",               b'g', MemoLine { put: false },             Effect::Nothing,   false),
    op("BINGET",            b'h', MemoIndex { put: false, bytes: 1 },  Effect::Nothing,   false),
    op("INST",              b'i', Lines(2),                            FromMark,          false),
    op("LONG_BINGET",       b'j', MemoIndex { put: false, bytes: 4 },  Effect::Nothing,   false),
    op("LIST",              b'l', Nothing,                             FromMark,          true),
    op("EMPTY_LIST",        b']', Nothing,                             Push,              true),
    op("OBJ",               b'o', Nothing,                             FromMark,          true),
    op("PUT",               b'p', MemoLine { put: true },              Effect::Nothing,   false),
    op("BINPUT",            b'q', MemoIndex { put: true, bytes: 1 },   Effect::Nothing,   false),
    op("LONG_BINPUT",       b'r', MemoIndex { put: true, bytes: 4 },   Effect::Nothing,   false),
    op("SETITEM",           b's', Nothing,                             AddTo(2),          true),
    op("TUPLE",             b't', Nothing,                             FromMark,          true),
    op("EMPTY_TUPLE",       b')', Nothing,                             Push,              true),
    op("SETITEMS",          b'u', Nothing,                             AddFromMark,       true),
    op("BINFLOAT",          b'G', Fixed(8),                            Push,              false),
    // Protocol 2.
    op("PROTO",             0x80, Fixed(1),                            Effect::Nothing,   false),
    op("NEWOBJ",            0x81, Nothing,                             Combine(2),        true),
    op("EXT1",              0x82, Fixed(1),                            Push,              false),
    op("EXT2",              0x83, Fixed(2),                            Push,              false),
    op("EXT4",              0x84, Fixed(4),                            Push,              false),
    op("TUPLE1",            0x85, Nothing,                             Combine(1),        true),
    op("TUPLE2",            0x86, Nothing,                             Combine(2),        true),
    op("TUPLE3",            0x87, Nothing,                             Combine(3),        true),
    op("NEWTRUE",           0x88, Nothing,                             Push,              false),
    op("NEWFALSE",          0x89, Nothing,                             Push,              false),
    op("LONG1",             0x8a, length(1),                           Push,              false),
    op("LONG4",             0x8b, signed_length(4),                    Push,              false),
    // Protocol 3.
    op("BINBYTES",          b'B', length(4),                           Push,              false),
    op("SHORT_BINBYTES",    b'C', length(1),                           Push,              false),
    // Protocol 4.
    op("SHORT_BINUNICODE",  0x8c, length(1),                           Push,              false),
    op("BINUNICODE8",       0x8d, length(8),                           Push,              false),
    op("BINBYTES8",         0x8e, length(8),                           Push,              false),
    op("EMPTY_SET",         0x8f, Nothing,                             Push,              true),
    op("ADDITEMS",          0x90, Nothing,                             AddFromMark,       true),
    op("FROZENSET",         0x91, Nothing,                             FromMark,          true),
    op("NEWOBJ_EX",         0x92, Nothing,                             Combine(3),        true),
    op("STACK_GLOBAL",      0x93, Nothing,                             Combine(2),        false),
    op("MEMOIZE",           0x94, Memoize,                             Effect::Nothing,   false),
    op("FRAME",             0x95, Fixed(8),                            Effect::Nothing,   false),
    // Protocol 5.
    op("BYTEARRAY8",        0x96, length(8),                           Push,              false),
    op("NEXT_BUFFER",       0x97, Nothing,                             Push,              false),
    op("READONLY_BUFFER",   0x98, Nothing,                             Effect::Nothing,   false),
];

/// For each byte, its row of [`OPCODES`] plus one (0: not an opcode).
const BY_BYTE: [u8; 256] = {
    let mut by_byte = [0u8; 256];
    let mut row = 0;
    while row < OPCODES.len() {
        let byte = OPCODES[row].byte as usize;
        assert!(by_byte[byte] == 0, "two opcodes with one byte");
        by_byte[byte] = row as u8 + 1;
        row += 1;
    }
    by_byte
};

/// The opcode `byte` stands for, if any.
fn opcode(byte: u8) -> Option<&'static Opcode> {
    match BY_BYTE[byte as usize] {
        0 => None,
        row => Some(&OPCODES[row as usize - 1]),
    }
}

/// Why the scanner stopped the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// More than [`MAX_CONTAINERS`] container-building opcodes.
    Nesting {
        /// The opcode that passed the limit (`pickletools`' name).
        opcode: &'static str,
    },
    /// More than [`MAX_OPCODES`] opcodes.
    Opcodes,
    /// A length field asks for `length` bytes at byte `offset`, past [`MAX_PICKLE_BYTES`].
    Object { length: u64, offset: u64 },
    /// A text argument at byte `offset` runs past [`MAX_LINE_BYTES`].
    Line { offset: u64 },
    /// The stream goes on past [`MAX_PICKLE_BYTES`].
    Stream,
    /// A value would be built of more than [`MAX_PICKLE_BYTES`] bytes, counting each memo
    /// reference as the copy the unpickler makes of it.
    Copies { bytes: u64 },
}

/// A reader that passes bytes through while scanning them as pickle opcodes.
pub(crate) struct PickleScanner<R> {
    pub(crate) inner: R,
    state: State,
    containers: u32,
    opcodes: u32,
    /// Bytes scanned so far: the offset in the pickle of the next byte to scan.
    offset: u64,
    /// Bytes passed to the reader so far (scanned or, after `Done`, not).
    passed: u64,
    /// Set once a limit is passed; every later read fails too.
    pub(crate) refusal: Option<Refusal>,
    /// The unpickler's stack as sizes: each value's bytes, with every memo reference in it
    /// counted at the full size of what it refers to; `None` is a MARK.
    stack: Vec<Option<u64>>,
    /// The size of each memo entry.
    memo: HashMap<u64, u64>,
}

#[derive(Clone, Copy, Debug)]
enum State {
    /// The next byte is an opcode.
    Opcode,
    /// Skip this many argument bytes.
    Skip(u64),
    /// Read a little-endian length of `need` bytes (signed if `signed`), then skip that many.
    Length {
        value: u64,
        got: u8,
        need: u8,
        signed: bool,
    },
    /// Skip `lines` newline-terminated lines; `seen` bytes of the current one are passed.
    Lines { lines: u8, seen: u64 },
    /// Read a memo index of `need` little-endian bytes, then store into (`put`) or fetch
    /// from that memo entry.
    MemoIndex {
        put: bool,
        value: u64,
        got: u8,
        need: u8,
    },
    /// The same, for protocol 0's decimal index on a line of its own; `seen` bytes so far.
    MemoLine { put: bool, value: u64, seen: u64 },
    /// After STOP, or after an opcode this scanner does not know: pass bytes through.
    Done,
}

impl<R: Read> PickleScanner<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            state: State::Opcode,
            containers: 0,
            opcodes: 0,
            offset: 0,
            passed: 0,
            refusal: None,
            stack: Vec::new(),
            memo: HashMap::new(),
        }
    }

    /// Scans `data`; an error once the pickle passes a limit.
    fn scan(&mut self, mut data: &[u8]) -> Result<(), Refusal> {
        while !data.is_empty() {
            let before = data.len();
            match self.state {
                State::Done => return Ok(()),
                State::Skip(n) => {
                    let k = n.min(data.len() as u64);
                    data = &data[k as usize..];
                    self.state = if n == k {
                        State::Opcode
                    } else {
                        State::Skip(n - k)
                    };
                }
                State::Lines { lines, seen } => {
                    let end = data.iter().position(|&b| b == b'\n');
                    let length = seen + end.unwrap_or(data.len()) as u64;
                    if length > MAX_LINE_BYTES {
                        return Err(Refusal::Line {
                            offset: self.offset - seen,
                        });
                    }
                    self.state = match end {
                        Some(end) => {
                            data = &data[end + 1..];
                            self.grow_top(length)?;
                            if lines == 1 {
                                State::Opcode
                            } else {
                                State::Lines {
                                    lines: lines - 1,
                                    seen: 0,
                                }
                            }
                        }
                        None => {
                            data = &[];
                            State::Lines {
                                lines,
                                seen: length,
                            }
                        }
                    };
                }
                State::Length {
                    mut value,
                    mut got,
                    need,
                    signed,
                } => {
                    read_little_endian(&mut value, &mut got, need, &mut data);
                    self.state = if got < need {
                        State::Length {
                            value,
                            got,
                            need,
                            signed,
                        }
                    } else if signed && value & 0x8000_0000 != 0 {
                        State::Done // a negative length: the unpickler reports it
                    } else {
                        // The argument starts after the length field: it must fit in what
                        // is left of the budget, checked before the unpickler, which reads
                        // the length from these same bytes, can allocate for it.
                        let start = self.offset + (before - data.len()) as u64;
                        if value > MAX_PICKLE_BYTES.saturating_sub(start) {
                            return Err(Refusal::Object {
                                length: value,
                                offset: start,
                            });
                        }
                        self.grow_top(value)?;
                        State::Skip(value)
                    };
                }
                State::MemoIndex {
                    put,
                    mut value,
                    mut got,
                    need,
                } => {
                    read_little_endian(&mut value, &mut got, need, &mut data);
                    self.state = if got < need {
                        State::MemoIndex {
                            put,
                            value,
                            got,
                            need,
                        }
                    } else {
                        self.memo_access(put, value)?;
                        State::Opcode
                    };
                }
                State::MemoLine {
                    put,
                    mut value,
                    mut seen,
                } => {
                    let mut ended = false;
                    while let Some((&byte, rest)) = data.split_first() {
                        data = rest;
                        if byte == b'\n' {
                            ended = true;
                            break;
                        }
                        seen += 1;
                        if seen > MAX_LINE_BYTES {
                            return Err(Refusal::Line {
                                offset: self.offset + (before - data.len()) as u64 - seen,
                            });
                        }
                        // Not a digit: the unpickler reports it; any index will do here.
                        value = value
                            .saturating_mul(10)
                            .saturating_add(u64::from(byte.wrapping_sub(b'0')));
                    }
                    self.state = if ended {
                        self.memo_access(put, value)?;
                        State::Opcode
                    } else {
                        State::MemoLine { put, value, seen }
                    };
                }
                State::Opcode => {
                    let opcode = data[0];
                    data = &data[1..];
                    self.state = self.opcode(opcode)?;
                }
            }
            self.offset += (before - data.len()) as u64;
        }
        Ok(())
    }

    /// Counts `byte`'s opcode against the limits and applies its effect on the stack; returns
    /// what follows it.
    fn opcode(&mut self, byte: u8) -> Result<State, Refusal> {
        self.opcodes += 1;
        let Some(opcode) = opcode(byte) else {
            if self.opcodes > MAX_OPCODES {
                return Err(Refusal::Opcodes);
            }
            return Ok(State::Done); // the unpickler reports it
        };
        self.stack_effect(opcode.effect)?;
        if opcode.argument == Stop {
            return Ok(State::Done);
        }
        if opcode.nests {
            self.containers += 1;
            if self.containers > MAX_CONTAINERS {
                return Err(Refusal::Nesting {
                    opcode: opcode.name,
                });
            }
        } else if self.opcodes > MAX_OPCODES {
            // Every other opcode can still push a value or reserve a stack (MARK).
            return Err(Refusal::Opcodes);
        }
        Ok(match opcode.argument {
            Nothing | Stop => State::Opcode,
            Fixed(bytes) => State::Skip(u64::from(bytes)),
            Length { bytes, signed } => State::Length {
                value: 0,
                got: 0,
                need: bytes,
                signed,
            },
            Lines(lines) => State::Lines { lines, seen: 0 },
            MemoIndex { put, bytes } => State::MemoIndex {
                put,
                value: 0,
                got: 0,
                need: bytes,
            },
            MemoLine { put } => State::MemoLine {
                put,
                value: 0,
                seen: 0,
            },
            Memoize => {
                self.memo_access(true, self.memo.len() as u64)?;
                State::Opcode
            }
        })
    }
}

impl<R> PickleScanner<R> {
    /// Applies an opcode's `effect` to the stack of sizes: a new value is one byte plus its
    /// argument (added when the argument is read), a container or call the sum of what it
    /// takes. A size past [`MAX_PICKLE_BYTES`] is refused.
    fn stack_effect(&mut self, effect: Effect) -> Result<(), Refusal> {
        match effect {
            Push => self.push(1)?,
            Effect::Nothing => {}
            Mark => self.stack.push(None),
            Pop => {
                self.stack.pop();
            }
            PopMark => {
                self.pop_to_mark();
            }
            Dup => {
                let top = self.stack.last().copied().flatten().unwrap_or(0);
                self.push(top)?;
            }
            FromMark => {
                let items = self.pop_to_mark();
                self.push(items.saturating_add(1))?;
            }
            Combine(n) => self.combine(usize::from(n))?,
            AddTo(n) => {
                let mut items = 0u64;
                for _ in 0..n {
                    items = items.saturating_add(self.pop());
                }
                self.grow_top(items)?;
            }
            AddFromMark => {
                let items = self.pop_to_mark();
                self.grow_top(items)?;
            }
        }
        Ok(())
    }

    /// Stores the stack top's size as memo entry `index` (`put`), or pushes a reference to
    /// it, which the unpickler will copy in full.
    fn memo_access(&mut self, put: bool, index: u64) -> Result<(), Refusal> {
        if put {
            let top = self.stack.last().copied().flatten().unwrap_or(0);
            self.memo.insert(index, top);
            Ok(())
        } else {
            let size = self.memo.get(&index).copied().unwrap_or(0);
            self.push(size)
        }
    }

    fn push(&mut self, size: u64) -> Result<(), Refusal> {
        self.stack.push(Some(size));
        self.check(size)
    }

    /// Pops one value (a MARK, or nothing, counts as empty).
    fn pop(&mut self) -> u64 {
        self.stack.pop().flatten().unwrap_or(0)
    }

    /// Pops the values down to and including the last MARK; returns their total size.
    fn pop_to_mark(&mut self) -> u64 {
        let mut total = 0u64;
        while let Some(Some(size)) = self.stack.pop() {
            total = total.saturating_add(size);
        }
        total
    }

    /// Pops `n` values and pushes one of their total size plus one.
    fn combine(&mut self, n: usize) -> Result<(), Refusal> {
        let mut total = 1u64;
        for _ in 0..n {
            total = total.saturating_add(self.pop());
        }
        self.push(total)
    }

    /// Adds `bytes` to the value on top of the stack.
    fn grow_top(&mut self, bytes: u64) -> Result<(), Refusal> {
        if let Some(Some(top)) = self.stack.last_mut() {
            *top = top.saturating_add(bytes);
            let size = *top;
            return self.check(size);
        }
        Ok(())
    }

    fn check(&self, size: u64) -> Result<(), Refusal> {
        if size > MAX_PICKLE_BYTES {
            Err(Refusal::Copies { bytes: size })
        } else {
            Ok(())
        }
    }
}

/// Reads the next bytes of a little-endian field of `need` bytes, of which `got` are in
/// `value` already, from the front of `data`: as many as `data` has, up to `need`. The field
/// may be split across reads, so the caller keeps `value` and `got` in its state between them.
fn read_little_endian(value: &mut u64, got: &mut u8, need: u8, data: &mut &[u8]) {
    while *got < need
        && let Some((&byte, rest)) = data.split_first()
    {
        *value |= u64::from(byte) << (8 * *got);
        *got += 1;
        *data = rest;
    }
}

impl<R: Read> Read for PickleScanner<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let refused = |refusal: Refusal| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the pickle passed a limit: {refusal:?}"),
            )
        };
        if let Some(refusal) = self.refusal {
            return Err(refused(refusal));
        }
        let n = self.inner.read(buf)?;
        self.passed += n as u64;
        let checked = if self.passed > MAX_PICKLE_BYTES {
            Err(Refusal::Stream)
        } else {
            self.scan(&buf[..n])
        };
        checked.map_err(|refusal| {
            self.refusal = Some(refusal);
            refused(refusal)
        })?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(bytes: &[u8], chunk: usize) -> Result<u32, Refusal> {
        let mut scanner = PickleScanner::new(&b""[..]);
        for piece in bytes.chunks(chunk) {
            scanner.scan(piece)?;
        }
        Ok(scanner.containers)
    }

    #[test]
    fn the_opcode_table_matches_pickletools() {
        // Python 3.12's pickletools.opcodes: 68 opcodes, bytes and names.
        assert_eq!(OPCODES.len(), 68);
        for (name, byte) in [
            ("MARK", b'('),
            ("BINUNICODE8", 0x8d),
            ("LONG_BINPUT", b'r'),
            ("READONLY_BUFFER", 0x98),
            ("FRAME", 0x95),
        ] {
            assert_eq!(opcode(byte).map(|op| op.name), Some(name));
        }
        assert!(opcode(0xff).is_none() && opcode(b'z').is_none());
        // Every opcode that nests takes no argument: it builds from what is on the stack.
        for op in OPCODES.iter().filter(|op| op.nests) {
            assert_eq!(op.argument, Nothing, "{}", op.name);
        }
    }

    #[test]
    fn skips_arguments_whatever_the_read_boundaries() {
        // PROTO 2, BINSTRING of 5 bytes that look like TUPLE1 opcodes, GLOBAL with two
        // lines, BINGET, TUPLE2, BINUNICODE8 of 3 bytes, TUPLE3, STOP, then junk.
        let mut pickle =
            b"\x80\x02T\x05\x00\x00\x00\x85\x85\x85\x85\x85cnumpy\ndtype\nh\x01\x86".to_vec();
        pickle.extend_from_slice(b"\x8d\x03\x00\x00\x00\x00\x00\x00\x00\x85\x85\x85\x87.\x85\x85");
        for chunk in 1..pickle.len() {
            assert_eq!(scan_all(&pickle, chunk), Ok(2), "chunk {chunk}");
        }
    }

    #[test]
    fn stops_deep_nesting() {
        let mut pickle = b"\x80\x02K\x00".to_vec();
        pickle.extend(std::iter::repeat_n(0x85, 1_000_000));
        let nesting = Refusal::Nesting { opcode: "TUPLE1" };
        assert_eq!(scan_all(&pickle, 8192), Err(nesting));
        let mut scanner = PickleScanner::new(&pickle[..]);
        let mut sink = Vec::new();
        assert_eq!(
            scanner.read_to_end(&mut sink).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert_eq!(scanner.refusal, Some(nesting));
    }

    #[test]
    fn refuses_a_length_past_the_budget_from_the_length_field_alone() {
        // BINUNICODE8 claiming 2^40 bytes, with no data after it.
        let pickle = b"\x80\x04\x8d\x00\x00\x00\x00\x00\x01\x00\x00";
        for chunk in 1..pickle.len() {
            assert_eq!(
                scan_all(pickle, chunk),
                Err(Refusal::Object {
                    length: 1 << 40,
                    offset: 11
                }),
                "chunk {chunk}"
            );
        }
        // The same length field, small enough: skipped, not refused.
        assert_eq!(scan_all(b"\x80\x03B\x02\x00\x00\x00..", 3), Ok(0));
    }

    #[test]
    fn refuses_long_lines_and_many_opcodes() {
        let mut pickle = b"\x80\x02cnumpy\n".to_vec();
        pickle.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES as usize + 1));
        assert_eq!(scan_all(&pickle, 100), Err(Refusal::Line { offset: 9 }));
        pickle.truncate(pickle.len() - 1);
        pickle.push(b'\n');
        assert_eq!(scan_all(&pickle, 100), Ok(0));

        // PROTO, then NONE and POP: exactly the most opcodes allowed, then one more.
        let mut pickle = b"\x80\x02".to_vec();
        pickle.extend(b"N0".iter().cycle().take(MAX_OPCODES as usize - 1));
        assert_eq!(scan_all(&pickle, 4096), Ok(0));
        pickle.push(b'N');
        assert_eq!(scan_all(&pickle, 4096), Err(Refusal::Opcodes));
    }

    #[test]
    fn refuses_a_stream_past_the_budget() {
        // After STOP the scanner passes bytes through, but still counts them.
        let stream = std::io::repeat(b'.').take(MAX_PICKLE_BYTES + 1);
        let mut scanner = PickleScanner::new(stream);
        let error = io::copy(&mut scanner, &mut io::sink()).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert_eq!(scanner.refusal, Some(Refusal::Stream));
    }

    /// Runs `head`, `length` zero bytes and `tail` through a scanner; returns its refusal.
    fn refusal_of(head: &[u8], length: u64, tail: &[u8]) -> Option<Refusal> {
        let stream = head.chain(io::repeat(0).take(length)).chain(tail);
        let mut scanner = PickleScanner::new(stream);
        let _ = io::copy(&mut scanner, &mut io::sink());
        scanner.refusal
    }

    #[test]
    fn counts_each_memo_reference_at_the_size_it_refers_to() {
        // BINBYTES8 of 100 MiB, LONG_BINPUT 7, MARK, then references to entry 7 through
        // LONG_BINGET and protocol 0's GET, and LIST.
        let length: u64 = 100 << 20;
        let head = [&[0x80, 4, 0x8e][..], &length.to_le_bytes()].concat();
        let two = b"r\x07\x00\x00\x00(j\x07\x00\x00\x00g7\nl.";
        assert_eq!(refusal_of(&head, length, two), None);
        let three = b"r\x07\x00\x00\x00(j\x07\x00\x00\x00g7\nj\x07\x00\x00\x00l.";
        // Three copies, plus a byte for each of the list and the four values in it.
        assert_eq!(
            refusal_of(&head, length, three),
            Some(Refusal::Copies {
                bytes: 3 * (length + 1) + 1
            })
        );
        // A reference to an entry that does not exist counts as nothing (the unpickler
        // reports it).
        assert_eq!(refusal_of(&head, length, b"(h\x09h\x09l."), None);
    }
}

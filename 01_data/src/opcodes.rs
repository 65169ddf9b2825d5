//! A guard in front of the unpickler: it scans the opcodes as they stream past and stops
//! a pickle that nests deeper than any MNIST layout.
//!
//! `serde-pickle` builds its values recursively, so a two-kilobyte file of a million
//! `TUPLE1` opcodes would overflow the stack and abort the process. A value can nest at
//! most one level deeper per opcode that builds a container or calls something, so
//! counting those opcodes bounds the depth without building anything. The published layout
//! has 48 of them, a Python 3 re-pickle at protocol 2 has 62; the limit is 256, a depth
//! that the unpickler handles on a 2 MiB thread stack (it overflows one near 1,000).
//!
//! The scanner only reads opcodes and skips their arguments, so it costs nothing next to
//! decompression. On an opcode it does not know it stops scanning and leaves the error to
//! the unpickler.
//!
//! One attack it does not stop: `serde-pickle` copies a memoized value for each reference
//! to it, so a crafted file whose memo entries refer to each other can make it allocate
//! without bound. A downloaded file is MD5-checked before it is read.

use std::io::{self, Read};

/// The most container-building or calling opcodes a pickle may have.
pub(crate) const MAX_CONTAINERS: u32 = 256;

/// A reader that passes bytes through while scanning them as pickle opcodes.
pub(crate) struct Guard<R> {
    pub(crate) inner: R,
    state: State,
    containers: u32,
    /// Set once the limit is passed; every later read fails too.
    pub(crate) tripped: bool,
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
    /// Skip this many newline-terminated lines.
    Lines(u8),
    /// After STOP, or after an opcode this scanner does not know: pass bytes through.
    Done,
}

impl<R: Read> Guard<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            state: State::Opcode,
            containers: 0,
            tripped: false,
        }
    }

    /// Scans `data`; an error once the pickle has too many container opcodes.
    fn scan(&mut self, mut data: &[u8]) -> Result<(), ()> {
        while !data.is_empty() {
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
                State::Lines(lines) => match data.iter().position(|&b| b == b'\n') {
                    Some(end) => {
                        data = &data[end + 1..];
                        self.state = if lines == 1 {
                            State::Opcode
                        } else {
                            State::Lines(lines - 1)
                        };
                    }
                    None => data = &[],
                },
                State::Length {
                    mut value,
                    mut got,
                    need,
                    signed,
                } => {
                    while got < need && !data.is_empty() {
                        value |= u64::from(data[0]) << (8 * got);
                        got += 1;
                        data = &data[1..];
                    }
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
                        State::Skip(value)
                    };
                }
                State::Opcode => {
                    let opcode = data[0];
                    data = &data[1..];
                    self.state = self.opcode(opcode)?;
                }
            }
        }
        Ok(())
    }

    /// What follows `opcode` (pickle protocols 0 to 5, as in Python's `pickletools`).
    fn opcode(&mut self, opcode: u8) -> Result<State, ()> {
        let length = |need, signed| State::Length {
            value: 0,
            got: 0,
            need,
            signed,
        };
        Ok(match opcode {
            b'.' => State::Done,
            // Opcodes that build a container or call something: each can nest the stack
            // top one level deeper.
            b')' | b']' | b'}' | 0x8f | 0x85 | 0x86 | 0x87 | b't' | b'l' | b'd' | 0x91 | b'a'
            | b'e' | b's' | b'u' | 0x90 | b'R' | b'b' | b'o' | 0x81 | 0x92 => {
                self.containers += 1;
                if self.containers > MAX_CONTAINERS {
                    return Err(());
                }
                State::Opcode
            }
            // No argument.
            b'(' | b'0' | b'1' | b'2' | b'N' | 0x88 | 0x89 | 0x93 | 0x94 | 0x97 | 0x98 | b'Q' => {
                State::Opcode
            }
            // Fixed-size arguments.
            0x80 | b'K' | b'q' | b'h' | 0x82 => State::Skip(1),
            b'M' | 0x83 => State::Skip(2),
            b'J' | b'r' | b'j' | 0x84 => State::Skip(4),
            b'G' | 0x95 => State::Skip(8),
            // Length-prefixed arguments.
            b'U' | b'C' | 0x8c | 0x8a => length(1, false),
            b'T' | 0x8b => length(4, true),
            b'B' | b'X' => length(4, false),
            0x8e | 0x8d | 0x96 => length(8, false),
            // Text arguments, one or two lines.
            b'I' | b'L' | b'F' | b'S' | b'V' | b'p' | b'g' | b'P' => State::Lines(1),
            b'c' | b'i' => State::Lines(2),
            _ => State::Done,
        })
    }
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let tripped = || {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "more than {MAX_CONTAINERS} container opcodes: nested deeper than any MNIST pickle"
                ),
            )
        };
        if self.tripped {
            return Err(tripped());
        }
        let n = self.inner.read(buf)?;
        if self.scan(&buf[..n]).is_err() {
            self.tripped = true;
            return Err(tripped());
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(bytes: &[u8], chunk: usize) -> Result<u32, ()> {
        let mut guard = Guard::new(&b""[..]);
        for piece in bytes.chunks(chunk) {
            guard.scan(piece)?;
        }
        Ok(guard.containers)
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
        assert!(scan_all(&pickle, 8192).is_err());
        let mut guard = Guard::new(&pickle[..]);
        let mut sink = Vec::new();
        assert_eq!(
            guard.read_to_end(&mut sink).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert!(guard.tripped);
    }
}

//! The value format (see objstore/_format.py, which documents it byte by
//! byte and is the reference): the fast paths of reading and writing it.
//! Anything these do not handle (malformed metadata, a newer version,
//! formats they do not know) goes to the Python implementation, which
//! raises the documented errors.

pub const MAGIC: &[u8; 4] = b"OSPY";
pub const VERSION: u8 = 1;
pub const KIND_BYTES: u8 = 1;
pub const KIND_BYTEARRAY: u8 = 2;
pub const KIND_MEMORYVIEW: u8 = 3;
pub const KIND_NDARRAY: u8 = 4;
pub const KIND_PICKLE5: u8 = 5;
pub const HEADER_LEN: usize = 8;
/// The most dimensions a memoryview (PyBUF_MAX_NDIM) or an ndarray has.
pub const MAX_NDIM: usize = 64;

pub const META_BYTES: [u8; 8] = [b'O', b'S', b'P', b'Y', VERSION, KIND_BYTES, 0, 0];
pub const META_BYTEARRAY: [u8; 8] = [b'O', b'S', b'P', b'Y', VERSION, KIND_BYTEARRAY, 0, 0];

/// What a metadata blob says, as far as the fast paths go.
pub enum Parsed<'a> {
    /// Not ours (no magic): the data, raw.
    Foreign,
    Bytes,
    ByteArray,
    MemoryView {
        format: &'a [u8],
        itemsize: usize,
        shape: Vec<isize>,
    },
    NdArray {
        fortran: bool,
        dtype_key: &'a [u8],
        shape: Vec<isize>,
        hint: u16,
    },
    Pickle5 {
        stream_len: usize,
        table: Vec<(usize, usize)>,
    },
    /// For the Python implementation (an error, or a case not handled here).
    Slow,
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.b.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn shape(&mut self, ndim: usize) -> Option<Vec<isize>> {
        let mut v = Vec::with_capacity(ndim);
        for _ in 0..ndim {
            v.push(isize::try_from(self.u64()?).ok()?);
        }
        Some(v)
    }
}

/// Product of `shape` times `itemsize`, if it does not overflow.
pub fn nbytes(shape: &[isize], itemsize: usize) -> Option<usize> {
    shape.iter().try_fold(itemsize, |acc, &d| acc.checked_mul(usize::try_from(d).ok()?))
}

/// Whether numpy can make an array of this shape and item size: the
/// product of the item size and the non-zero dimensions fits in intp.
pub fn fits_numpy(shape: &[isize], itemsize: usize) -> bool {
    shape
        .iter()
        .try_fold(itemsize, |acc, &d| acc.checked_mul(usize::try_from(d.max(1)).ok()?))
        .is_some_and(|n| n <= isize::MAX as usize)
}

/// Item size of a native single-character struct format that
/// memoryview.cast() accepts (the only ones the writer stores).
pub fn native_itemsize(format: &[u8]) -> Option<usize> {
    let size = match format {
        b"c" | b"b" | b"B" | b"?" => 1,
        b"h" | b"H" | b"e" => 2,
        b"i" | b"I" | b"f" => 4,
        b"l" | b"L" | b"q" | b"Q" | b"n" | b"N" | b"d" | b"P" => 8,
        _ => return None,
    };
    Some(size)
}

pub fn parse(meta: &[u8], data_len: usize) -> Parsed<'_> {
    if meta.len() < HEADER_LEN || &meta[..4] != MAGIC {
        return Parsed::Foreign;
    }
    parse_ours(meta, data_len).unwrap_or(Parsed::Slow)
}

fn parse_ours(meta: &[u8], data_len: usize) -> Option<Parsed<'_>> {
    if meta[4] != VERSION {
        return None;
    }
    let kind = meta[5];
    let hint = u16::from_le_bytes([meta[6], meta[7]]);
    let mut r = Reader { b: meta, pos: HEADER_LEN };
    match kind {
        KIND_BYTES => Some(Parsed::Bytes),
        KIND_BYTEARRAY => Some(Parsed::ByteArray),
        KIND_MEMORYVIEW => {
            let ndim = r.u8()? as usize;
            let flen = r.u8()? as usize;
            let format = r.take(flen)?;
            let shape = r.shape(ndim)?;
            let itemsize = native_itemsize(format)?;
            // What memoryview.cast() takes, as the Python reader checks it: one
            // to 64 dimensions, none of them zero; a half float ('e') only
            // from Python 3.12, so the Python reader decides for it.
            let castable =
                format == b"B" && ndim == 1 || format != b"e" && (1..=MAX_NDIM).contains(&ndim) && !shape.contains(&0);
            if !castable {
                return None;
            }
            (nbytes(&shape, itemsize)? == data_len).then_some(Parsed::MemoryView { format, itemsize, shape })
        }
        KIND_NDARRAY => {
            let order = r.u8()?;
            let start = r.pos;
            let _form = r.u8()?;
            let dlen = r.u16()? as usize;
            r.take(dlen)?;
            let dtype_key = &meta[start..r.pos];
            let ndim = r.u8()? as usize;
            let shape = r.shape(ndim)?;
            if ndim > MAX_NDIM {
                return None; // numpy's limit: the Python reader raises CorruptObject
            }
            let fortran = match order {
                b'C' => false,
                b'F' => true,
                _ => return None,
            };
            // The caller checks the size once it knows the dtype's itemsize.
            Some(Parsed::NdArray { fortran, dtype_key, shape, hint })
        }
        KIND_PICKLE5 => {
            let plen = usize::try_from(r.u64()?).ok()?;
            let nbuf = r.u32()? as usize;
            if plen > data_len {
                return None;
            }
            let mut table = Vec::with_capacity(nbuf.min(1024));
            for _ in 0..nbuf {
                let off = usize::try_from(r.u64()?).ok()?;
                let len = usize::try_from(r.u64()?).ok()?;
                if off < plen || off.checked_add(len)? > data_len {
                    return None;
                }
                table.push((off, len));
            }
            Some(Parsed::Pickle5 { stream_len: plen, table })
        }
        _ => None,
    }
}

/// Metadata of an ndarray: header (with `hint`), order, the cached dtype
/// part (form, length, dtype string), ndim, shape.
pub fn ndarray_meta(dtype_part: &[u8], fortran: bool, shape: &[isize], hint: u16) -> Vec<u8> {
    let mut m = Vec::with_capacity(HEADER_LEN + 2 + dtype_part.len() + 8 * shape.len());
    m.extend_from_slice(MAGIC);
    m.push(VERSION);
    m.push(KIND_NDARRAY);
    m.extend_from_slice(&hint.to_le_bytes());
    m.push(if fortran { b'F' } else { b'C' });
    m.extend_from_slice(dtype_part);
    m.push(shape.len() as u8);
    for &d in shape {
        m.extend_from_slice(&(d as u64).to_le_bytes());
    }
    m
}

/// Whether every memo index the pickle `stream` stores to is within the
/// stream's length (a stream of n bytes stores at most n entries). CPython's
/// unpickler grows its memo table to any index a LONG_BINPUT or PUT names
/// before it looks further, so a damaged 4-byte index asks for up to 32 GiB;
/// objstore's own streams (protocol 5) only MEMOIZE. The opcodes are walked
/// with their arguments (pickletools' table); an unknown opcode or a
/// truncated argument ends the walk with true: the unpickler stops there
/// with its own error, having run only the opcodes walked.
pub fn pickle_memo_in_bounds(stream: &[u8]) -> bool {
    let n = stream.len();
    let mut at = 0usize;
    // The bytes from `at` on, `k` of them, if there are.
    let take = |at: usize, k: usize| stream.get(at..at.checked_add(k)?);
    let le = |b: &[u8]| b.iter().rev().fold(0u64, |v, &x| v << 8 | u64::from(x));
    while let Some(&op) = stream.get(at) {
        at += 1;
        let arg: usize = match op {
            // No argument.
            b'(' | b'0' | b'1' | b'2' | b'N' | 0x88 | 0x89 | b')' | b']' | b'}' | 0x8f | b'a' | b'e' | b's' | b'u'
            | 0x90 | 0x91 | b't' | 0x85 | 0x86 | 0x87 | b'l' | b'd' | b'R' | b'b' | 0x81 | 0x92 | 0x93 | 0x94
            | b'o' | b'Q' | 0x97 | 0x98 => 0,
            b'.' => return true,
            b'K' | b'q' | b'h' | 0x80 | 0x82 => 1,
            b'M' | 0x83 => 2,
            b'J' | 0x84 | b'j' => 4,
            b'r' => {
                let Some(b) = take(at, 4) else { return true };
                if le(b) >= n as u64 {
                    return false;
                }
                4
            }
            b'G' | 0x95 => 8,
            // A length, then that many bytes.
            b'U' | b'C' | 0x8c | 0x8a | b'T' | b'B' | b'X' | 0x8b | 0x8d | 0x8e | 0x96 => {
                let width = match op {
                    b'U' | b'C' | 0x8c | 0x8a => 1,
                    b'T' | b'B' | b'X' | 0x8b => 4,
                    _ => 8,
                };
                let Some(b) = take(at, width) else { return true };
                let len = le(b);
                // BINSTRING's and LONG4's lengths are signed: a negative
                // one is refused by the unpickler.
                let Ok(len) = usize::try_from(len) else { return true };
                match width.checked_add(len) {
                    Some(k) if take(at, k).is_some() => k,
                    _ => return true,
                }
            }
            // One line of text (two for GLOBAL and INST); PUT's is its index.
            b'I' | b'L' | b'F' | b'S' | b'V' | b'P' | b'g' | b'p' | b'c' | b'i' => {
                let lines = if op == b'c' || op == b'i' { 2 } else { 1 };
                let mut end = at;
                for _ in 0..lines {
                    match stream[end..].iter().position(|&c| c == b'\n') {
                        Some(i) => end += i + 1,
                        None => return true,
                    }
                }
                if op == b'p' {
                    let text = &stream[at..end - 1];
                    let index = std::str::from_utf8(text).ok().and_then(|t| t.trim().parse::<u64>().ok());
                    if index.is_none_or(|i| i >= n as u64) {
                        return false;
                    }
                }
                end - at
            }
            _ => return true,
        };
        at += arg;
    }
    true
}

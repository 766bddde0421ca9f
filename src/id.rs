//! Object IDs: 20 opaque bytes, written as 40 lower-case hex characters.
//!
//! Fresh IDs (for `put`) are a per-attachment random prefix of 12 bytes and a
//! counter of 8 bytes passed through a bijective mixer: unique within the
//! attachment by construction, unique across processes with the probability
//! of a 96-bit random collision, and random-looking so that users cannot
//! mistake them for sequence numbers.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{err, Result};

/// Bytes in an object ID.
pub const ID_SIZE: usize = 20;

/// A 20-byte object ID.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(transparent)]
pub struct ObjectId(pub [u8; ID_SIZE]);

impl ObjectId {
    /// The ID as 40 lower-case hex characters.
    pub fn to_hex(&self) -> String {
        let mut out = [0u8; 2 * ID_SIZE];
        self.write_hex(&mut out);
        // The buffer holds only ASCII hex digits.
        out.iter().map(|&b| b as char).collect()
    }

    /// Writes the 40 hex digits (no terminator) into `out`.
    pub fn write_hex(&self, out: &mut [u8; 2 * ID_SIZE]) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for (i, b) in self.0.iter().enumerate() {
            out[2 * i] = DIGITS[(b >> 4) as usize];
            out[2 * i + 1] = DIGITS[(b & 15) as usize];
        }
    }

    /// Parses exactly 40 hex characters (either case).
    pub fn from_hex(hex: &str) -> Result<ObjectId> {
        Self::from_hex_bytes(hex.as_bytes())
    }

    /// Parses exactly 40 hex characters given as bytes.
    pub fn from_hex_bytes(hex: &[u8]) -> Result<ObjectId> {
        if hex.len() != 2 * ID_SIZE {
            return Err(err!(InvalidArgument, "an object ID is 40 hex characters, got {} characters", hex.len()));
        }
        let nibble = |c: u8, at: usize| -> Result<u8> {
            match c {
                b'0'..=b'9' => Ok(c - b'0'),
                b'a'..=b'f' => Ok(c - b'a' + 10),
                b'A'..=b'F' => Ok(c - b'A' + 10),
                _ => Err(err!(InvalidArgument, "object ID has a non-hex character at position {at}")),
            }
        };
        let mut id = [0u8; ID_SIZE];
        for (i, byte) in id.iter_mut().enumerate() {
            *byte = nibble(hex[2 * i], 2 * i)? << 4 | nibble(hex[2 * i + 1], 2 * i + 1)?;
        }
        Ok(ObjectId(id))
    }

    /// The ID as three little-endian words (the last holds 4 bytes), the form
    /// in which it is stored in an object descriptor.
    #[inline]
    pub(crate) fn words(&self) -> [u64; 3] {
        let (words, tail) = self.0.as_chunks::<8>();
        let (tail, _) = tail.as_chunks::<4>();
        [u64::from_le_bytes(words[0]), u64::from_le_bytes(words[1]), u32::from_le_bytes(tail[0]) as u64]
    }

    /// Rebuilds an ID from its descriptor words.
    pub(crate) fn from_words(w: [u64; 3]) -> ObjectId {
        let mut id = [0u8; ID_SIZE];
        id[0..8].copy_from_slice(&w[0].to_le_bytes());
        id[8..16].copy_from_slice(&w[1].to_le_bytes());
        id[16..20].copy_from_slice(&w[2].to_le_bytes()[..4]);
        ObjectId(id)
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({})", self.to_hex())
    }
}

impl std::str::FromStr for ObjectId {
    type Err = crate::error::Error;
    fn from_str(s: &str) -> Result<ObjectId> {
        ObjectId::from_hex(s)
    }
}

/// splitmix64's finalizer: a bijection on u64 with good avalanche.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A folded 64x64 -> 128-bit multiply (as in wyhash): both halves mixed.
#[inline(always)]
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = a as u128 * b as u128;
    (p as u64) ^ ((p >> 64) as u64)
}

/// The seeded hash of an ID that places it in the index: two folded
/// multiplies (wyhash's mixing) over the three words and the seed. The seed
/// is chosen at store creation, so IDs chosen by a caller cannot be aimed
/// at one bucket without reading the store.
#[inline]
pub(crate) fn hash_id(words: &[u64; 3], seed: u64) -> u64 {
    const K0: u64 = 0xa076_1d64_78bd_642f;
    const K1: u64 = 0xe703_7ed1_a0b4_28db;
    const K2: u64 = 0x8ebc_6af0_9c88_c6e3;
    let h = fold_mul(words[0] ^ seed ^ K0, words[1] ^ K1);
    fold_mul(h ^ words[2] ^ K2, seed ^ K1)
}

/// 16 random bytes from the kernel (see `platform::random_bytes`).
pub(crate) fn random_u128() -> u128 {
    #[cfg(not(loom))]
    {
        crate::platform::random_u128()
    }
    #[cfg(loom)]
    {
        0x5eed
    }
}

/// Separates a generator's nonces from its IDs' suffixes.
const NONCE_SALT: u64 = 0x6e6f_6e63_6521_7469;

/// Generates fresh IDs (and ticket nonces) for one attachment.
#[derive(Debug)]
pub(crate) struct IdGenerator {
    prefix: [u8; 12],
    /// The prefix as the first two of an ID's words: bytes 0..8, and
    /// bytes 8..12 in the low half of the second.
    prefix_words: [u64; 2],
    key: u64,
    counter: AtomicU64,
}

impl IdGenerator {
    pub(crate) fn new() -> IdGenerator {
        let r = random_u128().to_le_bytes();
        let mut prefix = [0u8; 12];
        prefix.copy_from_slice(&r[..12]);
        let key = u64::from_le_bytes(r[8..16].try_into().expect("8 bytes"));
        let prefix_words = [
            u64::from_le_bytes(r[..8].try_into().expect("8 bytes")),
            u64::from(u32::from_le_bytes(r[8..12].try_into().expect("4 bytes"))),
        ];
        IdGenerator { prefix, prefix_words, key, counter: AtomicU64::new(0) }
    }

    /// A ticket's nonce: distinct for every call on this generator (it
    /// shares the counter of `next`, under another bijection), and unlike
    /// another attachment's (the key is random); no system call. Not a
    /// secret from the processes that map the store, which can read the
    /// hold table anyway: what a nonce ensures is that a ticket taken
    /// already, or one for another object, misses.
    pub(crate) fn nonce(&self) -> u64 {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        mix64(mix64(n ^ self.key) ^ NONCE_SALT)
    }

    /// Whether the ID whose words are `key` (`ObjectId::words`) may have
    /// come from `next`: it has this generator's prefix.
    pub(crate) fn may_have_made(&self, key: &[u64; 3]) -> bool {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&key[0].to_le_bytes());
        bytes[8..].copy_from_slice(&key[1].to_le_bytes());
        bytes[..12] == self.prefix
    }

    /// A new ID, never returned before by this generator.
    pub(crate) fn next(&self) -> ObjectId {
        ObjectId::from_words(self.next_words())
    }

    /// The words `next_words` returns next, without taking them (for tests
    /// that prepare the store for a put's fresh ID).
    #[cfg(test)]
    pub(crate) fn peek_words(&self) -> [u64; 3] {
        let suffix = mix64(self.counter.load(Ordering::Relaxed) ^ self.key);
        [self.prefix_words[0], self.prefix_words[1] | suffix << 32, suffix >> 32]
    }

    /// `next` as the ID's words (`ObjectId::words`): what a put stores.
    #[inline]
    pub(crate) fn next_words(&self) -> [u64; 3] {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        // mix64 is a bijection, so distinct counters give distinct suffixes.
        let suffix = mix64(n ^ self.key);
        // Bytes 0..12 are the prefix, 12..20 the suffix.
        [self.prefix_words[0], self.prefix_words[1] | suffix << 32, suffix >> 32]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let id = ObjectId([0xab; 20]);
        assert_eq!(id.to_hex(), "ab".repeat(20));
        assert_eq!(ObjectId::from_hex(&id.to_hex()).unwrap(), id);
        assert_eq!(ObjectId::from_hex(&"AB".repeat(20)).unwrap(), id);
    }

    #[test]
    fn hex_rejects_bad_input() {
        assert!(ObjectId::from_hex("").is_err());
        assert!(ObjectId::from_hex(&"a".repeat(39)).is_err());
        assert!(ObjectId::from_hex(&"a".repeat(41)).is_err());
        let mut bad = "0".repeat(40);
        bad.replace_range(17..18, "g");
        let e = ObjectId::from_hex(&bad).unwrap_err();
        assert!(e.message().contains("position 17"), "{e}");
    }

    /// Every ID a generator makes is one it may have made; an ID of
    /// another generator, or one differing in any byte of the prefix, not.
    #[test]
    fn a_generator_knows_its_ids_by_their_prefix() {
        let (g, other) = (IdGenerator::new(), IdGenerator::new());
        for _ in 0..100 {
            assert!(g.may_have_made(&g.next().words()));
            assert!(!g.may_have_made(&other.next().words()));
        }
        let id = g.next();
        for byte in 0..20 {
            let mut changed = id;
            changed.0[byte] ^= 0x10;
            assert_eq!(g.may_have_made(&changed.words()), byte >= 12, "byte {byte}");
        }
    }

    #[test]
    fn words_round_trip() {
        let mut b = [0u8; 20];
        for (i, x) in b.iter_mut().enumerate() {
            *x = i as u8 * 13 + 1;
        }
        let id = ObjectId(b);
        assert_eq!(ObjectId::from_words(id.words()), id);
    }

    #[test]
    fn hash_spreads_structured_ids() {
        // IDs that differ in one counter field only, as callers derive them.
        for field in [0usize, 8, 16] {
            let mut bins = vec![0u32; 1024];
            let n = if cfg!(miri) { 2_000 } else { 100_000 };
            for i in 0..n as u64 {
                let mut id = ObjectId([0; ID_SIZE]);
                let b = i.to_le_bytes();
                let len = if field == 16 { 4 } else { 8 };
                id.0[field..field + len].copy_from_slice(&b[..len]);
                let h = hash_id(&id.words(), 0x1234_5678);
                bins[(((h >> 32) * 1024) >> 32) as usize] += 1;
            }
            let mean = n as f64 / 1024.0;
            let max = *bins.iter().max().unwrap() as f64;
            assert!(max < mean * 1.5 + 10.0, "field {field}: a bin of {max} against a mean of {mean}");
        }
    }

    #[test]
    fn generator_is_unique() {
        let g = IdGenerator::new();
        let mut seen = std::collections::HashSet::new();
        // Miri interprets every step: a smaller sample there.
        for _ in 0..if cfg!(miri) { 300 } else { 100_000 } {
            assert!(seen.insert(g.next()));
        }
        let other = IdGenerator::new();
        assert_ne!(g.next().0[..12], other.next().0[..12]);
    }

    #[test]
    fn generated_words_are_the_ids_words() {
        let g = IdGenerator::new();
        for _ in 0..1000 {
            let peeked = g.peek_words();
            let words = g.next_words();
            assert_eq!(peeked, words);
            let id = ObjectId::from_words(words);
            assert_eq!(id.words(), words);
            assert_eq!(id.0[..12], g.prefix);
            assert!(g.may_have_made(&words));
        }
    }

    #[test]
    fn nonces_are_unique_in_their_62_bits_and_differ_between_generators() {
        let (g, other) = (IdGenerator::new(), IdGenerator::new());
        let mut seen = std::collections::HashSet::new();
        for _ in 0..if cfg!(miri) { 300 } else { 100_000 } {
            assert!(seen.insert(g.nonce() & ((1 << 62) - 1)));
            // Interleaved with IDs, as puts and gives are.
            let _ = g.next();
        }
        assert!(!seen.contains(&(other.nonce() & ((1 << 62) - 1))));
    }
}

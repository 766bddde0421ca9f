//! The format of a published object: what `Store::publish` uploads to
//! `<prefix>/<40 hex digits of the ID>` and what a fetch reads back. It is
//! written for readers in any language (the README repeats it), so it uses
//! nothing but little-endian integers and the CRC-32 that zlib computes
//! (`zlib.crc32` in Python, `crc32.ChecksumIEEE` in Go,
//! `java.util.zip.CRC32`).
//!
//! ```text
//! offset  bytes  field
//!      0      8  magic: the ASCII bytes "OBJREMOT"
//!      8      4  format version (u32 LE): 1
//!     12      4  header length (u32 LE): 64; the metadata starts here
//!     16     20  the object ID
//!     36      4  metadata length M (u32 LE)
//!     40      8  data length D (u64 LE)
//!     48      4  CRC-32 of the metadata followed by the data (u32 LE)
//!     52      4  flags (u32 LE): 0; a reader refuses bits it does not know
//!     56      4  reserved: 0
//!     60      4  CRC-32 of bytes 0..60 of the header (u32 LE)
//!     64      M  metadata
//!   64+M      D  data
//! ```
//!
//! The object is exactly `64 + M + D` bytes. A reader checks, in this
//! order: the magic (else the object is not one of ours: corrupt), the
//! version (another version: incompatible, whatever else it holds), the
//! header's CRC, the header length and flags, that the ID is the one its
//! key names and that the object's length is `64 + M + D` (else
//! truncated or damaged: corrupt); then, once it has every byte, the CRC of
//! the metadata and the data. One CRC-32 over the whole payload (rather
//! than one per block) keeps readers simple; a reader that fetches ranges
//! in parallel combines the CRCs of its ranges (zlib's `crc32_combine`).

use crate::error::{err, Result};
use crate::id::ObjectId;

/// The first bytes of every published object.
pub const MAGIC: [u8; 8] = *b"OBJREMOT";
/// The format version this library writes and reads.
pub const VERSION: u32 = 1;
/// Bytes of the header; the metadata follows it.
pub const HEADER_LEN: usize = 64;
/// Where the header's own CRC is; it covers the bytes before it.
const HEADER_CRC_AT: usize = 60;

/// What the header of a published object says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub id: ObjectId,
    pub meta_len: u32,
    pub data_len: u64,
    /// CRC-32 (IEEE) of the metadata followed by the data.
    pub crc: u32,
}

impl Header {
    /// Bytes of the whole published object.
    pub fn object_len(&self) -> u64 {
        HEADER_LEN as u64 + self.meta_len as u64 + self.data_len
    }

    /// The header's 64 bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..8].copy_from_slice(&MAGIC);
        h[8..12].copy_from_slice(&VERSION.to_le_bytes());
        h[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        h[16..36].copy_from_slice(&self.id.0);
        h[36..40].copy_from_slice(&self.meta_len.to_le_bytes());
        h[40..48].copy_from_slice(&self.data_len.to_le_bytes());
        h[48..52].copy_from_slice(&self.crc.to_le_bytes());
        let crc = crc32fast::hash(&h[..HEADER_CRC_AT]);
        h[HEADER_CRC_AT..].copy_from_slice(&crc.to_le_bytes());
        h
    }

    /// Decodes and checks the header at the start of `bytes`, which hold the
    /// first bytes of the object published as `id`, an object of
    /// `object_len` bytes in all. `where_` names it in messages.
    pub fn decode(bytes: &[u8], id: &ObjectId, object_len: u64, where_: &str) -> Result<Header> {
        if bytes.len() < HEADER_LEN || object_len < HEADER_LEN as u64 {
            return Err(err!(
                Corrupt,
                "{where_} is truncated: {object_len} bytes, shorter than the {HEADER_LEN}-byte header of a published object"
            ));
        }
        let h = &bytes[..HEADER_LEN];
        if h[0..8] != MAGIC {
            return Err(err!(Corrupt, "{where_} is not a published objstore object (bad magic)"));
        }
        let version = u32_at(h, 8);
        if version != VERSION {
            return Err(err!(
                Incompatible,
                "{where_} has format version {version}; this library reads version {VERSION}"
            ));
        }
        if crc32fast::hash(&h[..HEADER_CRC_AT]) != u32_at(h, HEADER_CRC_AT) {
            return Err(err!(Corrupt, "{where_} has a damaged header (checksum mismatch)"));
        }
        if u32_at(h, 12) as usize != HEADER_LEN {
            return Err(err!(Corrupt, "{where_} has a bad header length {}", u32_at(h, 12)));
        }
        let flags = u32_at(h, 52);
        if flags != 0 {
            return Err(err!(Incompatible, "{where_} has flags {flags:#x} this library does not know"));
        }
        let header = Header {
            id: ObjectId(h[16..36].try_into().expect("20 bytes")),
            meta_len: u32_at(h, 36),
            data_len: u64::from_le_bytes(h[40..48].try_into().expect("8 bytes")),
            crc: u32_at(h, 48),
        };
        if header.id != *id {
            return Err(err!(Corrupt, "{where_} holds object {}, not {id}", header.id));
        }
        let want = HEADER_LEN as u64 + header.meta_len as u64 + header.data_len;
        if object_len != want {
            let what = if object_len < want { "truncated" } else { "longer than its header says" };
            return Err(err!(
                Corrupt,
                "{where_} is {what}: {object_len} bytes, its header says {want} ({} of metadata, {} of data)",
                header.meta_len,
                header.data_len
            ));
        }
        Ok(header)
    }
}

fn u32_at(h: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(h[at..at + 4].try_into().expect("4 bytes"))
}

/// The CRC-32 a header records for this metadata and data.
pub fn payload_crc(meta: &[u8], data: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(meta);
    h.update(data);
    h.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn header() -> Header {
        let (meta, data) = (b"float32[3]".as_slice(), [7u8; 1000]);
        Header { id: ObjectId([9; 20]), meta_len: meta.len() as u32, data_len: 1000, crc: payload_crc(meta, &data) }
    }

    #[test]
    fn round_trip() {
        let h = header();
        let bytes = h.encode();
        assert_eq!(&bytes[0..8], b"OBJREMOT");
        assert_eq!(Header::decode(&bytes, &h.id, h.object_len(), "x").unwrap(), h);
    }

    #[test]
    fn the_crc_is_zlibs() {
        // The check value of CRC-32/ISO-HDLC, as zlib.crc32(b"123456789").
        assert_eq!(payload_crc(b"1234", b"56789"), 0xcbf4_3926);
    }

    #[test]
    fn every_damage_is_caught() {
        let h = header();
        let good = h.encode();
        for at in 0..HEADER_LEN {
            let mut bad = good;
            bad[at] ^= 0x10;
            let e = Header::decode(&bad, &h.id, h.object_len(), "x").unwrap_err();
            let want = if (8..12).contains(&at) { ErrorKind::Incompatible } else { ErrorKind::Corrupt };
            assert_eq!(e.kind(), want, "byte {at}: {e}");
        }
        let e = Header::decode(&good, &h.id, h.object_len() - 1, "x").unwrap_err();
        assert!(e.kind() == ErrorKind::Corrupt && e.message().contains("truncated"), "{e}");
        let e = Header::decode(&good[..10], &h.id, 10, "x").unwrap_err();
        assert!(e.kind() == ErrorKind::Corrupt && e.message().contains("truncated"), "{e}");
        let e = Header::decode(&good, &ObjectId([1; 20]), h.object_len(), "x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt);
    }
}

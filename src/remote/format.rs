//! The format of a published object: what `Store::publish` uploads to
//! `<prefix>/<40 hex digits of the ID>` and what a fetch reads back. It is
//! written for readers in any language (the README repeats it), so it uses
//! nothing but little-endian integers, hex digits and the CRC-32 that zlib
//! computes (`zlib.crc32` in Python, `crc32.ChecksumIEEE` in Go,
//! `java.util.zip.CRC32`).
//!
//! A published object is a 64-byte header, the metadata (M bytes) and the
//! data (D bytes):
//!
//! ```text
//! offset  bytes  field
//!      0      8  magic: the ASCII bytes "OBJREMOT"
//!      8      4  format version (u32 LE): 1
//!     12      4  where the metadata starts in the body (u32 LE): 64 when the
//!                header leads the body, 0 when it is the user metadata
//!     16     20  the object ID
//!     36      4  metadata length M (u32 LE)
//!     40      8  data length D (u64 LE)
//!     48      4  CRC-32 of the metadata followed by the data (u32 LE)
//!     52      4  flags (u32 LE): 0; a reader refuses bits it does not know
//!     56      4  reserved: 0
//!     60      4  CRC-32 of bytes 0..60 of the header (u32 LE)
//! ```
//!
//! The header has one of two places ([`Placement`]):
//!
//! - **user metadata** (S3 and `memory://`, which keep metadata beside an
//!   object): the header is the object's user metadata `objstore-header`
//!   (`x-amz-meta-objstore-header` on S3), 128 lowercase hex digits, and
//!   the body is exactly `M + D` bytes, the metadata then the data. The body
//!   then holds nothing but what the user stored, so data of a power-of-two
//!   size fills the server's blocks exactly (a header in the body makes 1 MiB
//!   of data two 1 MiB blocks on Garage, and costs a tenth of a fetch's
//!   time), and a plain S3 reader can range-read the data.
//! - **leading** (`file://`, whose files have no metadata): the body is the
//!   header, then the metadata, then the data: exactly `64 + M + D` bytes.
//!
//! A reader takes the header from the user metadata if there is one, else
//! from the body's first 64 bytes, and checks, in this order: the magic
//! (else the object is not one of ours: corrupt), the version (another
//! version: incompatible, whatever else it holds), the header's CRC, that
//! the metadata offset is the one its place implies, the flags, that the ID
//! is the one its key names and that the body's length is what the header
//! says (else truncated or damaged: corrupt); then, once it has every byte,
//! the CRC of the metadata and the data. One CRC-32 over the whole payload
//! (rather than one per block) keeps readers simple; a reader that fetches
//! ranges in parallel combines the CRCs of its ranges (zlib's
//! `crc32_combine`).

use crate::error::{err, Result};
use crate::id::ObjectId;

/// The first bytes of every published object.
pub const MAGIC: [u8; 8] = *b"OBJREMOT";
/// The format version this library writes and reads.
pub const VERSION: u32 = 1;
/// Bytes of the header.
pub const HEADER_LEN: usize = 64;
/// The user metadata that holds the header when it is not in the body
/// (S3 sends it as `x-amz-meta-objstore-header`).
pub const METADATA_KEY: &str = "objstore-header";

/// Where a published object's header is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// The first 64 bytes of the body; the metadata and data follow.
    Leading,
    /// The object's user metadata [`METADATA_KEY`], in hex; the body is the
    /// metadata and the data alone.
    UserMetadata,
}

impl Placement {
    /// Where the metadata starts in the body.
    pub fn body_offset(self) -> u64 {
        match self {
            Placement::Leading => HEADER_LEN as u64,
            Placement::UserMetadata => 0,
        }
    }
}
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
    pub placement: Placement,
}

impl Header {
    /// Bytes of the published object's body.
    pub fn body_len(&self) -> u64 {
        self.placement.body_offset() + self.meta_len as u64 + self.data_len
    }

    /// Where the data starts in the body.
    pub fn data_offset(&self) -> u64 {
        self.placement.body_offset() + self.meta_len as u64
    }

    /// The header's 64 bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0..8].copy_from_slice(&MAGIC);
        h[8..12].copy_from_slice(&VERSION.to_le_bytes());
        h[12..16].copy_from_slice(&(self.placement.body_offset() as u32).to_le_bytes());
        h[16..36].copy_from_slice(&self.id.0);
        h[36..40].copy_from_slice(&self.meta_len.to_le_bytes());
        h[40..48].copy_from_slice(&self.data_len.to_le_bytes());
        h[48..52].copy_from_slice(&self.crc.to_le_bytes());
        let crc = crc32fast::hash(&h[..HEADER_CRC_AT]);
        h[HEADER_CRC_AT..].copy_from_slice(&crc.to_le_bytes());
        h
    }

    /// The header as the user metadata [`METADATA_KEY`] holds it.
    pub fn encode_hex(&self) -> String {
        self.encode().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Decodes and checks the header of the object published as `id`, whose
    /// body is `body_len` bytes: `bytes` are the body's first bytes for a
    /// leading header. `where_` names the object in messages.
    pub fn decode(bytes: &[u8], id: &ObjectId, body_len: u64, where_: &str) -> Result<Header> {
        if bytes.len() < HEADER_LEN || body_len < HEADER_LEN as u64 {
            return Err(err!(
                Corrupt,
                "{where_} is truncated: {body_len} bytes, shorter than the {HEADER_LEN}-byte header of a published object"
            ));
        }
        Header::check(&bytes[..HEADER_LEN], Placement::Leading, id, body_len, where_)
    }

    /// Decodes and checks the header kept as the user metadata of the object
    /// published as `id`, whose body is `body_len` bytes.
    pub fn decode_hex(hex: &str, id: &ObjectId, body_len: u64, where_: &str) -> Result<Header> {
        let digits = hex.as_bytes();
        let mut h = [0u8; HEADER_LEN];
        let nibble = |c: u8| (c as char).to_digit(16);
        if digits.len() != 2 * HEADER_LEN {
            return Err(err!(
                Corrupt,
                "{where_} has a damaged header: its user metadata '{METADATA_KEY}' is {} characters, not {}",
                digits.len(),
                2 * HEADER_LEN
            ));
        }
        for (i, pair) in digits.chunks_exact(2).enumerate() {
            match (nibble(pair[0]), nibble(pair[1])) {
                (Some(hi), Some(lo)) => h[i] = (hi << 4 | lo) as u8,
                _ => {
                    return Err(err!(
                        Corrupt,
                        "{where_} has a damaged header: its user metadata '{METADATA_KEY}' is not hex"
                    ))
                }
            }
        }
        Header::check(&h, Placement::UserMetadata, id, body_len, where_)
    }

    /// Checks the 64 bytes of a header found in `placement`.
    fn check(h: &[u8], placement: Placement, id: &ObjectId, body_len: u64, where_: &str) -> Result<Header> {
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
        if u32_at(h, 12) as u64 != placement.body_offset() {
            return Err(err!(
                Corrupt,
                "{where_} has a bad metadata offset {} for a header {}",
                u32_at(h, 12),
                match placement {
                    Placement::Leading => "that leads the body",
                    Placement::UserMetadata => "kept as user metadata",
                }
            ));
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
            placement,
        };
        if header.id != *id {
            return Err(err!(Corrupt, "{where_} holds object {}, not {id}", header.id));
        }
        let want = header.body_len();
        if body_len != want {
            let what = if body_len < want { "truncated" } else { "longer than its header says" };
            return Err(err!(
                Corrupt,
                "{where_} is {what}: {body_len} bytes, its header says {want} ({} of metadata, {} of data)",
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

    fn header(placement: Placement) -> Header {
        let (meta, data) = (b"float32[3]".as_slice(), [7u8; 1000]);
        Header {
            id: ObjectId([9; 20]),
            meta_len: meta.len() as u32,
            data_len: 1000,
            crc: payload_crc(meta, &data),
            placement,
        }
    }

    #[test]
    fn round_trip_in_both_places() {
        let h = header(Placement::Leading);
        let bytes = h.encode();
        assert_eq!(&bytes[0..8], b"OBJREMOT");
        assert_eq!(u32_at(&bytes, 12), 64);
        assert_eq!(h.body_len(), 64 + 10 + 1000);
        assert_eq!(Header::decode(&bytes, &h.id, h.body_len(), "x").unwrap(), h);

        let h = header(Placement::UserMetadata);
        let hex = h.encode_hex();
        assert_eq!(hex.len(), 128);
        assert!(hex.starts_with("4f424a52454d4f54"), "{hex}"); // "OBJREMOT"
        assert_eq!(u32_at(&h.encode(), 12), 0);
        assert_eq!((h.body_len(), h.data_offset()), (10 + 1000, 10));
        assert_eq!(Header::decode_hex(&hex, &h.id, h.body_len(), "x").unwrap(), h);
        assert_eq!(Header::decode_hex(&hex.to_uppercase(), &h.id, h.body_len(), "x").unwrap(), h);
    }

    #[test]
    fn a_header_found_in_the_other_place_is_refused() {
        let leading = header(Placement::Leading);
        let e = Header::decode_hex(&leading.encode_hex(), &leading.id, leading.body_len(), "x").unwrap_err();
        assert!(e.kind() == ErrorKind::Corrupt && e.message().contains("metadata offset 64"), "{e}");
        let kept = header(Placement::UserMetadata);
        let e = Header::decode(&kept.encode(), &kept.id, kept.body_len() + 64, "x").unwrap_err();
        assert!(e.kind() == ErrorKind::Corrupt && e.message().contains("metadata offset 0"), "{e}");
    }

    #[test]
    fn the_crc_is_zlibs() {
        // The check value of CRC-32/ISO-HDLC, as zlib.crc32(b"123456789").
        assert_eq!(payload_crc(b"1234", b"56789"), 0xcbf4_3926);
    }

    #[test]
    fn every_damage_is_caught() {
        for placement in [Placement::Leading, Placement::UserMetadata] {
            let h = header(placement);
            let decode = |bytes: &[u8], id: &ObjectId, len: u64| match placement {
                Placement::Leading => Header::decode(bytes, id, len, "x"),
                Placement::UserMetadata => {
                    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                    Header::decode_hex(&hex, id, len, "x")
                }
            };
            let good = h.encode();
            for at in 0..HEADER_LEN {
                let mut bad = good;
                bad[at] ^= 0x10;
                let e = decode(&bad, &h.id, h.body_len()).unwrap_err();
                let want = if (8..12).contains(&at) { ErrorKind::Incompatible } else { ErrorKind::Corrupt };
                assert_eq!(e.kind(), want, "{placement:?} byte {at}: {e}");
            }
            let e = decode(&good, &h.id, h.body_len() - 1).unwrap_err();
            assert!(e.kind() == ErrorKind::Corrupt && e.message().contains("truncated"), "{e}");
            let e = decode(&good, &h.id, h.body_len() + 1).unwrap_err();
            assert!(e.kind() == ErrorKind::Corrupt && e.message().contains("longer"), "{e}");
            let e = decode(&good, &ObjectId([1; 20]), h.body_len()).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Corrupt);
        }
        let h = header(Placement::Leading);
        let e = Header::decode(&h.encode()[..10], &h.id, 10, "x").unwrap_err();
        assert!(e.kind() == ErrorKind::Corrupt && e.message().contains("truncated"), "{e}");
        let hex = header(Placement::UserMetadata).encode_hex();
        for bad in [&hex[..126], &format!("{hex}00"), &format!("{}zz", &hex[..126]), ""] {
            let e = Header::decode_hex(bad, &h.id, h.body_len(), "x").unwrap_err();
            assert!(e.kind() == ErrorKind::Corrupt && e.message().contains("damaged header"), "{e}");
        }
    }
}

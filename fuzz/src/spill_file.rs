//! Fuzz target 2: a spilled object's file replaced or mutated by fuzz
//! bytes. A get of the object gives an error (CORRUPT; OUT_OF_MEMORY if no
//! room could be made for the copy) or exactly the bytes the file validly
//! encodes, never other bytes and never a crash. The object stays listed
//! after a failed get, and can be deleted; other objects are not affected.
//!
//! Input:
//! ```text
//! byte 0   template (Spill or SpillDead)
//! byte 1   which spilled object is the victim
//! byte 2   mode: 0 the file is the rest of the input; 1 bytes of the real
//!          file xor-ed; 2 the real file cut or extended, then xor-ed;
//!          3 header bytes changed and the CRC recomputed (the data stays
//!          right, so only the header checks can refuse it); 4 another
//!          spilled object's file under the victim's name; 5 no file;
//!          6 the real file with a few bytes of the rest replaced, CRC
//!          recomputed over everything (a forged but well-formed file)
//! then     operands of the mode
//! ```
//!
//! The reference check ([`decode`]) is written here from the format in
//! src/spill.rs, independently of the library's reader.

use std::time::Duration;

use objstore::{ErrorKind, Options, Store};

use crate::template::{self, Kind, TObject};
use crate::{remove, unique_path, Input};

/// Spill file header: 64 bytes, the CRC at 56 covers bytes 0..56 and then
/// the data and metadata.
const HEADER_LEN: usize = 64;
const CRC_AT: usize = 56;

/// What a spill file validly encodes, given the header the object's own
/// file starts with (magic, version, ID, sizes, descriptor, generation are
/// all fixed by the object): Some((data, meta)) or None if it is invalid.
pub fn decode<'a>(file: &'a [u8], original: &[u8], data_len: usize) -> Option<(&'a [u8], &'a [u8])> {
    if file.len() != original.len() || file[..CRC_AT] != original[..CRC_AT] {
        return None;
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(&file[..CRC_AT]);
    crc.update(&file[HEADER_LEN..]);
    if crc.finalize().to_le_bytes() != file[CRC_AT..CRC_AT + 4] {
        return None;
    }
    let body = &file[HEADER_LEN..];
    Some((&body[..data_len], &body[data_len..]))
}

fn recompute_crc(file: &mut [u8]) {
    if file.len() < HEADER_LEN {
        return;
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(&file[..CRC_AT]);
    crc.update(&file[HEADER_LEN..]);
    let c = crc.finalize();
    file[CRC_AT..CRC_AT + 4].copy_from_slice(&c.to_le_bytes());
}

fn xor_patches(inp: &mut Input, file: &mut [u8]) {
    while inp.remaining() >= 3 && !file.is_empty() {
        let at = inp.u16() as usize;
        // Half the patches land in the header, where the checks are.
        let at = if at & 1 == 0 { (at >> 1) % HEADER_LEN.min(file.len()) } else { (at >> 1) % file.len() };
        file[at] ^= inp.u8().max(1);
    }
}

pub fn run(data: &[u8]) {
    let mut inp = Input::new(data);
    let kind = if inp.bool() { Kind::SpillDead } else { Kind::Spill };
    let t = template::get(kind);
    let spilled: Vec<&TObject> = t.objects.iter().filter(|o| o.spill_file.is_some()).collect();
    let victim = spilled[inp.u8() as usize % spilled.len()];
    // Another spilled object, whose file stays intact.
    let control = spilled.iter().find(|o| o.id != victim.id).copied();
    let file_of = |o: &TObject| -> &Vec<u8> {
        let name = o.spill_file.as_ref().unwrap();
        &t.spill_files.iter().find(|(n, _)| n == name).unwrap().1
    };
    let original = file_of(victim).clone();
    let mode = inp.u8() % 7;
    let file: Option<Vec<u8>> = match mode {
        0 => Some(inp.rest().to_vec()),
        1 => {
            let mut f = original.clone();
            xor_patches(&mut inp, &mut f);
            Some(f)
        }
        2 => {
            let mut f = original.clone();
            let len = inp.u32() as usize % (2 * original.len() + 1);
            f.resize(len, 0);
            xor_patches(&mut inp, &mut f);
            Some(f)
        }
        3 => {
            let mut f = original.clone();
            while inp.remaining() >= 2 {
                let at = inp.u8() as usize % CRC_AT;
                f[at] = inp.u8();
            }
            recompute_crc(&mut f);
            Some(f)
        }
        4 => Some(match control {
            Some(c) => file_of(c).clone(),
            None => vec![],
        }),
        5 => None,
        _ => {
            let mut f = original.clone();
            while inp.remaining() >= 3 {
                let at = inp.u16() as usize % f.len();
                f[at] = inp.u8();
            }
            recompute_crc(&mut f);
            Some(f)
        }
    };
    let dir = t.spill_dir.as_deref().unwrap();
    let mut files = vec![];
    if let Some(f) = &file {
        files.push((victim.spill_file.clone().unwrap(), f.clone()));
    }
    if let Some(c) = control {
        files.push((c.spill_file.clone().unwrap(), file_of(c).clone()));
    }
    let path = unique_path("spill");
    template::write_image(&path, &t.image, t.image.len() as u64).expect("write the store file");
    template::write_spill_files(dir, &files);
    let expect = file.as_deref().and_then(|f| decode(f, &original, victim.data.len()));
    check(&path, victim, control, expect, mode);
    remove(&path);
    template::clear_dir(dir);
}

fn check(path: &str, victim: &TObject, control: Option<&TObject>, expect: Option<(&[u8], &[u8])>, mode: u8) {
    let zero = Some(Duration::ZERO);
    let s = Store::open(path, &Options { attach_only: true, ..Options::default() }).expect("attach to an intact store");
    for round in 0..2 {
        match s.get(&victim.id, zero) {
            Ok(obj) => {
                let Some((data, meta)) = expect else {
                    panic!(
                        "round {round} mode {mode}: a get of {} returned {} bytes from a spill file that is not valid",
                        victim.id,
                        obj.data().len()
                    );
                };
                assert!(obj.data() == data, "round {round} mode {mode}: wrong data for {}", victim.id);
                assert!(obj.meta() == meta, "round {round} mode {mode}: wrong metadata for {}", victim.id);
                break;
            }
            Err(e) => {
                assert!(
                    matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::OutOfMemory),
                    "round {round} mode {mode}: get of a damaged spilled object: {e}"
                );
                assert!(
                    expect.is_none() || e.kind() == ErrorKind::OutOfMemory,
                    "round {round} mode {mode}: a valid spill file was refused: {e}"
                );
                // Nothing silently dropped: still there, still listed.
                assert!(s.contains(&victim.id).unwrap(), "mode {mode}: a failed restore dropped {}", victim.id);
                assert!(s.list().unwrap().iter().any(|i| i.id == victim.id));
            }
        }
    }
    let st = s.stats().unwrap();
    assert!(st.used_bytes <= st.capacity_bytes, "{st:?}");
    // The control object, spilled with an intact file, comes back exactly.
    if let Some(c) = control {
        match s.get(&c.id, zero) {
            Ok(obj) => assert!(obj.data() == &c.data[..] && obj.meta() == &c.meta[..], "control object {} changed", c.id),
            Err(e) => assert_eq!(e.kind(), ErrorKind::OutOfMemory, "control object {}: {e}", c.id),
        }
    }
    // The victim can be deleted whatever its file holds, and is then gone.
    s.delete(&victim.id).unwrap_or_else(|e| panic!("mode {mode}: delete of {}: {e}", victim.id));
    assert!(!s.contains(&victim.id).unwrap());
    assert_eq!(s.get(&victim.id, zero).unwrap_err().kind(), ErrorKind::NotFound);
    s.collect().unwrap();
    // Only the victim's and the control's files were written (for speed):
    // the other spilled objects' files are missing on purpose.
    let written: Vec<&str> = [Some(victim), control].into_iter().flatten().filter_map(|o| o.spill_file.as_deref()).collect();
    let problems: Vec<String> = s
        .audit()
        .unwrap()
        .into_iter()
        .filter(|p| !(p.contains("has no spill file") && !written.iter().any(|w| p.contains(w))))
        .collect();
    assert!(problems.is_empty(), "mode {mode}: audit: {problems:?}");
}

//! Spill files: where objects go when memory runs short.
//!
//! The spill directory belongs to one store. Each spilled object is one
//! file named by its ID, written under a temporary name and renamed into
//! place.

/// Suffix of a complete spill file.
pub(crate) const SPILL_SUFFIX: &str = ".spill";
/// Marker in the name of a spill file being written.
pub(crate) const TMP_MARKER: &str = ".spill.tmp.";

/// Removes every spill file (complete or partial) from a store's spill
/// directory. Best effort: used by destroy.
pub(crate) fn remove_store_files(dir: &str, _store_path: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(SPILL_SUFFIX) || name.contains(TMP_MARKER) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

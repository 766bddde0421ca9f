//! `ls` with no store: the stores in /dev/shm (or in each `--dir`), one
//! line each, as `ipcs -m` lists shared memory segments.
//!
//! A file is a store if it begins with a store's magic (read through the
//! library, without attaching); other files are left out. A store is
//! described from its header (capacity, slots, creation), which anyone who
//! may read the file can see; its use and processes need an attach, which
//! is tried (attach-only, never create) for stores of this user and of
//! root, the ones `open` trusts. Others are shown with what their header
//! and the file system say, and why no more.

use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use objstore::{ErrorKind, Options, Store, SHM_DIR};
use serde::Serialize;

use crate::args::{LsArgs, SortKey};
use crate::exit::{Failure, NOT_FOUND};
use crate::units::format_size;
use crate::{emit, note};

/// One store as `ls --json` prints it (without a store). A field the
/// command could not learn is null.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct StoreRow {
    /// What to pass to the other commands: the store name for a file in
    /// /dev/shm, else the path.
    pub name: String,
    pub path: String,
    /// The owner's user name (or uid, if it has none).
    pub owner: String,
    pub uid: u32,
    /// The file's permission bits, in octal.
    pub mode: String,
    /// The file's size (metadata and the object memory reserved so far).
    pub file_bytes: u64,
    pub capacity_bytes: Option<u64>,
    pub used_bytes: Option<u64>,
    pub object_count: Option<u64>,
    pub max_objects: Option<u64>,
    /// Processes attached, this command left out.
    pub attached_processes: Option<u32>,
    pub max_processes: Option<u32>,
    pub spill_dir: Option<String>,
    pub created_unix: Option<u64>,
    /// "ok" (attached and counted), "header only" (not attached: see
    /// `detail`), "incompatible" (another layout version) or "corrupt".
    pub status: &'static str,
    /// Why the status is not "ok".
    pub detail: Option<String>,
}

/// The name of user `uid`, if it has one.
fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: a zeroed passwd is a valid value for getpwuid_r to fill.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call: `pw` and `found` are
    // ours, `buf` has the length passed.
    let rc = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut found) };
    if rc != 0 || found.is_null() || pw.pw_name.is_null() {
        return None;
    }
    // SAFETY: getpwuid_r set pw_name to a NUL-terminated string inside buf.
    Some(unsafe { std::ffi::CStr::from_ptr(pw.pw_name) }.to_string_lossy().into_owned())
}

/// This process's effective user.
fn my_uid() -> u32 {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

/// Describes the store file at `path` (`name` is how commands name it).
fn describe(name: String, path: &Path, meta: &std::fs::Metadata) -> StoreRow {
    let mut row = StoreRow {
        name: name.clone(),
        path: path.display().to_string(),
        owner: user_name(meta.uid()).unwrap_or_else(|| meta.uid().to_string()),
        uid: meta.uid(),
        mode: format!("{:04o}", meta.mode() & 0o7777),
        file_bytes: meta.size(),
        capacity_bytes: None,
        used_bytes: None,
        object_count: None,
        max_objects: None,
        attached_processes: None,
        max_processes: None,
        spill_dir: None,
        created_unix: None,
        status: "ok",
        detail: None,
    };
    let header = match Store::read_header(path) {
        Ok(h) => h,
        Err(e) => {
            row.status = if e.kind() == ErrorKind::Incompatible { "incompatible" } else { "corrupt" };
            row.detail = Some(e.message().into_owned());
            return row;
        }
    };
    row.capacity_bytes = Some(header.capacity_bytes);
    row.max_objects = Some(header.max_objects);
    row.max_processes = Some(header.max_processes);
    row.spill_dir = header.spill_dir.map(|d| d.display().to_string());
    row.created_unix = Some(header.created_unix);
    if meta.uid() != my_uid() && meta.uid() != 0 {
        row.status = "header only";
        row.detail = Some(format!(
            "belongs to {}: its use and processes are shown to its owner (`objstore stat {name}`)",
            row.owner
        ));
        return row;
    }
    match Store::open(&name, &Options { attach_only: true, ..Options::default() }) {
        Ok(store) => {
            let me = store.process_slot();
            match (store.stats(), store.processes()) {
                (Ok(s), Ok(procs)) => {
                    row.used_bytes = Some(s.used_bytes);
                    row.object_count = Some(s.object_count);
                    row.attached_processes = Some(procs.iter().filter(|p| p.slot != me).count() as u32);
                }
                (Err(e), _) | (_, Err(e)) => {
                    row.status = "header only";
                    row.detail = Some(e.message().into_owned());
                }
            }
        }
        Err(e) => {
            row.status = match e.kind() {
                ErrorKind::Incompatible => "incompatible",
                ErrorKind::Corrupt => "corrupt",
                _ => "header only",
            };
            row.detail = Some(e.message().into_owned());
        }
    }
    row
}

/// The stores in `dir`, and how many files could not be read.
fn scan(dir: &Path) -> Result<(Vec<StoreRow>, usize), Failure> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        let f = Failure::file(format!("cannot list '{}'", dir.display()), e);
        if f.code == NOT_FOUND {
            f.hint("--dir names a directory holding store files")
        } else {
            f
        }
    })?;
    let in_shm = dir == Path::new(SHM_DIR);
    let mut rows = Vec::new();
    let mut unreadable = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        // Only regular files: no directories, no symbolic links (a link
        // names a file listed where it is).
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if !meta.file_type().is_file() {
            continue;
        }
        match Store::is_store_file(&path) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                unreadable += 1;
                continue;
            }
            Err(_) => continue, // gone meanwhile
        }
        let file_name = entry.file_name().to_string_lossy().into_owned();
        // A store in /dev/shm is named by its file name; elsewhere by its
        // path, which has a '/' and so is taken as a path by every command.
        let name = if in_shm && !file_name.contains('\u{fffd}') { file_name } else { path.display().to_string() };
        rows.push(describe(name, &path, &meta));
    }
    Ok((rows, unreadable))
}

/// Orders, reverses and cuts the rows as `args` say (name order by
/// default; --sort size by capacity, age by creation, youngest first).
fn arrange(rows: &mut Vec<StoreRow>, args: &LsArgs) {
    match args.sort {
        SortKey::Id => rows.sort_by(|a, b| a.name.cmp(&b.name)),
        SortKey::Size => rows.sort_by(|a, b| a.capacity_bytes.cmp(&b.capacity_bytes).then_with(|| a.name.cmp(&b.name))),
        SortKey::Age => {
            rows.sort_by(|a, b| b.created_unix.cmp(&a.created_unix).then_with(|| a.name.cmp(&b.name)));
        }
    }
    if args.reverse {
        rows.reverse();
    }
    if let Some(n) = args.limit {
        rows.truncate(n);
    }
}

/// The rows as a table with a header line.
pub fn table(rows: &[StoreRow], exact: bool) -> String {
    let size = |b: Option<u64>| b.map_or("-".to_string(), |b| if exact { b.to_string() } else { format_size(b) });
    let count = |n: Option<u64>| n.map_or("-".to_string(), |n| n.to_string());
    let cells: Vec<[String; 9]> = rows
        .iter()
        .map(|r| {
            let percent = match (r.used_bytes, r.capacity_bytes) {
                (Some(u), Some(c)) if c > 0 => format!("{:.1}%", u as f64 * 100.0 / c as f64),
                _ => "-".to_string(),
            };
            let procs = match (r.attached_processes, r.max_processes) {
                (Some(n), Some(m)) => format!("{n}/{m}"),
                _ => "-".to_string(),
            };
            [
                r.name.clone(),
                r.owner.clone(),
                r.mode.clone(),
                size(r.capacity_bytes),
                size(r.used_bytes),
                percent,
                count(r.object_count),
                procs,
                r.status.to_string(),
            ]
        })
        .collect();
    let header = ["NAME", "OWNER", "MODE", "SIZE", "USED", "USE%", "OBJECTS", "PROCS", "STATUS"];
    let right = [false, false, false, true, true, true, true, true, false];
    let mut width = header.map(str::len);
    for row in &cells {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: [&str; 9]| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            if right[i] {
                let _ = write!(l, "{c:>w$}", w = width[i]);
            } else {
                let _ = write!(l, "{c:<w$}", w = width[i]);
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header);
    for row in &cells {
        line(std::array::from_fn(|i| row[i].as_str()));
    }
    out
}

pub fn run(args: LsArgs) -> Result<(), Failure> {
    if !args.state.is_empty() || args.min_size.is_some() || args.max_size.is_some() || args.pinned {
        return Err(Failure::usage(
            "--state, --min-size, --max-size and --pinned choose objects: name a store (`objstore ls NAME`)",
        ));
    }
    let dirs: Vec<PathBuf> = if args.dir.is_empty() { vec![PathBuf::from(SHM_DIR)] } else { args.dir.clone() };
    let mut rows = Vec::new();
    for dir in &dirs {
        let (found, unreadable) = scan(dir)?;
        rows.extend(found);
        if unreadable > 0 {
            let (s, verb) = if unreadable == 1 { ("", "is") } else { ("s", "are") };
            note(&format!(
                "{unreadable} file{s} in {} could not be read and {verb} not shown (other users' files)",
                dir.display()
            ));
        }
    }
    arrange(&mut rows, &args);
    let text = if args.json {
        serde_json::to_string_pretty(&rows).expect("rows serialize") + "\n"
    } else if args.ids_only {
        rows.iter().map(|r| r.name.clone() + "\n").collect()
    } else {
        table(&rows, args.bytes)
    };
    emit(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, capacity: Option<u64>, used: Option<u64>, status: &'static str) -> StoreRow {
        StoreRow {
            name: name.into(),
            path: format!("/dev/shm/{name}"),
            owner: "alice".into(),
            uid: 1000,
            mode: "0600".into(),
            file_bytes: 1 << 20,
            capacity_bytes: capacity,
            used_bytes: used,
            object_count: used.map(|_| 3),
            max_objects: capacity.map(|_| 65536),
            attached_processes: used.map(|_| 2),
            max_processes: capacity.map(|_| 256),
            spill_dir: None,
            created_unix: Some(1000),
            status,
            detail: None,
        }
    }

    #[test]
    fn the_table_shows_what_is_known_and_dashes_for_the_rest() {
        let rows = [
            row("demo", Some(64 << 20), Some(16 << 20), "ok"),
            row("theirs", Some(1 << 30), None, "header only"),
            row("broken", None, None, "corrupt"),
        ];
        let t = table(&rows, false);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("NAME  ") && lines[0].ends_with("STATUS"), "{t}");
        assert!(lines[1].contains("64 MiB") && lines[1].contains("16 MiB") && lines[1].contains("25.0%"), "{t}");
        assert!(lines[1].contains("2/256") && lines[1].ends_with("ok"), "{t}");
        assert!(lines[2].contains("1 GiB") && lines[2].contains(" - ") && lines[2].ends_with("header only"), "{t}");
        assert!(lines[3].ends_with("corrupt"), "{t}");
        assert!(table(&rows, true).contains(&(64u64 << 20).to_string()));
    }
}

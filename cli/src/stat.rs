//! `stat` and `watch`: a store's counters and attached processes, once or
//! refreshed live.
//!
//! The command itself is attached while it looks, so it leaves its own
//! process out of the process list and count: an operator asking "who is
//! using this store" does not mean the tool they are asking with.

use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use objstore::Store;
use serde::Serialize;

use crate::args::{StatArgs, WatchArgs};
use crate::exit::{Failure, NOT_FOUND};
use crate::units::format_size;
use crate::{emit, interrupt, open};

/// What `stat --json` prints (and `watch --json`, with a time).
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub name: String,
    pub path: String,
    pub capacity_bytes: u64,
    pub used_bytes: u64,
    pub object_count: u64,
    pub unsealed_count: u64,
    pub pinned_count: u64,
    pub spilled_count: u64,
    pub spilled_bytes: u64,
    /// Fixed when the store was created; None: none.
    pub spill_dir: Option<String>,
    pub remote_url: Option<String>,
    /// Since the store was created.
    pub spills_total: u64,
    pub restores_total: u64,
    /// References held (one per process and object) and the objects they
    /// keep; tickets given and not yet taken.
    pub references: u64,
    pub referenced_count: u64,
    pub tickets: u64,
    /// Evictable objects deleted to make room since the store was created.
    pub evictions_total: u64,
    /// The remote tier's traffic since the store was created.
    pub publishes_total: u64,
    pub published_bytes: u64,
    pub fetches_total: u64,
    pub fetched_bytes: u64,
    pub max_objects: u64,
    pub max_processes: u32,
    /// Other processes attached (this command is not counted).
    pub attached_processes: u32,
    pub processes: Vec<Process>,
    /// Dead processes reclaimed since the store was created.
    pub reclaimed_processes: u64,
}

#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    pub slot: u32,
}

/// The store's counters now.
pub fn snapshot(store: &Store, name: &str) -> Result<Report, Failure> {
    let s = store.stats()?;
    let me = store.process_slot();
    let processes: Vec<Process> =
        store.processes()?.into_iter().filter(|p| p.slot != me).map(|p| Process { pid: p.pid, slot: p.slot }).collect();
    Ok(Report {
        name: name.to_string(),
        path: store.path().display().to_string(),
        capacity_bytes: s.capacity_bytes,
        used_bytes: s.used_bytes,
        object_count: s.object_count,
        unsealed_count: s.unsealed_count,
        pinned_count: s.pinned_count,
        spilled_count: s.spilled_count,
        spilled_bytes: s.spilled_bytes,
        spill_dir: store.spill_dir().map(|d| d.display().to_string()),
        remote_url: store.remote_url().map(str::to_string),
        spills_total: s.spills_total,
        restores_total: s.restores_total,
        references: s.references,
        referenced_count: s.referenced_count,
        tickets: s.tickets,
        evictions_total: s.evictions_total,
        publishes_total: s.publishes_total,
        published_bytes: s.published_bytes,
        fetches_total: s.fetches_total,
        fetched_bytes: s.fetched_bytes,
        max_objects: s.max_objects,
        max_processes: s.max_processes,
        attached_processes: processes.len() as u32,
        processes,
        reclaimed_processes: s.reclaimed_processes,
    })
}

fn size(bytes: u64, exact: bool) -> String {
    if exact {
        bytes.to_string()
    } else {
        format_size(bytes)
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The report as aligned `field: value` lines.
pub fn render(r: &Report, exact: bool) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "store:      {} ({})", r.name, r.path);
    let _ = writeln!(t, "capacity:   {}", size(r.capacity_bytes, exact));
    let _ = writeln!(t, "used:       {} ({:.1}%)", size(r.used_bytes, exact), percent(r.used_bytes, r.capacity_bytes));
    let _ = writeln!(t, "objects:    {} (of {} slots)", r.object_count, r.max_objects);
    let _ = writeln!(t, "unsealed:   {}", r.unsealed_count);
    let _ = writeln!(t, "pinned:     {}", r.pinned_count);
    let _ = writeln!(t, "spilled:    {} ({} on disk)", r.spilled_count, size(r.spilled_bytes, exact));
    let _ = writeln!(t, "spill dir:  {}", r.spill_dir.as_deref().unwrap_or("none"));
    let _ = writeln!(
        t,
        "            {} and {} since creation",
        plural(r.spills_total, "spill", "spills"),
        plural(r.restores_total, "restore", "restores")
    );
    let _ = writeln!(
        t,
        "referenced: {} ({}, {} outstanding)",
        plural(r.referenced_count, "object", "objects"),
        plural(r.references, "process reference", "process references"),
        plural(r.tickets, "ticket", "tickets")
    );
    let _ = writeln!(t, "evicted:    {} since creation", plural(r.evictions_total, "object", "objects"));
    let _ = writeln!(t, "remote:     {}", r.remote_url.as_deref().unwrap_or("none"));
    if r.remote_url.is_some() {
        let _ = writeln!(
            t,
            "            published {} ({}), fetched {} ({}) since creation",
            plural(r.publishes_total, "object", "objects"),
            size(r.published_bytes, exact),
            plural(r.fetches_total, "object", "objects"),
            size(r.fetched_bytes, exact)
        );
    }
    let _ = writeln!(t, "processes:  {} of {} (not counting this command)", r.attached_processes, r.max_processes);
    for p in &r.processes {
        let _ = writeln!(t, "            pid {:<10} slot {}", p.pid, p.slot);
    }
    let _ =
        writeln!(t, "reclaimed:  {} since creation", plural(r.reclaimed_processes, "dead process", "dead processes"));
    t
}

pub fn stat(name: &str, args: StatArgs) -> Result<(), Failure> {
    let store = open::existing(name)?;
    let report = snapshot(&store, name)?;
    drop(store);
    if args.json {
        emit(&(serde_json::to_string_pretty(&report).expect("a report serializes") + "\n"))
    } else {
        emit(&render(&report, args.bytes))
    }
}

/// One refresh of `watch --json`.
#[derive(Serialize)]
struct Tick<'a> {
    time_unix: u64,
    #[serde(flatten)]
    report: &'a Report,
}

fn header() -> String {
    format!(
        "{:<8}  {:>12}  {:>5}  {:>8}  {:>8}  {:>8}  {:>8}  {:>5}  {:>9}\n",
        "TIME", "USED", "%USED", "OBJECTS", "UNSEALED", "PINNED", "SPILLED", "PROCS", "RECLAIMED"
    )
}

fn row(r: &Report, now_unix: u64, exact: bool) -> String {
    format!(
        "{:<8}  {:>12}  {:>5.1}  {:>8}  {:>8}  {:>8}  {:>8}  {:>5}  {:>9}\n",
        clock(now_unix),
        size(r.used_bytes, exact),
        percent(r.used_bytes, r.capacity_bytes),
        r.object_count,
        r.unsealed_count,
        r.pinned_count,
        r.spilled_count,
        r.attached_processes,
        r.reclaimed_processes
    )
}

/// Local wall-clock time as HH:MM:SS.
fn clock(unix: u64) -> String {
    let t = unix as libc::time_t;
    // SAFETY: `tm` is plain data that localtime_r fills in; both pointers
    // are valid for the call.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return format!("{unix}");
        }
        tm
    };
    format!("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec)
}

fn now_unix() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The identity of the file at `path` now, if there is one.
fn file_id(path: &std::path::Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

pub fn watch(name: &str, args: WatchArgs) -> Result<(), Failure> {
    interrupt::install();
    let store = open::existing(name)?;
    let watched = file_id(store.path());
    let mut next = Instant::now();
    let mut shown = 0u64;
    loop {
        // A destroyed (or destroyed and re-created) store is not the one we
        // map any more: say so rather than show a ghost.
        if file_id(store.path()) != watched {
            return Err(Failure::new(NOT_FOUND, format!("store '{name}' was destroyed")));
        }
        let report = snapshot(&store, name)?;
        let now = now_unix();
        let text = if args.json {
            serde_json::to_string(&Tick { time_unix: now, report: &report }).expect("a report serializes") + "\n"
        } else if shown == 0 {
            header() + &row(&report, now, args.bytes)
        } else {
            row(&report, now, args.bytes)
        };
        emit(&text)?;
        shown += 1;
        if args.count == Some(shown) {
            return Ok(());
        }
        // Keep the beat; after a slow refresh, start a new one from now.
        next = (next + args.interval).max(Instant::now());
        if !interrupt::sleep_until(next) {
            // Ctrl-C is how watch normally ends.
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        Report {
            name: "demo".into(),
            path: "/dev/shm/demo".into(),
            capacity_bytes: 64 << 20,
            used_bytes: 3 << 20,
            object_count: 3,
            unsealed_count: 1,
            pinned_count: 1,
            spilled_count: 0,
            spilled_bytes: 0,
            spill_dir: None,
            remote_url: Some("s3://bucket/prefix".into()),
            spills_total: 5,
            restores_total: 1,
            references: 3,
            referenced_count: 2,
            tickets: 1,
            evictions_total: 0,
            publishes_total: 2,
            published_bytes: 3 << 20,
            fetches_total: 1,
            fetched_bytes: 1 << 20,
            max_objects: 65536,
            max_processes: 256,
            attached_processes: 1,
            processes: vec![Process { pid: 4242, slot: 7 }],
            reclaimed_processes: 1,
        }
    }

    #[test]
    fn render_shows_every_counter() {
        let text = render(&sample(), false);
        for line in [
            "store:      demo (/dev/shm/demo)",
            "capacity:   64 MiB",
            "used:       3 MiB (4.7%)",
            "objects:    3 (of 65536 slots)",
            "unsealed:   1",
            "pinned:     1",
            "spilled:    0 (0 B on disk)",
            "spill dir:  none",
            "            5 spills and 1 restore since creation",
            "referenced: 2 objects (3 process references, 1 ticket outstanding)",
            "evicted:    0 objects since creation",
            "remote:     s3://bucket/prefix",
            "            published 2 objects (3 MiB), fetched 1 object (1 MiB) since creation",
            "processes:  1 of 256 (not counting this command)",
            "            pid 4242       slot 7",
            "reclaimed:  1 dead process since creation",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        assert!(render(&sample(), true).contains("capacity:   67108864\n"));
        // Without a remote, no traffic line.
        let plain = Report { remote_url: None, ..sample() };
        let text = render(&plain, false);
        assert!(text.contains("remote:     none\n") && !text.contains("published"), "{text}");
    }

    #[test]
    fn watch_rows_line_up_with_the_header() {
        let (head, line) = (header(), row(&sample(), 0, false));
        assert_eq!(line.len(), head.len(), "{head}{line}");
        // Each value ends under the last letter of its title.
        let (head, line) = (head.trim_end(), line.trim_end());
        for title in head.split_whitespace().skip(1) {
            let end = head.find(title).unwrap() + title.len();
            assert_ne!(line.as_bytes()[end - 1], b' ', "{title}:\n{head}\n{line}");
            assert!(line.as_bytes().get(end).is_none_or(|&c| c == b' '), "{title}:\n{head}\n{line}");
        }
    }
}

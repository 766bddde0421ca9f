//! `ls`: the objects of a store, filtered, sorted and printed as a table,
//! as IDs only, or as JSON.
//!
//! The listing is one scan of the object table (`Store::list`), not a
//! snapshot: objects put or deleted while it runs may or may not appear.

use std::time::{SystemTime, UNIX_EPOCH};

use objstore::{ObjectId, ObjectInfo, ObjectState, ProcessInfo, Store};
use serde::Serialize;

use crate::args::{LsArgs, SortKey, StateFilter};
use crate::exit::Failure;
use crate::units::{format_age, format_size};
use crate::{emit, open};

/// One object as `ls --json` prints it.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub id: String,
    pub data_len: u64,
    pub meta_len: u64,
    /// unsealed, sealed, spilled or deleted.
    pub state: &'static str,
    /// Put with OBJECT_REFCOUNTED: freed with its last reference.
    pub refcounted: bool,
    /// Put with OBJECT_EVICTABLE: a cache entry, evicted when memory runs short.
    pub evictable: bool,
    /// Processes holding at least one pin.
    pub pinning_processes: u32,
    /// Processes holding at least one reference.
    pub referencing_processes: u32,
    /// On disk only (restored on the next get).
    pub spilled: bool,
    pub created_unix: u64,
    pub age_seconds: u64,
    /// With --holders: the pids of the live processes pinning it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin_holders: Option<Vec<u32>>,
    /// With --holders: the pids of the live processes referencing it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ref_holders: Option<Vec<u32>>,
}

impl Row {
    fn new(o: &ObjectInfo, now_unix: u64) -> Row {
        Row {
            id: o.id.to_hex(),
            data_len: o.data_len,
            meta_len: o.meta_len,
            state: o.state.name(),
            refcounted: o.flags & objstore::OBJECT_REFCOUNTED != 0,
            evictable: o.flags & objstore::OBJECT_EVICTABLE != 0,
            pinning_processes: o.pinning_processes,
            referencing_processes: o.referencing_processes,
            spilled: o.state == ObjectState::Spilled,
            created_unix: o.created_unix,
            age_seconds: now_unix.saturating_sub(o.created_unix),
            pin_holders: None,
            ref_holders: None,
        }
    }

    fn size(&self) -> u64 {
        self.data_len.saturating_add(self.meta_len)
    }
}

fn state_of(f: StateFilter) -> ObjectState {
    match f {
        StateFilter::Unsealed => ObjectState::Unsealed,
        StateFilter::Sealed => ObjectState::Sealed,
        StateFilter::Spilled => ObjectState::Spilled,
        StateFilter::Deleted => ObjectState::Deleted,
    }
}

/// Applies the filters, the order and the limit of `args` to a listing.
pub fn select(objects: &[ObjectInfo], args: &LsArgs, now_unix: u64) -> Vec<Row> {
    let states: Vec<ObjectState> = args.state.iter().map(|&f| state_of(f)).collect();
    let mut rows: Vec<Row> = objects
        .iter()
        .filter(|o| states.is_empty() || states.contains(&o.state))
        .filter(|o| !args.pinned || o.pinning_processes > 0)
        .filter(|o| !args.referenced || o.referencing_processes > 0)
        .map(|o| Row::new(o, now_unix))
        .filter(|r| args.min_size.is_none_or(|m| r.size() >= m))
        .filter(|r| args.max_size.is_none_or(|m| r.size() <= m))
        .collect();
    // Ties break by ID, so the order is total and the same on every run.
    match args.sort {
        SortKey::Id => rows.sort_by(|a, b| a.id.cmp(&b.id)),
        SortKey::Size => rows.sort_by(|a, b| a.size().cmp(&b.size()).then_with(|| a.id.cmp(&b.id))),
        SortKey::Age => rows.sort_by(|a, b| a.age_seconds.cmp(&b.age_seconds).then_with(|| a.id.cmp(&b.id))),
    }
    if args.reverse {
        rows.reverse();
    }
    if let Some(n) = args.limit {
        rows.truncate(n);
    }
    rows
}

/// Fills in the rows' holders: the pids of the live processes that pin and
/// reference each object now. An object gone since the listing has none.
pub fn add_holders(store: &Store, rows: &mut [Row]) {
    let pids = |found: objstore::Result<Vec<ProcessInfo>>| -> Vec<u32> {
        let mut v: Vec<u32> = found.unwrap_or_default().iter().map(|p| p.pid).collect();
        v.sort_unstable();
        v
    };
    for r in rows {
        let Ok(id) = ObjectId::from_hex(&r.id) else { continue };
        r.pin_holders = Some(pids(store.pin_holders(&id)));
        r.ref_holders = Some(pids(store.ref_holders(&id)));
    }
}

/// "counted", "cache", both, or "plain": how the object goes (with its
/// last reference, when memory runs short, or when deleted).
fn kind_cell(r: &Row) -> &'static str {
    match (r.refcounted, r.evictable) {
        (false, false) => "plain",
        (true, false) => "counted",
        (false, true) => "cache",
        (true, true) => "counted,cache",
    }
}

/// "pins 12,34 refs 56", or "-" when nobody holds the object.
fn holders_cell(r: &Row) -> String {
    let list = |v: &Option<Vec<u32>>| v.iter().flatten().map(u32::to_string).collect::<Vec<_>>().join(",");
    let (pins, refs) = (list(&r.pin_holders), list(&r.ref_holders));
    let parts: Vec<String> = [("pins", pins), ("refs", refs)]
        .into_iter()
        .filter(|(_, l)| !l.is_empty())
        .map(|(what, l)| format!("{what} {l}"))
        .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(" ")
    }
}

/// The rows as a table with a header line (with a HOLDERS column when the
/// rows have their holders).
pub fn table(rows: &[Row], exact: bool) -> String {
    let size = |b: u64| if exact { b.to_string() } else { format_size(b) };
    let cells: Vec<[String; 9]> = rows
        .iter()
        .map(|r| {
            [
                r.id.clone(),
                size(r.data_len),
                size(r.meta_len),
                r.state.to_string(),
                kind_cell(r).to_string(),
                r.pinning_processes.to_string(),
                r.referencing_processes.to_string(),
                if r.spilled { "disk" } else { "memory" }.to_string(),
                format_age(r.age_seconds),
            ]
        })
        .collect();
    // Numbers right-aligned, words left-aligned.
    const HEAD: [&str; 9] = ["ID", "DATA", "META", "STATE", "KIND", "PINS", "REFS", "WHERE", "AGE"];
    const RIGHT: [bool; 9] = [false, true, true, false, false, true, true, false, true];
    if rows.iter().all(|r| r.pin_holders.is_none()) {
        return crate::table::render(HEAD, RIGHT, &cells);
    }
    let with_holders: Vec<[String; 10]> = cells
        .into_iter()
        .zip(rows)
        .map(|(c, r)| {
            let [a, b, c, d, e, f, g, h, i] = c;
            [a, b, c, d, e, f, g, h, i, holders_cell(r)]
        })
        .collect();
    let mut head = [""; 10];
    head[..9].copy_from_slice(&HEAD);
    head[9] = "HOLDERS";
    let mut right = [false; 10];
    right[..9].copy_from_slice(&RIGHT);
    crate::table::render(head, right, &with_holders)
}

/// `ls NAME`: the objects of the store `name`.
pub fn run(name: &str, args: LsArgs) -> Result<(), Failure> {
    let store = open::existing(name)?;
    let objects = store.list()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let mut rows = select(&objects, &args, now);
    if args.holders {
        add_holders(&store, &mut rows);
    }
    drop(store);
    let text = if args.json {
        serde_json::to_string_pretty(&rows).expect("rows serialize") + "\n"
    } else if args.ids_only {
        rows.iter().map(|r| r.id.clone() + "\n").collect()
    } else {
        table(&rows, args.bytes)
    };
    emit(&text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command};
    use clap::Parser;
    use objstore::ObjectId;

    fn info(b: u8, data_len: u64, state: ObjectState, pins: u32, created: u64) -> ObjectInfo {
        ObjectInfo {
            id: ObjectId([b; 20]),
            data_len,
            meta_len: 0,
            state,
            pinning_processes: pins,
            referencing_processes: 0,
            created_unix: created,
            flags: if b == 3 { objstore::OBJECT_EVICTABLE } else { 0 },
        }
    }

    fn ls(extra: &[&str]) -> LsArgs {
        let argv = ["objstore", "ls", "s"].iter().chain(extra).copied();
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Ls(a) => a,
            _ => unreachable!(),
        }
    }

    fn ids(rows: &[Row]) -> Vec<u8> {
        rows.iter().map(|r| u8::from_str_radix(&r.id[..2], 16).unwrap()).collect()
    }

    fn sample() -> Vec<ObjectInfo> {
        vec![
            info(3, 300, ObjectState::Sealed, 0, 1000),
            info(1, 100, ObjectState::Sealed, 2, 990),
            info(2, 5000, ObjectState::Unsealed, 0, 995),
            info(4, 10, ObjectState::Spilled, 0, 900),
            info(5, 700, ObjectState::Deleted, 1, 999),
        ]
    }

    #[test]
    fn filters_and_sorts() {
        let objs = sample();
        assert_eq!(ids(&select(&objs, &ls(&[]), 1000)), [1, 2, 3, 4, 5]);
        assert_eq!(ids(&select(&objs, &ls(&["--sort", "size"]), 1000)), [4, 1, 3, 5, 2]);
        assert_eq!(ids(&select(&objs, &ls(&["--sort", "size", "-r", "-n", "2"]), 1000)), [2, 5]);
        assert_eq!(ids(&select(&objs, &ls(&["--sort", "age"]), 1000)), [3, 5, 2, 1, 4]);
        assert_eq!(ids(&select(&objs, &ls(&["--state", "sealed,spilled"]), 1000)), [1, 3, 4]);
        assert_eq!(ids(&select(&objs, &ls(&["-s", "unsealed", "-s", "deleted"]), 1000)), [2, 5]);
        assert_eq!(ids(&select(&objs, &ls(&["--pinned"]), 1000)), [1, 5]);
        assert_eq!(ids(&select(&objs, &ls(&["--min-size", "300", "--max-size", "1KiB"]), 1000)), [3, 5]);
        let spilled = &select(&objs, &ls(&["-s", "spilled"]), 1000)[0];
        assert!(spilled.spilled);
        assert_eq!(spilled.age_seconds, 100);
    }

    #[test]
    fn table_aligns_columns() {
        let rows = select(&sample(), &ls(&[]), 1000);
        let t = table(&rows, false);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 6);
        assert!(lines[0].starts_with("ID  "), "{t}");
        assert!(lines[2].starts_with(&"02".repeat(20)), "{t}");
        assert!(lines[2].contains("4.9 KiB") && lines[2].contains("unsealed"), "{t}");
        assert!(lines[4].contains(" disk "), "{t}");
        assert!(lines[3].contains(" cache ") && lines[1].contains(" plain "), "{t}");
        // Every size column ends where its header does.
        let data_end = lines[0].find("DATA").unwrap() + 4;
        for l in &lines[1..] {
            assert_eq!(l.as_bytes()[data_end - 1], b'B', "{t}");
        }
    }
}

//! Load held: a thousand processes attach (in waves up to the store's
//! process limit, and one wave beyond it), each putting, getting, deleting
//! and detaching. Every one succeeds or, past the limit, gets
//! TOO_MANY_PROCESSES cleanly; slots are reused; nothing is left behind.

mod common;

use std::time::Duration;

use common::child::spawn_child;
use common::{assert_consistent, TempStore};
use objstore::Options;

const MIB: u64 = 1 << 20;

#[test]
#[ignore = "entry point of child processes, run by the other tests"]
fn child_entry() {
    common::child::run_child();
}

/// Starts `count` processes at once, waits for all, returns their reports.
fn wave(store: &str, first: u32, count: u32) -> Vec<String> {
    let kids: Vec<_> =
        (first..first + count).map(|c| spawn_child("attach_once", &[store.to_string(), c.to_string()])).collect();
    let mut reports = vec![];
    for mut k in kids {
        let st = k.wait_exit(Duration::from_secs(300));
        assert!(st.success(), "a child failed: {st}");
        reports.extend(k.drain());
    }
    reports
}

#[test]
fn a_thousand_processes_attach_in_waves_and_slots_are_reused() {
    let t = TempStore::new("thousand");
    let max_processes = 256;
    let s = t.open(&Options { capacity_bytes: 64 * MIB, max_processes, ..Options::default() });
    // Four waves that fit beside this process: every attach succeeds.
    let per_wave = max_processes - 1;
    let mut attached = 0;
    for w in 0..4 {
        let reports = wave(&t.name, w * per_wave, per_wave);
        let bad: Vec<_> = reports.iter().filter(|r| *r != "ok").collect();
        assert!(bad.is_empty(), "wave {w}: {} not ok, first {:?}", bad.len(), &bad[..bad.len().min(3)]);
        assert_eq!(reports.len() as u32, per_wave);
        attached += per_wave;
    }
    assert!(attached >= 1000);
    // One wave beyond the limit: the extra processes are refused cleanly.
    let reports = wave(&t.name, 5000, max_processes + 44);
    let ok = reports.iter().filter(|r| *r == "ok").count();
    let full = reports.iter().filter(|r| *r == "full").count();
    assert_eq!(
        ok + full,
        reports.len(),
        "{:?}",
        reports.iter().filter(|r| *r != "ok" && *r != "full").collect::<Vec<_>>()
    );
    assert!(ok >= per_wave as usize, "only {ok} attached");
    let st = s.stats().unwrap();
    assert_eq!((st.attached_processes, st.object_count, st.used_bytes), (1, 0, 0), "{st:?}");
    assert_consistent(&s);
}

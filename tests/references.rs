//! References and tickets: objects put REFCOUNTED free themselves when the
//! last reference and the last pin go, in whichever process that happens,
//! including the reclaim of a killed holder; references also keep plain
//! objects from being freed; tickets hand a reference over with no moment
//! in which nobody holds it.

mod common;

use std::time::Duration;

use common::child::{check_content, check_fresh, content_for, derived_id, spawn_child};
use common::{assert_consistent, SpillDir, TempStore};
use objstore::{ErrorKind, ObjectId, ObjectState, Options, Store, OBJECT_REFCOUNTED};

const MIB: u64 = 1 << 20;
const LONG: Duration = Duration::from_secs(60);

#[test]
#[ignore = "entry point of child processes, run by the other tests"]
fn child_entry() {
    common::child::run_child();
}

fn store(t: &TempStore) -> Store {
    t.open(&TempStore::options(64 * MIB))
}

fn objects(s: &Store) -> u64 {
    s.stats().unwrap().object_count
}

#[test]
fn the_last_unref_deletes_a_refcounted_object() {
    let t = TempStore::new("refs-last");
    let s = store(&t);
    let id = s.put_ex(b"counted", b"meta", OBJECT_REFCOUNTED).unwrap();
    assert_eq!(s.references(&id), 1, "the creator holds the first reference");
    let st = s.stats().unwrap();
    assert_eq!((st.object_count, st.references, st.referenced_count), (1, 1, 1));
    s.add_ref(&id).unwrap();
    s.unref(&id).unwrap();
    assert!(s.contains(&id).unwrap(), "a reference remains");
    s.unref(&id).unwrap();
    assert!(!s.contains(&id).unwrap());
    let st = s.stats().unwrap();
    assert_eq!((st.object_count, st.used_bytes, st.references), (0, 0, 0));
    // The ID is free again.
    s.put_as(&id, b"again", b"").unwrap();
    assert_consistent(&s);
}

#[test]
fn failures_have_their_own_status() {
    let t = TempStore::new("refs-fail");
    let s = store(&t);
    let plain = s.put(b"plain").unwrap();
    assert_eq!(s.unref(&plain).unwrap_err().kind(), ErrorKind::NotFound, "an unref without a reference");
    assert_eq!(s.add_ref(&ObjectId([3; 20])).unwrap_err().kind(), ErrorKind::NotFound, "an absent object");
    s.delete(&plain).unwrap();
    assert_eq!(s.add_ref(&plain).unwrap_err().kind(), ErrorKind::NotFound, "a ref to a deleted object");
    let counted = s.put_ex(b"x", b"", OBJECT_REFCOUNTED).unwrap();
    s.unref(&counted).unwrap();
    assert_eq!(s.add_ref(&counted).unwrap_err().kind(), ErrorKind::NotFound, "a ref to a retired object");
    assert_eq!(s.unref(&counted).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(s.put_ex(b"x", b"", 1 << 7).unwrap_err().kind(), ErrorKind::InvalidArgument, "an unknown flag");
    // An unsealed object cannot lose its creator's reference before its seal.
    let (id, _) = s.create_ex_raw(None, 10, b"", OBJECT_REFCOUNTED).unwrap();
    assert_eq!(s.unref(&id).unwrap_err().kind(), ErrorKind::NotSealed);
    s.seal(&id).unwrap();
    s.unref(&id).unwrap();
    assert!(!s.contains(&id).unwrap());
    assert_consistent(&s);
}

#[test]
fn a_pin_keeps_a_refcounted_object_until_its_release() {
    let t = TempStore::new("refs-pin");
    let s = store(&t);
    let id = s.put_ex(b"pinned bytes", b"", OBJECT_REFCOUNTED).unwrap();
    let obj = s.get(&id, Some(Duration::ZERO)).unwrap();
    s.unref(&id).unwrap();
    // Still visible: the pin is a hold too.
    assert!(s.contains(&id).unwrap());
    let again = s.get(&id, Some(Duration::ZERO)).unwrap();
    assert_eq!(again.data(), b"pinned bytes");
    drop(again);
    assert_eq!(obj.data(), b"pinned bytes");
    drop(obj);
    assert!(!s.contains(&id).unwrap());
    assert_eq!(s.stats().unwrap().used_bytes, 0);
    assert_consistent(&s);
}

#[test]
fn references_keep_a_deleted_plain_object_until_the_last_unref() {
    let t = TempStore::new("refs-plain");
    let s = store(&t);
    let id = s.put(b"plain").unwrap();
    s.add_ref(&id).unwrap();
    s.unref(&id).unwrap();
    assert!(s.contains(&id).unwrap(), "a plain object is not freed when its count reaches zero");
    s.add_ref(&id).unwrap();
    s.add_ref(&id).unwrap(); // held: the check of a second goes to where the object was seen
    s.delete(&id).unwrap();
    assert!(!s.contains(&id).unwrap());
    assert_eq!(s.add_ref(&id).unwrap_err().kind(), ErrorKind::NotFound, "held, but deleted");
    s.unref(&id).unwrap();
    assert!(s.stats().unwrap().used_bytes > 0, "referenced: not freed");
    assert_eq!(s.put_as(&id, b"x", b"").unwrap_err().kind(), ErrorKind::AlreadyExists, "the ID stays reserved");
    assert_eq!(s.ref_holders(&id).unwrap().len(), 1);
    s.unref(&id).unwrap();
    assert_eq!(s.stats().unwrap().used_bytes, 0);
    s.put_as(&id, b"x", b"").unwrap();
    assert_consistent(&s);
}

#[test]
fn references_of_two_handles_and_a_close() {
    let t = TempStore::new("refs-close");
    let a = store(&t);
    let b = store(&t);
    let id = a.put_ex(b"shared", b"", OBJECT_REFCOUNTED).unwrap();
    b.add_ref(&id).unwrap();
    b.add_ref(&id).unwrap();
    assert_eq!(b.unref(&ObjectId([1; 20])).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(a.unref(&id).map(|_| a.references(&id)), Ok(0));
    assert_eq!(a.unref(&id).unwrap_err().kind(), ErrorKind::NotFound, "each handle counts its own");
    assert!(a.contains(&id).unwrap());
    // Closing a handle drops exactly its references.
    drop(b);
    assert!(!a.contains(&id).unwrap());
    assert_consistent(&a);
}

#[test]
fn a_killed_holders_references_are_dropped_at_reclaim() {
    let t = TempStore::new("refs-killed");
    let s = store(&t);
    let ids: Vec<ObjectId> = (0..3).map(|n| derived_id(4, n)).collect();
    for id in &ids {
        s.put_as_ex(id, &content_for(id), b"", OBJECT_REFCOUNTED).unwrap();
    }
    let plain = derived_id(4, 99);
    s.put_as(&plain, &content_for(&plain), b"").unwrap();
    let hexes: Vec<String> = ids.iter().chain([&plain]).map(|i| i.to_hex()).collect();
    let holder = spawn_child("ref_hold", &[vec![t.name.clone()], hexes].concat());
    holder.wait_for("ready", LONG);
    assert_eq!(s.ref_holders(&ids[0]).unwrap().len(), 2);
    for id in &ids {
        s.unref(id).unwrap();
    }
    s.delete(&plain).unwrap();
    assert_eq!(objects(&s), 3, "the holder keeps them (and the deleted plain one's memory)");
    holder.signal(libc::SIGKILL);
    let mut holder = holder;
    holder.wait_exit(LONG);
    let r = s.collect().unwrap();
    assert_eq!((r.processes, r.references), (1, 4), "{r:?}");
    let st = s.stats().unwrap();
    assert_eq!((st.object_count, st.used_bytes, st.references), (0, 0, 0), "{st:?}");
    assert_consistent(&s);
}

#[test]
fn a_refcounted_object_freed_on_disk_and_one_restored_keeps_its_holders() {
    let t = TempStore::new("refs-spill");
    let dir = SpillDir::new("refs");
    let s = t.open_spilling(&dir, 4 * MIB);
    let other = t.open(&Options::default());
    // Eight objects of 1 MiB in a store of 4: the first ones are spilled.
    let ids: Vec<ObjectId> = (0..8u64).map(|n| derived_id(5, n)).collect();
    let data =
        |id: &ObjectId| common::pattern(u64::from_le_bytes(id.0[4..12].try_into().unwrap()), MIB as usize - 4096);
    for id in &ids {
        s.put_as_ex(id, &data(id), b"", OBJECT_REFCOUNTED).unwrap();
        other.add_ref(id).unwrap();
    }
    let st = s.stats().unwrap();
    assert!(st.spilled_count >= 4, "{st:?}");
    assert_eq!(st.references, 8, "one per process and object: both handles are this process");
    // Losing its last reference frees a spilled object on disk too.
    let files = dir.files().len();
    s.unref(&ids[0]).unwrap();
    other.unref(&ids[0]).unwrap();
    assert!(!s.contains(&ids[0]).unwrap());
    assert_eq!(dir.files().len(), files - 1, "its spill file is gone");
    // A restore carries the holders: the object lives while one remains.
    let obj = s.get(&ids[1], None).unwrap();
    assert_eq!(obj.data(), data(&ids[1]).as_slice());
    drop(obj);
    assert_eq!(s.ref_holders(&ids[1]).unwrap().len(), 1, "one process holds it, through two handles");
    s.unref(&ids[1]).unwrap();
    assert!(s.contains(&ids[1]).unwrap());
    other.unref(&ids[1]).unwrap();
    assert!(!s.contains(&ids[1]).unwrap());
    // Dropping the handles frees the rest, in memory and on disk.
    drop(other);
    drop(s);
    let s = t.open(&Options::default());
    let st = s.stats().unwrap();
    assert_eq!((st.object_count, st.used_bytes, st.spilled_count), (0, 0, 0), "{st:?}");
    assert!(dir.files().is_empty(), "{:?}", dir.files());
    assert_consistent(&s);
}

#[test]
fn a_ticket_moves_a_reference_and_is_taken_once() {
    let t = TempStore::new("tickets");
    let giver = store(&t);
    let taker = store(&t);
    let id = giver.put_ex(b"handed over", b"", OBJECT_REFCOUNTED).unwrap();
    let other = giver.put_ex(b"another", b"", OBJECT_REFCOUNTED).unwrap();
    let ticket = giver.give_ref(&id).unwrap();
    assert_eq!(giver.references(&id), 0);
    // Charged to its giver until taken: the giver's process holds it.
    let me = vec![std::process::id()];
    assert_eq!(giver.ref_holders(&id).unwrap().iter().map(|p| p.pid).collect::<Vec<_>>(), me);
    let info = giver.list().unwrap().into_iter().find(|o| o.id == id).unwrap();
    assert_eq!(info.referencing_processes, 1, "{info:?}");
    assert_eq!(giver.give_ref(&id).unwrap_err().kind(), ErrorKind::NotFound, "no reference left to give");
    let st = giver.stats().unwrap();
    assert_eq!((st.object_count, st.tickets), (2, 1), "the ticket holds it");
    assert_eq!(taker.take_ref(&other, ticket).unwrap_err().kind(), ErrorKind::NotFound, "a ticket for another ID");
    assert_eq!(taker.take_ref(&id, ticket ^ 1).unwrap_err().kind(), ErrorKind::NotFound, "a wrong ticket");
    assert_eq!(taker.take_ref(&id, 0).unwrap_err().kind(), ErrorKind::NotFound);
    taker.take_ref(&id, ticket).unwrap();
    assert_eq!(taker.take_ref(&id, ticket).unwrap_err().kind(), ErrorKind::NotFound, "taken twice");
    assert_eq!(taker.references(&id), 1);
    assert_eq!(giver.stats().unwrap().tickets, 0);
    taker.unref(&id).unwrap();
    assert!(!giver.contains(&id).unwrap());
    assert!(giver.contains(&other).unwrap());
    assert_consistent(&giver);
}

/// A ticket of an object deleted after it was given can no longer be
/// taken; a take drops it (NotFound), and with it the deleted object's
/// memory and ID, which the ticket held while its giver lives: at once if
/// nothing else holds the object, at the last release if a pin does.
#[test]
fn a_ticket_of_a_deleted_object_is_dropped_by_its_take() {
    let t = TempStore::new("deleted-ticket");
    let giver = store(&t);
    let taker = store(&t);
    let reader = store(&t);
    for flags in [0, OBJECT_REFCOUNTED] {
        let id = giver.put_ex(&[7u8; 1000], b"", flags).unwrap();
        if flags == 0 {
            giver.add_ref(&id).unwrap();
        }
        let ticket = giver.give_ref(&id).unwrap();
        giver.delete(&id).unwrap();
        let st = giver.stats().unwrap();
        assert_eq!((st.object_count, st.tickets), (0, 1), "{st:?}");
        assert!(st.used_bytes > 0, "the ticket holds the deleted object's memory");
        assert_eq!(taker.take_ref(&id, ticket ^ 1).unwrap_err().kind(), ErrorKind::NotFound, "a wrong ticket");
        assert_eq!(giver.stats().unwrap().tickets, 1, "a wrong ticket drops nothing");
        let e = taker.take_ref(&id, ticket).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        assert_eq!(taker.references(&id), 0);
        let st = giver.stats().unwrap();
        assert_eq!((st.object_count, st.tickets, st.used_bytes), (0, 0, 0), "flags {flags}: {st:?}");
        assert_eq!(taker.take_ref(&id, ticket).unwrap_err().kind(), ErrorKind::NotFound, "taken twice");
        giver.put_as(&id, b"the ID again", b"").unwrap();
        assert_eq!(reader.get(&id, None).unwrap().data(), b"the ID again");
        giver.delete(&id).unwrap();
    }
    // Pinned when its ticket is dropped: freed at the last release.
    let id = giver.put_ex(&[8u8; 1000], b"", OBJECT_REFCOUNTED).unwrap();
    let ticket = giver.give_ref(&id).unwrap();
    let pinned = reader.get_raw(&id, None).unwrap();
    giver.delete(&id).unwrap();
    assert_eq!(taker.take_ref(&id, ticket).unwrap_err().kind(), ErrorKind::NotFound);
    let st = giver.stats().unwrap();
    assert_eq!(st.tickets, 0);
    assert!(st.used_bytes > 0, "the pin keeps it");
    assert_eq!(unsafe { std::slice::from_raw_parts(pinned.data, pinned.data_len) }, &[8u8; 1000][..]);
    reader.release(&id).unwrap();
    let st = giver.stats().unwrap();
    assert_eq!((st.object_count, st.used_bytes), (0, 0), "{st:?}");
    assert_consistent(&giver);
}

/// `give_extra_ref`: a ticket for one more reference, the giver keeping its
/// own; each ticket is taken once, and the object lives until the giver's
/// reference and every taken one are dropped.
#[test]
fn an_extra_ticket_leaves_the_givers_reference() {
    let t = TempStore::new("extra-tickets");
    let giver = store(&t);
    let taker = store(&t);
    let id = giver.put_ex(b"handed over twice", b"", OBJECT_REFCOUNTED).unwrap();
    let plain = giver.put(b"not referenced").unwrap();
    let first = giver.give_extra_ref(&id).unwrap();
    let second = giver.give_extra_ref(&id).unwrap();
    assert_ne!(first, second);
    assert_eq!(giver.references(&id), 1, "the giver keeps its reference");
    assert_eq!(giver.stats().unwrap().tickets, 2);
    assert_eq!(taker.give_extra_ref(&id).unwrap_err().kind(), ErrorKind::NotFound, "the taker holds none yet");
    assert_eq!(giver.give_extra_ref(&plain).unwrap_err().kind(), ErrorKind::NotFound, "no reference to give from");
    taker.take_ref(&id, first).unwrap();
    assert_eq!(taker.take_ref(&id, first).unwrap_err().kind(), ErrorKind::NotFound, "taken twice");
    taker.take_ref(&id, second).unwrap();
    assert_eq!(taker.references(&id), 2);
    giver.unref(&id).unwrap();
    taker.unref(&id).unwrap();
    assert!(giver.contains(&id).unwrap(), "one taken reference is left");
    taker.unref(&id).unwrap();
    assert!(!giver.contains(&id).unwrap(), "freed by the last reference");
    // An object deleted under the giver's reference gives no ticket.
    let gone = giver.put_ex(b"deleted", b"", OBJECT_REFCOUNTED).unwrap();
    giver.delete(&gone).unwrap();
    assert_eq!(giver.give_extra_ref(&gone).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(giver.stats().unwrap().tickets, 0);
    assert_consistent(&giver);
}

/// Far more tickets of one object than fit in its window of the hold table
/// (64) are outstanding at once; each is taken once; the table's own size
/// is the bound, with a clear status.
#[test]
fn many_tickets_of_one_object_are_outstanding_at_once() {
    let t = TempStore::new("many-tickets");
    let opts = Options { max_objects: 1024, ..Options::default() }; // a table of 256 entries
    let giver = t.open(&opts);
    let taker = t.open(&opts);
    let id = giver.put_ex(b"to many receivers", b"", OBJECT_REFCOUNTED).unwrap();
    let mut tickets = vec![];
    let full = loop {
        match giver.give_extra_ref(&id) {
            Ok(ticket) => tickets.push(ticket),
            Err(e) => break e,
        }
        assert!(tickets.len() <= 256, "more tickets than the table has entries");
    };
    assert_eq!(full.kind(), ErrorKind::OutOfMemory, "{full}");
    assert!(full.message().contains("hold table"), "{full}");
    assert!(tickets.len() > 200, "only {} tickets of one object", tickets.len());
    assert_eq!(giver.stats().unwrap().tickets, tickets.len() as u64);
    // Another object's ticket waits for room, and gets it once one is taken.
    let other = giver.put_ex(b"another", b"", OBJECT_REFCOUNTED).unwrap();
    assert_eq!(giver.give_ref(&other).unwrap_err().kind(), ErrorKind::OutOfMemory);
    for (i, &ticket) in tickets.iter().enumerate().rev() {
        taker.take_ref(&id, ticket).unwrap_or_else(|e| panic!("ticket {i}: {e}"));
        assert_eq!(taker.take_ref(&id, ticket).unwrap_err().kind(), ErrorKind::NotFound, "ticket {i} twice");
    }
    let ticket = giver.give_ref(&other).unwrap();
    taker.take_ref(&other, ticket).unwrap();
    assert_eq!(taker.references(&id), tickets.len() as u32);
    assert_eq!(giver.stats().unwrap().tickets, 0);
    giver.unref(&id).unwrap();
    for _ in 0..tickets.len() {
        taker.unref(&id).unwrap();
    }
    assert!(!giver.contains(&id).unwrap(), "freed by the last reference");
    taker.unref(&other).unwrap();
    assert_eq!(giver.stats().unwrap().object_count, 0);
    assert_consistent(&giver);
}

#[test]
fn a_ticket_outlives_its_handle_but_not_its_process() {
    let t = TempStore::new("tickets-handle");
    let s = store(&t);
    let giver = store(&t);
    let id = giver.put_ex(b"x", b"", OBJECT_REFCOUNTED).unwrap();
    let ticket = giver.give_ref(&id).unwrap();
    drop(giver);
    assert!(s.contains(&id).unwrap(), "charged to the process, which is still attached");
    s.take_ref(&id, ticket).unwrap();
    s.unref(&id).unwrap();
    assert!(!s.contains(&id).unwrap());
}

#[test]
fn a_giver_counts_and_waits_for_the_takes_of_its_tickets() {
    let t = TempStore::new("tickets-wait");
    let s = store(&t);
    let a = s.put_ex(b"a", b"", OBJECT_REFCOUNTED).unwrap();
    let b = s.put_ex(b"b", b"", OBJECT_REFCOUNTED).unwrap();
    assert_eq!(s.tickets_outstanding().unwrap(), 0);
    s.wait_tickets_taken(Some(Duration::ZERO), None).unwrap();
    let (ta, tb) = (s.give_extra_ref(&a).unwrap(), s.give_ref(&b).unwrap());
    assert_eq!(s.tickets_outstanding().unwrap(), 2);
    let e = s.wait_tickets_taken(Some(Duration::from_millis(20)), None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert!(e.message().contains("2 tickets"), "{}", e.message());
    // Taken one after the other by another thread's handle: the wait ends
    // after the second.
    let taker = store(&t);
    std::thread::scope(|sc| {
        sc.spawn(|| {
            std::thread::sleep(Duration::from_millis(30));
            taker.take_ref(&a, ta).unwrap();
            std::thread::sleep(Duration::from_millis(30));
            taker.take_ref(&b, tb).unwrap();
        });
        s.wait_tickets_taken(None, None).unwrap();
        assert_eq!(taker.references(&b), 1, "returned after the last take");
    });
    assert_eq!(s.tickets_outstanding().unwrap(), 0);
    // Cancelled from another thread.
    let tc = s.give_extra_ref(&a).unwrap();
    let cancel = objstore::Canceller::new();
    std::thread::scope(|sc| {
        sc.spawn(|| {
            std::thread::sleep(Duration::from_millis(30));
            cancel.cancel();
        });
        let e = s.wait_tickets_taken(None, Some(&cancel)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Cancelled);
    });
    taker.take_ref(&a, tc).unwrap();
    for id in [a, a, a, b] {
        let _ = s.unref(&id);
        let _ = taker.unref(&id);
    }
    assert_eq!(objects(&s), 0);
    assert_consistent(&s);
}

/// A process that gives a ticket and detaches at once waits for the take,
/// up to its ticket linger: the receiver takes it after the giver began
/// to detach (a pool's worker exiting right after returning a result).
#[test]
fn a_detach_waits_for_its_tickets_up_to_the_linger() {
    let t = TempStore::new("tickets-linger");
    let s = store(&t);
    let mut giver = spawn_child("give_and_detach", &[t.name.clone(), "60000".into()]);
    let events = giver.wait_for("detaching", LONG);
    let ticket_of = |events: &[String]| -> (ObjectId, u64) {
        let e = events.iter().find_map(|e| e.strip_prefix("ticket ")).unwrap();
        let mut f = e.split(' ');
        (f.next().unwrap().parse().unwrap(), f.next().unwrap().parse().unwrap())
    };
    let (id, ticket) = ticket_of(&events);
    // Without the linger the giver's detach drops the ticket and frees the
    // object within microseconds.
    std::thread::sleep(Duration::from_millis(200));
    assert!(s.contains(&id).unwrap(), "the detaching giver keeps its ticket");
    s.take_ref(&id, ticket).unwrap();
    giver.wait_for("detached", LONG);
    giver.wait_exit(LONG);
    assert!(check_content(&id, s.get(&id, None).unwrap().data()));
    s.unref(&id).unwrap();
    assert_eq!(objects(&s), 0);

    // A ticket nobody takes goes with its giver once the linger is over.
    let mut giver = spawn_child("give_and_detach", &[t.name.clone(), "100".into()]);
    let (id, ticket) = ticket_of(&giver.wait_for("detached", LONG));
    giver.wait_exit(LONG);
    assert!(!s.contains(&id).unwrap(), "dropped with its giver after the linger");
    assert_eq!(s.take_ref(&id, ticket).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(s.stats().unwrap().tickets, 0);
    assert_consistent(&s);
}

#[test]
fn tickets_of_a_dead_giver_are_dropped_with_it() {
    let t = TempStore::new("tickets-dead");
    let s = store(&t);
    let mut giver = spawn_child("give", &[t.name.clone(), "3".into()]);
    let events = giver.wait_for("ready", LONG);
    let tickets: Vec<(ObjectId, u64)> = events
        .iter()
        .filter_map(|e| e.strip_prefix("ticket "))
        .map(|e| {
            let mut f = e.split(' ');
            (f.next().unwrap().parse().unwrap(), f.next().unwrap().parse().unwrap())
        })
        .collect();
    assert_eq!(tickets.len(), 3);
    // One is taken while the giver lives; its object survives the giver.
    let (kept, t0) = tickets[0];
    s.take_ref(&kept, t0).unwrap();
    assert_eq!(s.stats().unwrap().tickets, 2);
    giver.signal(libc::SIGKILL);
    giver.wait_exit(LONG);
    let r = s.collect().unwrap();
    assert_eq!(r.references, 2, "{r:?}");
    for &(id, ticket) in &tickets[1..] {
        assert!(!s.contains(&id).unwrap(), "dropped with its giver");
        assert_eq!(s.take_ref(&id, ticket).unwrap_err().kind(), ErrorKind::NotFound);
    }
    assert!(check_content(&kept, s.get(&kept, None).unwrap().data()));
    let st = s.stats().unwrap();
    assert_eq!((st.object_count, st.tickets), (1, 0));
    s.unref(&kept).unwrap();
    assert_eq!(objects(&s), 0);
    assert_consistent(&s);
}

#[test]
fn threads_ref_and_unref_one_object() {
    let t = TempStore::new("refs-threads");
    let s = store(&t);
    let id = s.put_ex(b"busy", b"", OBJECT_REFCOUNTED).unwrap();
    std::thread::scope(|sc| {
        for _ in 0..4 {
            sc.spawn(|| {
                for _ in 0..2000 {
                    s.add_ref(&id).unwrap();
                    let obj = s.get(&id, Some(Duration::ZERO)).unwrap();
                    assert_eq!(obj.data(), b"busy");
                    drop(obj);
                    s.unref(&id).unwrap();
                }
            });
        }
    });
    assert_eq!(s.references(&id), 1);
    s.unref(&id).unwrap();
    assert!(!s.contains(&id).unwrap());
    assert_consistent(&s);
}

/// The last unref of a REFCOUNTED object that another thread is spilling
/// deletes it at once: the spiller pins the object while it writes the
/// bytes out, and that pin keeps the memory until it is done, not the
/// object (it found the object visible after its last unref, for as long
/// as the spill file took to write). The spill then fails, and leaves no
/// file and no memory behind, with no collect.
#[test]
fn the_last_unref_of_an_object_being_spilled_deletes_it_at_once() {
    let t = TempStore::new("refs-spilling");
    let dir = SpillDir::new("refs-spilling");
    let s = t.open_spilling(&dir, 32 * MIB);
    let big = common::pattern(11, 20 << 20);
    let (mut attempts, mut caught) = (0, 0);
    // The unref must land while the spill file is being written: try until
    // it did three times.
    while caught < 3 && attempts < 40 {
        attempts += 1;
        let id = s.put_ex(&big, b"", OBJECT_REFCOUNTED).unwrap();
        let mut seen = false;
        std::thread::scope(|sc| {
            // No room for this one unless the refcounted object is spilled.
            let spiller = sc.spawn(|| s.put(&big).unwrap());
            while !spiller.is_finished() {
                if dir.files().iter().any(|f| f.ends_with(".tmp")) {
                    seen = true;
                    s.unref(&id).unwrap();
                    assert!(!s.contains(&id).unwrap(), "visible after its last unref while being spilled");
                    assert_eq!(s.add_ref(&id).unwrap_err().kind(), ErrorKind::NotFound);
                    break;
                }
                std::thread::yield_now();
            }
            let other = spiller.join().unwrap();
            s.delete(&other).unwrap();
        });
        if seen {
            caught += 1;
        } else {
            s.unref(&id).unwrap();
        }
        let st = s.stats().unwrap();
        assert_eq!((st.object_count, st.used_bytes, st.spilled_count), (0, 0, 0), "{st:?}");
        assert_eq!(dir.files(), Vec::<String>::new(), "spill files left");
    }
    assert!(caught > 0, "no unref landed during a spill in {attempts} attempts");
    assert_consistent(&s);
}

/// The same, when a get cancels the spill first (a reader wins over a
/// spiller) and releases the object before the last unref: the object must
/// go with the unref, as with no spill under way, although the spiller
/// goes on reading it (it pins it until it sees the cancel).
#[test]
fn the_last_unref_after_a_get_cancelled_a_spill_deletes_it_at_once() {
    let t = TempStore::new("refs-cancelled");
    let dir = SpillDir::new("refs-cancelled");
    let s = t.open_spilling(&dir, 32 * MIB);
    let big = common::pattern(12, 20 << 20);
    let (mut attempts, mut caught) = (0, 0);
    while caught < 3 && attempts < 40 {
        attempts += 1;
        let id = s.put_ex(&big, b"", OBJECT_REFCOUNTED).unwrap();
        let mut seen = false;
        std::thread::scope(|sc| {
            let spiller = sc.spawn(|| s.put(&big).unwrap());
            while !spiller.is_finished() {
                if dir.files().iter().any(|f| f.ends_with(".tmp")) {
                    seen = true;
                    assert_eq!(s.get(&id, Some(Duration::ZERO)).unwrap().data().len(), big.len());
                    s.unref(&id).unwrap();
                    assert!(!s.contains(&id).unwrap(), "visible after its last unref");
                    break;
                }
                std::thread::yield_now();
            }
            let other = spiller.join().unwrap();
            s.delete(&other).unwrap();
        });
        if seen {
            caught += 1;
        } else {
            s.unref(&id).unwrap();
        }
    }
    assert!(caught > 0, "no get landed during a spill in {attempts} attempts");
    s.collect().unwrap();
    let st = s.stats().unwrap();
    assert_eq!((st.object_count, st.used_bytes, st.spilled_count), (0, 0, 0), "{st:?}");
    assert_consistent(&s);
}

/// A put with a fresh ID keeps its first reference apart from the counts
/// of later references (in an entry of the object's slot, see
/// `object::creator_refs`): every operation sees it as one reference of
/// the putting handle, in any order of refs, unrefs, tickets and closes.
#[test]
fn the_first_reference_of_a_fresh_put_counts_like_any_other() {
    let t = TempStore::new("refs-first");
    let a = store(&t);
    let b = store(&t);
    // Dropped by its unref.
    let id = a.put_ex(b"one", b"", OBJECT_REFCOUNTED).unwrap();
    assert_eq!((a.references(&id), b.references(&id)), (1, 0));
    assert_eq!(b.unref(&id).unwrap_err().kind(), ErrorKind::NotFound, "another handle holds none");
    a.unref(&id).unwrap();
    assert!(!a.contains(&id).unwrap());
    assert_eq!(a.unref(&id).unwrap_err().kind(), ErrorKind::NotFound, "dropped once");
    // Counted with later references of its handle and of another.
    let id = a.put_ex(b"two", b"", OBJECT_REFCOUNTED).unwrap();
    a.add_ref(&id).unwrap();
    b.add_ref(&id).unwrap();
    assert_eq!((a.references(&id), b.references(&id)), (2, 1));
    a.unref(&id).unwrap();
    a.unref(&id).unwrap();
    assert_eq!(a.unref(&id).unwrap_err().kind(), ErrorKind::NotFound);
    assert!(a.contains(&id).unwrap(), "b's reference remains");
    b.unref(&id).unwrap();
    assert!(!a.contains(&id).unwrap());
    // Given away in a ticket, taken by the other handle.
    let id = a.put_ex(b"three", b"", OBJECT_REFCOUNTED).unwrap();
    let ticket = a.give_ref(&id).unwrap();
    assert_eq!(a.references(&id), 0);
    assert_eq!(a.unref(&id).unwrap_err().kind(), ErrorKind::NotFound, "given away");
    b.take_ref(&id, ticket).unwrap();
    b.unref(&id).unwrap();
    assert!(!a.contains(&id).unwrap());
    // An extra ticket leaves it.
    let id = a.put_ex(b"four", b"", OBJECT_REFCOUNTED).unwrap();
    let ticket = a.give_extra_ref(&id).unwrap();
    assert_eq!(a.references(&id), 1);
    b.take_ref(&id, ticket).unwrap();
    a.unref(&id).unwrap();
    b.unref(&id).unwrap();
    assert!(!a.contains(&id).unwrap());
    // Dropped by the close of its handle, whose process stays attached.
    let kept = a.put_ex(b"kept", b"", OBJECT_REFCOUNTED).unwrap();
    let ids: Vec<ObjectId> = (0..50).map(|_| b.put_ex(b"b's", b"", OBJECT_REFCOUNTED).unwrap()).collect();
    a.add_ref(&ids[7]).unwrap();
    assert_eq!(objects(&a), 51);
    drop(b);
    assert_eq!(objects(&a), 2, "b's objects went with b, but the one a holds too");
    a.unref(&ids[7]).unwrap();
    a.unref(&kept).unwrap();
    let st = a.stats().unwrap();
    assert_eq!((st.object_count, st.used_bytes, st.references), (0, 0, 0), "{st:?}");
    assert_consistent(&a);
}

/// The first reference of a fresh put lives in an entry of the object's
/// slot; a restore from disk moves the object to another slot, and the
/// reference is still found, also once its old slot is taken by a later
/// put, and nothing is leaked.
#[test]
fn the_first_reference_of_a_fresh_put_follows_a_restore() {
    let t = TempStore::new("refs-first-moved");
    let dir = SpillDir::new("refs-first-moved");
    let opts =
        Options { capacity_bytes: 4 * MIB, max_objects: 64, spill_dir: Some(dir.path().into()), ..Options::default() };
    let s = t.open(&opts);
    let data = |n: usize| common::pattern(n as u64, MIB as usize - 4096);
    let ids: Vec<ObjectId> = (0..8).map(|n| s.put_ex(&data(n), b"", OBJECT_REFCOUNTED).unwrap()).collect();
    assert!(s.stats().unwrap().spilled_count >= 4);
    // Three objects restored into other slots (each restore spills
    // another object), each picked while it is on disk.
    let mut restored = Vec::new();
    for _ in 0..3 {
        let on_disk =
            s.list().unwrap().into_iter().find(|o| o.state == ObjectState::Spilled && !restored.contains(&o.id));
        let id = on_disk.expect("an object on disk").id;
        let n = ids.iter().position(|i| *i == id).unwrap();
        assert_eq!(s.get(&id, None).unwrap().data(), data(n).as_slice());
        assert_eq!(s.references(&id), 1, "object {n} after its restore");
        restored.push(id);
    }
    let ids: Vec<ObjectId> = restored.iter().chain(ids.iter().filter(|i| !restored.contains(i))).copied().collect();
    s.unref(&ids[0]).unwrap();
    assert!(!s.contains(&ids[0]).unwrap(), "the restored object went with its reference");
    // Small puts until no slot is left: the restored objects' old slots
    // are among those taken.
    let mut small = Vec::new();
    loop {
        match s.put_ex(b"small", b"", OBJECT_REFCOUNTED) {
            Ok(id) => small.push(id),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::OutOfMemory, "{e}");
                break;
            }
        }
        assert!(small.len() <= 64, "more objects than slots");
    }
    assert!(small.len() >= 60 - 8, "{} small objects", small.len());
    s.add_ref(&ids[1]).unwrap();
    assert_eq!(s.references(&ids[1]), 2);
    for id in ids.iter().skip(1).chain(&small) {
        s.unref(id).unwrap();
    }
    s.unref(&ids[1]).unwrap();
    assert_eq!(s.unref(&ids[2]).unwrap_err().kind(), ErrorKind::NotFound);
    let st = s.stats().unwrap();
    assert_eq!((st.object_count, st.used_bytes, st.spilled_count, st.references), (0, 0, 0, 0), "{st:?}");
    assert!(dir.files().is_empty(), "{:?}", dir.files());
    assert_consistent(&s);
}

/// Threads of one process take and drop references to objects another
/// thread keeps putting and dropping the first references of (every other
/// one at once, racing the takers; the others once a taker holds one): each
/// object goes exactly when the last of them is dropped, and none is left.
#[test]
fn threads_ref_objects_whose_first_references_another_thread_drops() {
    let t = TempStore::new("refs-first-threads");
    let s = store(&t);
    let (tx, rx) = std::sync::mpsc::channel::<(ObjectId, bool)>();
    let (held_tx, held_rx) = std::sync::mpsc::channel::<()>();
    let rx = std::sync::Mutex::new(rx);
    std::thread::scope(|sc| {
        for _ in 0..2 {
            let held_tx = held_tx.clone();
            let rx = &rx;
            let s = &s;
            sc.spawn(move || loop {
                let Ok((id, tell)) = rx.lock().unwrap().recv() else { return };
                // Racing, the putter may have dropped its reference already.
                match s.add_ref(&id) {
                    Ok(()) => {
                        if tell {
                            held_tx.send(()).unwrap();
                        }
                        assert_eq!(s.get(&id, Some(Duration::ZERO)).unwrap().data(), b"payload");
                        s.unref(&id).unwrap();
                    }
                    Err(e) => assert!(!tell && e.kind() == ErrorKind::NotFound, "{e}"),
                }
            });
        }
        drop(held_tx);
        for n in 0..20_000 {
            let id = s.put_ex(b"payload", b"", OBJECT_REFCOUNTED).unwrap();
            let wait = n % 2 == 1;
            tx.send((id, wait)).unwrap();
            if wait {
                held_rx.recv_timeout(LONG).expect("a taker took the reference");
            }
            s.unref(&id).unwrap();
        }
        drop(tx);
    });
    let st = s.stats().unwrap();
    assert_eq!((st.object_count, st.used_bytes, st.references), (0, 0, 0), "{st:?}");
    assert_consistent(&s);
}

/// A handle's close drops its first references (`creator_refs`) and its
/// counted ones; another handle's ref of an object whose first reference
/// the closing handle holds moves that reference into the counts. Whenever
/// the move lands during the close, the reference is dropped by the close
/// (not leaked, the object outliving its last unref).
#[test]
fn a_close_racing_a_ref_of_its_first_reference_drops_it() {
    let t = TempStore::new("refs-first-close-race");
    const N: usize = 10_000;
    let mut raced = 0;
    for attempt in 0..50 {
        if raced == 3 {
            break;
        }
        let a = store(&t);
        let b = store(&t);
        // First references of a, in their slots' entries, and references in
        // a's counts (put, then one more): a close long enough to race.
        let firsts: Vec<ObjectId> = (0..N).map(|_| a.put_ex(b"f", b"", OBJECT_REFCOUNTED).unwrap()).collect();
        let counted: Vec<ObjectId> = (0..N)
            .map(|_| {
                let id = a.put_ex(b"c", b"", OBJECT_REFCOUNTED).unwrap();
                a.add_ref(&id).unwrap();
                id
            })
            .collect();
        let first = a.put_ex(b"first", b"", OBJECT_REFCOUNTED).unwrap();
        let took = std::thread::scope(|sc| {
            let b = &b;
            let (firsts, counted) = (&firsts, &counted);
            let taker = sc.spawn(move || {
                // Until a's close has dropped some of its references.
                let mut i = 0;
                while b.contains(&firsts[i % N]).unwrap() && b.contains(&counted[i % N]).unwrap() {
                    i += 1;
                }
                b.add_ref(&first).is_ok()
            });
            drop(a);
            taker.join().unwrap()
        });
        let st = b.stats().unwrap();
        if !took {
            // The close dropped `first` before the ref.
            assert_eq!((st.object_count, st.references), (0, 0), "{st:?}");
            continue;
        }
        raced += 1;
        assert_eq!(b.references(&first), 1);
        assert_eq!((st.object_count, st.references), (1, 1), "attempt {attempt}: a's references outlived its close");
        b.unref(&first).unwrap();
        assert!(!b.contains(&first).unwrap(), "attempt {attempt}: a's first reference outlived its close");
    }
    assert!(raced > 0, "no ref landed during a close");
}

/// Processes put REFCOUNTED objects with fresh IDs (their first references
/// kept apart from their counts), give tickets for some, and are SIGKILLed
/// while they do; this process takes the tickets, checks the objects and
/// drops them. Once every giver is gone and one collect ran, the store
/// holds nothing.
#[test]
fn fresh_puts_of_killed_givers_leave_nothing() {
    use std::os::unix::process::ExitStatusExt;
    let t = TempStore::new("refs-fresh-killed");
    let s = store(&t);
    let take = |line: &str| -> objstore::Result<()> {
        let rest = line.strip_prefix("ticket ").unwrap_or_else(|| panic!("a giver said {line:?}"));
        let (hex, ticket) = rest.split_once(' ').unwrap();
        let (id, ticket) = (ObjectId::from_hex(hex).unwrap(), ticket.parse::<u64>().unwrap());
        s.take_ref(&id, ticket)?;
        let obj = s.get(&id, Some(Duration::ZERO)).unwrap();
        assert!(check_fresh(obj.data(), obj.meta()), "object {id} read back wrong");
        drop(obj);
        s.unref(&id)
    };
    let mut taken = 0;
    for round in 0..6u64 {
        let mut giver = spawn_child("fresh_giver", &[t.name.clone(), (round * 7919 + 1).to_string()]);
        giver.wait_for("ready", LONG);
        let until = std::time::Instant::now() + Duration::from_millis(300);
        while std::time::Instant::now() < until {
            if let Some(line) = giver.next_event(Duration::from_millis(20)) {
                take(&line).unwrap_or_else(|e| panic!("a live giver's ticket: {e}"));
                taken += 1;
            }
        }
        giver.signal(libc::SIGKILL);
        let status = giver.wait_exit(LONG);
        assert_eq!(status.signal(), Some(libc::SIGKILL), "the giver failed before it was killed: {status:?}");
        // Its tickets still in the pipe: taken, or dropped with it.
        for line in giver.drain() {
            match take(&line) {
                Ok(()) => taken += 1,
                Err(e) => assert_eq!(e.kind(), ErrorKind::NotFound, "{e}"),
            }
        }
    }
    assert!(taken > 0);
    s.collect().unwrap();
    let st = s.stats().unwrap();
    assert_eq!((st.object_count, st.used_bytes, st.references, st.tickets), (0, 0, 0, 0), "{st:?}");
    assert_consistent(&s);
}

/// An object created in place under a fresh ID with REFCOUNTED: its first
/// reference is held from the create on, through the seal, and goes with
/// an abort or the close of its handle.
#[test]
fn the_first_reference_of_a_fresh_create_goes_with_its_abort_unref_or_close() {
    let t = TempStore::new("refs-first-create");
    let a = store(&t);
    let fill = |ptr: *mut u8, len: usize| {
        // SAFETY: `len` writable bytes until the seal or abort.
        unsafe { std::ptr::write_bytes(ptr, 0x5a, len) };
    };
    // Sealed, then dropped by its unref.
    let (id, ptr) = a.create_ex_raw(None, 100, b"m", OBJECT_REFCOUNTED).unwrap();
    assert_eq!(a.references(&id), 1, "held from the create on");
    assert_eq!(a.unref(&id).unwrap_err().kind(), ErrorKind::NotSealed);
    assert_eq!(a.add_ref(&id).unwrap_err().kind(), ErrorKind::NotFound, "not sealed yet");
    fill(ptr, 100);
    a.seal(&id).unwrap();
    assert_eq!(a.get(&id, None).unwrap().data(), [0x5a; 100].as_slice());
    a.add_ref(&id).unwrap();
    assert_eq!(a.references(&id), 2);
    a.unref(&id).unwrap();
    a.unref(&id).unwrap();
    assert!(!a.contains(&id).unwrap());
    // Aborted: the reference goes with it, and puts reuse its slot.
    for _ in 0..100 {
        let (id, _) = a.create_ex_raw(None, 64, b"", OBJECT_REFCOUNTED).unwrap();
        a.abort(&id).unwrap();
        assert_eq!(a.references(&id), 0);
        assert_eq!(a.unref(&id).unwrap_err().kind(), ErrorKind::NotFound);
        let other = a.put_ex(b"reuses", b"", OBJECT_REFCOUNTED).unwrap();
        a.unref(&other).unwrap();
    }
    // A closed handle's creates, sealed or not, go with it.
    let b = store(&t);
    let (sealed, ptr) = b.create_ex_raw(None, 10, b"", OBJECT_REFCOUNTED).unwrap();
    fill(ptr, 10);
    b.seal(&sealed).unwrap();
    let (unsealed, _) = b.create_ex_raw(None, 10, b"", OBJECT_REFCOUNTED).unwrap();
    assert_eq!(objects(&a), 1, "the sealed one (unsealed objects are not counted)");
    drop(b);
    assert!(!a.contains(&sealed).unwrap() && !a.contains(&unsealed).unwrap());
    let st = a.stats().unwrap();
    assert_eq!((st.object_count, st.used_bytes, st.references), (0, 0, 0), "{st:?}");
    assert_consistent(&a);
}

//! loom models of references (`object::refcount`, `shared::refs`,
//! `shared::holds`): the last unref racing a pin, a reference racing the
//! last unref (through the word, and through the hold table for a process
//! in a high slot), a retirer stopped mid-retire, and a ticket given and
//! taken while its giver dies after any step of the give. In every model
//! the object's memory is released exactly once in the end, never while a
//! process holds it.

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;

use super::model;
use crate::object::lifecycle::Pin;
use crate::object::refcount::{DropRef, TakeRef};
use crate::object::test_arena::{self, Arena};
use crate::shared::descriptor::{flags, Location, State, StateWord};
use crate::shared::holds;
use crate::shared::refs::INLINE_SLOTS;

const KEY: [u64; 3] = [0xfeed, 0xbeef, 0x1234];
const TICKET: u64 = holds::ticket_from(0x5eed_5eed);

fn state(a: &Arena, d: u32) -> StateWord {
    a.objects().desc.load_state(d, Ordering::SeqCst)
}

/// A REFCOUNTED object whose only reference is slot 0's.
fn counted(a: &Arena) -> (u32, StateWord) {
    let d = test_arena::put_with(a, 0, &KEY, flags::REFCOUNTED).unwrap();
    (d, state(a, d))
}

/// The object was deleted and freed exactly once: nothing of it is left.
fn freed_once(a: &Arena, d: u32, why: &str) {
    assert_eq!(a.released(d), 1, "{why}");
    assert_eq!(state(a, d).state(), State::Free, "{why}");
    assert_eq!(a.objects().index.count_entries(), 0, "{why}");
}

/// Slot `me` takes a reference, and if it got one checks that the object is
/// alive while it holds it, then drops it. Whether it got one. `others`:
/// set when the other processes of the model are done, which the check
/// waits for: a delete under the reference may come late.
fn hold_once(a: &Arena, d: u32, seen: StateWord, me: u32, others: &AtomicBool) -> bool {
    let o = a.objects();
    match o.take_ref(d, seen, &KEY, me, a) {
        TakeRef::Done => {
            while !others.load(Ordering::SeqCst) {
                thread::yield_now();
            }
            assert_eq!(a.released(d), 0, "freed under a reference");
            assert!(o.lookup(&KEY, |s| s.is_readable()).is_some(), "deleted under a reference");
            assert_eq!(o.drop_ref(d, seen, &KEY, me, a), DropRef::Done);
            true
        }
        TakeRef::Gone | TakeRef::Again => false,
        TakeRef::Full => panic!("the hold table is empty"),
    }
}

/// The holder of the only reference drops it while another process gets
/// (pins) the object: the bytes are never freed under the pin, and the
/// last to let go (the unref, or the release of the pin) deletes it.
#[test]
fn the_last_unref_racing_a_pin() {
    model(|| {
        let a = Arc::new(Arena::new(1, 2));
        let (d, seen) = counted(&a);
        let reader = {
            let a = a.clone();
            thread::spawn(move || {
                let o = a.objects();
                let local = a.local(1);
                if o.try_pin(&local, 1, d, seen, &*a) == Pin::Pinned {
                    assert_eq!(a.released(d), 0, "freed under a pin");
                    assert!(o.unpin(&local, 1, d, &*a));
                }
            })
        };
        assert_eq!(a.objects().drop_ref(d, seen, &KEY, 0, &*a), DropRef::Done);
        reader.join().unwrap();
        freed_once(&a, d, "after the unref and the release");
    });
}

/// A process takes a reference while the holder of the only one drops it:
/// either the taker holds a live object (the retire found it, or was
/// cancelled by it) and its own drop deletes it later, or it is refused.
#[test]
fn a_ref_racing_the_last_unref() {
    model(|| {
        let a = Arc::new(Arena::new(1, 2));
        let (d, seen) = counted(&a);
        let done = Arc::new(AtomicBool::new(false));
        let taker = {
            let (a, done) = (a.clone(), done.clone());
            thread::spawn(move || hold_once(&a, d, seen, 1, &done))
        };
        assert_eq!(a.objects().drop_ref(d, seen, &KEY, 0, &*a), DropRef::Done);
        done.store(true, Ordering::SeqCst);
        let took = taker.join().unwrap();
        freed_once(&a, d, &format!("took: {took}"));
    });
}

/// The same for a process in a slot beyond the reference word: its
/// reference is an entry of the hold table, which a retirer looks for after
/// closing the word, and the taker looks at the word after adding it.
#[test]
fn a_high_slots_ref_racing_the_last_unref() {
    model(|| {
        let a = Arc::new(Arena::new(1, 2));
        let (d, seen) = counted(&a);
        let done = Arc::new(AtomicBool::new(false));
        let taker = {
            let (a, done) = (a.clone(), done.clone());
            thread::spawn(move || hold_once(&a, d, seen, INLINE_SLOTS + 5, &done))
        };
        assert_eq!(a.objects().drop_ref(d, seen, &KEY, 0, &*a), DropRef::Done);
        done.store(true, Ordering::SeqCst);
        let took = taker.join().unwrap();
        freed_once(&a, d, &format!("took: {took}"));
    });
}

/// A retirer stops forever after closing the word (step 1) of the object
/// whose last reference it dropped; a survivor reclaims its slot (undoing
/// the step and checking again) while, if `taker`, another process takes a
/// reference: the taker cancels the retire or is refused after the
/// survivor's own retire, and the object goes once, taker or not.
fn a_retirer_stopped_after_closing(taker: bool) {
    model(move || {
        let a = Arc::new(Arena::new(1, 3));
        let (d, seen) = counted(&a);
        let o = a.objects();
        assert!(matches!(o.refs.drop(d, seen.gen(), 0), crate::shared::refs::Unref::Dropped { last: true }));
        assert_eq!(o.refs.close_or_take_over(d, seen.gen(), 0), crate::shared::refs::Close::Closed);
        // (slot 0 stops forever here, and dies)
        let done = Arc::new(AtomicBool::new(false));
        let taker = taker.then(|| {
            let (a, done) = (a.clone(), done.clone());
            thread::spawn(move || hold_once(&a, d, seen, 1, &done))
        });
        o.drop_dead_refs(d, 0, 2, &*a);
        done.store(true, Ordering::SeqCst);
        let took = taker.map(|t| t.join().unwrap());
        freed_once(&a, d, &format!("took: {took:?}"));
    });
}

#[test]
fn a_retirer_stopped_after_closing_is_undone() {
    a_retirer_stopped_after_closing(false);
}

#[test]
fn a_retirer_stopped_after_closing_and_a_taker() {
    a_retirer_stopped_after_closing(true);
}

/// A giver moves its only reference into a ticket while another process
/// gets and releases the object (a release of an object that frees itself
/// looks for holds): the ticket holds the object from the moment the
/// giver's own reference goes, so a taker that comes later gets it.
#[test]
fn a_ticket_holds_the_object_from_the_start() {
    model(|| {
        let a = Arc::new(Arena::new(1, 3));
        let (d, seen) = counted(&a);
        let reader = {
            let a = a.clone();
            thread::spawn(move || {
                let o = a.objects();
                let local = a.local(1);
                if o.try_pin(&local, 1, d, seen, &*a) == Pin::Pinned {
                    assert!(o.unpin(&local, 1, d, &*a));
                }
            })
        };
        let o = a.objects();
        // The give, as `Access::give`: the ticket, then the giver's drop.
        assert!(o.give(&KEY, 0, TICKET));
        assert_eq!(o.drop_ref(d, seen, &KEY, 0, &*a), DropRef::Done);
        reader.join().unwrap();
        assert_eq!(a.released(d), 0, "freed while a ticket held it");
        assert_eq!(o.take_ref(d, seen, &KEY, 2, &*a), TakeRef::Done, "the ticket kept it alive");
        assert!(o.take_ticket(&KEY, TICKET));
        assert_eq!(o.drop_ref(d, seen, &KEY, 2, &*a), DropRef::Done);
        freed_once(&a, d, "after the taker's drop");
    });
}

/// Fills the window of `KEY` in the hold table with tickets of another ID
/// (given by slot 2, never taken), so that a ticket of `KEY` goes outside.
fn fill_the_window(a: &Arena) {
    let o = a.objects();
    let other = [KEY[0], KEY[1], KEY[2] ^ 1];
    for i in 0..holds::WINDOW as u64 {
        assert!(o.holds.add(o.hash(&KEY), &other, 2, Some(holds::ticket_from(0xf111 + i))));
    }
}

/// A giver moves its only reference into a ticket (entry, then its own
/// drop) and dies after `stop` of those steps; a taker (a reference of its
/// own, then the ticket) races the survivor that reclaims the giver. The
/// taker gets the ticket only if it was given, holds a live object if it
/// does, and the object goes exactly once: with the taker's drop, or with
/// the giver. `outside`: the ID's window is full, so the ticket goes
/// outside it.
fn give_take_racing_the_givers_death(stop: usize, outside: bool) {
    model(move || {
        let a = Arc::new(Arena::new(1, 3));
        let (d, seen) = counted(&a);
        if outside {
            fill_the_window(&a);
        }
        let giver = {
            let a = a.clone();
            thread::spawn(move || {
                let o = a.objects();
                if stop >= 1 {
                    assert!(o.give(&KEY, 0, TICKET));
                }
                if stop >= 2 {
                    assert_eq!(o.drop_ref(d, seen, &KEY, 0, &*a), DropRef::Done);
                }
            })
        };
        let taker = {
            let a = a.clone();
            thread::spawn(move || {
                let o = a.objects();
                if o.take_ref(d, seen, &KEY, 1, &*a) != TakeRef::Done {
                    return false;
                }
                let took = o.take_ticket(&KEY, TICKET);
                assert_eq!(a.released(d), 0, "freed under a reference");
                assert!(o.lookup(&KEY, |s| s.is_readable()).is_some(), "deleted under a reference");
                assert_eq!(o.drop_ref(d, seen, &KEY, 1, &*a), DropRef::Done);
                took
            })
        };
        giver.join().unwrap();
        // The giver is dead: a survivor (slot 2) reclaims its slot.
        let o = a.objects();
        o.drop_dead_refs(d, 0, 2, &*a);
        o.drop_dead_holds(0, 2, &*a);
        let took = taker.join().unwrap();
        assert!(!took || stop >= 1, "took a ticket never given");
        freed_once(&a, d, &format!("stop {stop}, took {took}"));
    });
}

#[test]
fn give_take_racing_a_giver_dead_before_its_ticket() {
    give_take_racing_the_givers_death(0, false);
}

#[test]
fn give_take_racing_a_giver_dead_after_its_ticket() {
    give_take_racing_the_givers_death(1, false);
}

#[test]
fn give_take_racing_a_giver_dead_after_its_give() {
    give_take_racing_the_givers_death(2, false);
}

#[test]
fn give_take_racing_a_giver_dead_after_its_ticket_outside_the_window() {
    give_take_racing_the_givers_death(1, true);
}

#[test]
fn give_take_racing_a_giver_dead_after_its_give_outside_the_window() {
    give_take_racing_the_givers_death(2, true);
}

/// Two processes take one ticket at once: at most one gets it.
#[test]
fn a_ticket_is_taken_once() {
    a_ticket_taken_by_two_at_once(false);
}

/// The same with the ticket outside its ID's window.
#[test]
fn a_ticket_outside_the_window_is_taken_once() {
    a_ticket_taken_by_two_at_once(true);
}

fn a_ticket_taken_by_two_at_once(outside: bool) {
    model(move || {
        let a = Arc::new(Arena::new(1, 3));
        let (d, seen) = counted(&a);
        if outside {
            fill_the_window(&a);
        }
        let o = a.objects();
        assert!(o.give(&KEY, 0, TICKET));
        assert_eq!(o.drop_ref(d, seen, &KEY, 0, &*a), DropRef::Done);
        let takers: Vec<_> = (1..3u32)
            .map(|me| {
                let a = a.clone();
                thread::spawn(move || {
                    let o = a.objects();
                    assert_eq!(o.take_ref(d, seen, &KEY, me, &*a), TakeRef::Done, "the ticket holds it");
                    let took = o.take_ticket(&KEY, TICKET);
                    if !took {
                        assert_eq!(o.drop_ref(d, seen, &KEY, me, &*a), DropRef::Done);
                    }
                    took
                })
            })
            .collect();
        let took: Vec<bool> = takers.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(took.iter().filter(|&&t| t).count(), 1, "{took:?}");
        assert_eq!(a.released(d), 0);
        let me = if took[0] { 1 } else { 2 };
        assert_eq!(o.drop_ref(d, seen, &KEY, me, &*a), DropRef::Done);
        freed_once(&a, d, "after the taker's drop");
    });
}

/// Drops slot `me`'s reference the way `Access::drop_ref` finds the
/// object: looked up by ID, helping a restore it is in the middle of.
fn drop_by_id(a: &Arena, me: u32) {
    let o = a.objects();
    for _ in 0..16 {
        // Held, so present: a miss is a lookup that ran into a move.
        let Some((d, snap)) = o.find_held(&KEY) else { continue };
        match (snap.state.state(), Location::decode(snap.loc)) {
            (State::Shadow, _) => {
                if let Some((pred, spilled)) = o.chosen_predecessor(d, snap.state) {
                    o.install_successor(pred, spilled, &KEY, d, snap.state.short_gen(), me, a);
                }
                continue;
            }
            (State::Spilled, Some(Location::Successor { d: t, gen })) => {
                o.install_successor(d, snap.state, &KEY, t, gen, me, a);
                continue;
            }
            _ => {}
        }
        match o.drop_ref(d, snap.state, &KEY, me, a) {
            DropRef::Done => return,
            DropRef::Again => {}
            DropRef::NotHeld => panic!("the reference was lost"),
        }
    }
    panic!("the object kept moving");
}

/// A spilled REFCOUNTED object is restored while its only holder drops its
/// reference: the holder's bit moves to the copy (or is dropped before
/// the move), and the object goes exactly once: deleted on disk, or in
/// memory after the restore.
#[test]
fn a_restore_racing_the_last_unref() {
    model(|| {
        let a = Arc::new(Arena::new(3, 2));
        let (d, _) = counted(&a);
        let o = a.objects();
        let spilled = super::spill(&a, d);
        let restorer = {
            let a = a.clone();
            thread::spawn(move || super::restore(&a, 1, d, spilled))
        };
        drop_by_id(&a, 0);
        let restored = restorer.join().unwrap();
        if let Some((x, snap)) = o.lookup(&KEY, |s| s.holds_id()) {
            panic!(
                "restored {restored}: the object is still in {x}: {:?} {:?} refs {:?} loc {:?}",
                snap.state.state(),
                snap.state,
                o.refs.load(x, snap.state.gen()),
                Location::decode(snap.loc)
            );
        }
        assert_eq!(o.index.count_entries(), 0);
        assert_eq!(a.files_removed[d as usize].load(Ordering::SeqCst), 1);
        // The original's memory went with its spill, the copy's once (the
        // copy may be a later life of the original's descriptor).
        for x in 0..3u32 {
            assert_eq!(state(&a, x).state(), State::Free, "descriptor {x}, restored {restored}");
        }
        assert_eq!((0..3u32).map(|x| a.released(x)).sum::<u32>(), 2, "restored {restored}");
    });
}

/// A reclaim of a dead holder (slot 0) races a restore of its spilled
/// object, which another live process (slot 1) may also reference. The
/// reclaim's scan may meet the copy before the restorer copies the holders
/// in, and the original after the restorer froze its word and freed it:
/// the dead holder's bit must not survive in the copy (it would keep the
/// object for ever once the slot is not used again). This was the
/// references soak's "a spilled object and one reference left after every
/// process is gone"; the reclaim's mark and the copy's settling (see
/// `shared::refs`) fix it: the model fails without either. With no live
/// holder, the object is deleted in the end, whoever freed the original
/// (the soak's "spilled objects with no reference left").
fn a_reclaim_racing_a_restore(live_holder: bool) {
    model(move || {
        let a = Arc::new(Arena::new(3, 3));
        let (d, sealed) = counted(&a);
        let o = a.objects();
        if live_holder {
            assert_eq!(o.take_ref(d, sealed, &KEY, 1, &*a), TakeRef::Done);
        }
        let spilled = super::spill(&a, d);
        let restorer = {
            let a = a.clone();
            thread::spawn(move || super::restore(&a, 2, d, spilled))
        };
        // The reclaimer of slot 0 scans every descriptor, the last first.
        o.reclaims.begin(0);
        for x in (0..3u32).rev() {
            o.drop_dead_refs(x, 0, 1, &*a);
        }
        o.reclaims.end(0);
        let restored = restorer.join().unwrap();
        let found = o.lookup(&KEY, |s| s.is_readable());
        if live_holder {
            assert!(restored);
            let (x, snap) = found.expect("the object is referenced by slot 1");
            assert_eq!(o.refs.holders(x), vec![1], "holders of the copy in {x} ({:?})", snap.state.state());
        } else {
            assert!(found.is_none(), "an object nothing holds is left (restored {restored})");
        }
    });
}

#[test]
fn a_reclaim_racing_a_restore_clears_the_dead_holder_in_the_copy() {
    a_reclaim_racing_a_restore(true);
}

#[test]
fn a_reclaim_racing_a_restore_of_an_object_only_the_dead_held_deletes_it() {
    a_reclaim_racing_a_restore(false);
}

/// The same race with the restorer stopped forever after it copied the
/// holders in (the copy COPIED, not settled, the original frozen): the
/// reclaim of dead slot 0 runs meanwhile, then a survivor finishes the
/// install (as a reader of the SHADOW copy does). The dead bit is gone
/// from the copy and slot 1's stays, whatever the order.
#[test]
fn a_restorer_stopped_after_copying_the_holders_in_leaves_no_dead_bit() {
    model(|| {
        let a = Arc::new(Arena::new(3, 3));
        let (d, sealed) = counted(&a);
        let o = a.objects();
        assert_eq!(o.take_ref(d, sealed, &KEY, 1, &*a), TakeRef::Done);
        let spilled = super::spill(&a, d);
        let restorer = {
            let a = a.clone();
            thread::spawn(move || {
                let o = a.objects();
                let (t, shadow) = super::shadow_copy(&a, 2, d);
                assert!(o.claim_successor(d, spilled, t, shadow).is_ok());
                // install_successor's first steps; then it stops forever.
                o.index.replace(o.hash(&KEY), d, spilled.gen(), t, shadow.short_gen() as u64);
                let frozen = o.refs.freeze(d, spilled.gen()).unwrap();
                o.refs.copy_in(t, shadow.gen(), frozen);
                (t, shadow.short_gen())
            })
        };
        o.reclaims.begin(0);
        for x in (0..3u32).rev() {
            o.drop_dead_refs(x, 0, 1, &*a);
        }
        o.reclaims.end(0);
        let (t, t_gen) = restorer.join().unwrap();
        o.install_successor(d, spilled, &KEY, t, t_gen, 1, &*a);
        let (x, snap) = o.lookup(&KEY, |s| s.is_readable()).expect("the object is referenced by slot 1");
        assert_eq!(x, t);
        assert_eq!(o.refs.holders(x), vec![1], "holders of the copy ({:?})", snap.state.state());
    });
}

/// Slot 0, the holder of the only reference to `d` (seen `sealed`), gets it
/// (cancelling a spill under way), releases it and drops the reference:
/// the object must be gone when the unref returns.
fn get_release_and_drop_the_last_ref(a: &Arena, d: u32, sealed: StateWord) {
    let o = a.objects();
    let local = a.local(0);
    loop {
        let s = state(a, d);
        match s.state() {
            State::Spilling => {
                o.cancel_spill(d, s);
            }
            State::Sealed => {
                if o.try_pin(&local, 0, d, s, a) == Pin::Pinned {
                    break;
                }
            }
            other => panic!("the object is {other:?} under a reference"),
        }
        thread::yield_now();
    }
    assert!(o.unpin(&local, 0, d, a));
    assert_eq!(o.drop_ref(d, sealed, &KEY, 0, a), DropRef::Done);
    assert!(o.lookup(&KEY, |s| s.is_readable()).is_none(), "visible after its last unref");
}

/// Spiller `me`, whose spill of `d` began (`spilling`), pins it to read the
/// bytes, then gives the spill up (its write is cancelled, or fails) and
/// lets go, as `Spiller::spill_one` does. False if it could not pin.
fn pin_read_and_give_up_a_spill(a: &Arena, me: u32, d: u32, spilling: StateWord) -> bool {
    let o = a.objects();
    let local = a.local(me as usize);
    if !o.pin_to_spill(&local, me, d, spilling) {
        return false;
    }
    // (it reads the bytes and writes them out; then gives up)
    o.cancel_spill(d, spilling);
    o.unpin_after_spill(&local, me, d, a);
    true
}

/// A spiller (slot 1) pins the REFCOUNTED object it writes out; the holder
/// of its only reference (slot 0) gets it (cancelling the spill if it is
/// under way), releases it and drops the reference: the object is gone as
/// soon as the unref returns, whatever step the spiller is at (its pin
/// keeps the memory, not the object), and its memory is freed once, by the
/// last to let go. The spiller here never commits (its write is cancelled
/// or fails), so the object is never on disk.
#[test]
fn the_last_unref_after_a_reader_cancelled_a_spill_deletes_it_at_once() {
    model(|| {
        let a = Arc::new(Arena::new(1, 2));
        let (d, sealed) = counted(&a);
        let spiller = {
            let a = a.clone();
            thread::spawn(move || {
                let Some(spilling) = a.objects().begin_spill(d, sealed, 1) else { return };
                assert!(pin_read_and_give_up_a_spill(&a, 1, d, spilling));
            })
        };
        get_release_and_drop_the_last_ref(&a, d, sealed);
        spiller.join().unwrap();
        freed_once(&a, d, "after the unref and the spiller's release");
    });
}

/// The same with the spiller dead (stopped for ever, pinned, its note set)
/// and its slot reclaimed meanwhile: the reclaim drops its pin, then its
/// note, so the holder's last unref never sees the spiller's pin without
/// the note (a reader's pin, which would hold the object past the unref).
#[test]
fn the_last_unref_while_a_dead_spillers_pin_is_reclaimed_deletes_it_at_once() {
    model(|| {
        let a = Arc::new(Arena::new(1, 3));
        let (d, sealed) = counted(&a);
        let o = a.objects();
        let spilling = o.begin_spill(d, sealed, 1).unwrap();
        assert!(o.pin_to_spill(&a.local(1), 1, d, spilling));
        // (slot 1 stops for ever here, and dies)
        let reclaimer = {
            let a = a.clone();
            thread::spawn(move || {
                let o = a.objects();
                // What reclaim_slot does for a SPILLING step and the pins of
                // a dead slot.
                o.cancel_spill(d, spilling);
                o.drop_dead_pins_and_spill_note(d, 1, &*a);
            })
        };
        get_release_and_drop_the_last_ref(&a, d, sealed);
        reclaimer.join().unwrap();
        freed_once(&a, d, "after the unref and the reclaim");
    });
}

/// The holder of the only reference drops it and stops for ever before the
/// check that retires the object (`after_drop`); a survivor reclaims its
/// slot, which runs the check on every descriptor: the object goes once.
/// With `reader`, another process gets and releases it meanwhile (its
/// release runs the check too, and the object is never freed under it).
fn a_holder_stopped_between_its_last_drop_and_the_check(reader: bool) {
    model(move || {
        let a = Arc::new(Arena::new(1, 3));
        let (d, seen) = counted(&a);
        let o = a.objects();
        assert!(matches!(o.refs.drop(d, seen.gen(), 0), crate::shared::refs::Unref::Dropped { last: true }));
        // (slot 0 stops for ever here, and dies)
        let reader = reader.then(|| {
            let a = a.clone();
            thread::spawn(move || {
                let o = a.objects();
                let local = a.local(1);
                if o.try_pin(&local, 1, d, seen, &*a) == Pin::Pinned {
                    assert_eq!(a.released(d), 0, "freed under a pin");
                    assert!(o.unpin(&local, 1, d, &*a));
                }
            })
        });
        o.drop_dead_refs(d, 0, 2, &*a);
        o.check_if_free_to_go(d, 2, &*a);
        if let Some(r) = reader {
            r.join().unwrap();
        }
        freed_once(&a, d, "after the reclaim");
    });
}

#[test]
fn a_holder_stopped_between_its_last_drop_and_the_check_is_finished_by_its_reclaim() {
    a_holder_stopped_between_its_last_drop_and_the_check(false);
}

#[test]
fn a_holder_stopped_between_its_last_drop_and_the_check_and_a_reader() {
    a_holder_stopped_between_its_last_drop_and_the_check(true);
}

/// The holder of the only reference drops it while another process runs
/// the same check on the object (a reclaim's sweep, or the release of a
/// pin): two retirers, each of which may take the retire over from the
/// other. When the dropper returns the object is gone, whoever deleted it,
/// and it goes once.
#[test]
fn the_last_unref_racing_another_retirer_returns_with_the_object_gone() {
    model(|| {
        let a = Arc::new(Arena::new(1, 3));
        let (d, seen) = counted(&a);
        let sweeper = {
            let a = a.clone();
            thread::spawn(move || {
                a.objects().check_if_free_to_go(d, 2, &*a);
            })
        };
        let o = a.objects();
        assert_eq!(o.drop_ref(d, seen, &KEY, 0, &*a), DropRef::Done);
        assert!(o.lookup(&KEY, |s| s.is_readable()).is_none(), "visible after the last unref");
        sweeper.join().unwrap();
        freed_once(&a, d, "after the unref and the sweep");
    });
}

/// Two spillers of one REFCOUNTED object: the first (slot 1) began its
/// spill, which the holder (slot 0) cancels by a get before the spiller
/// pinned, and the second (slot 2) begins another meanwhile; both go on to
/// pin it. The holder then gets it again (cancelling the second spill),
/// releases it and drops its last reference: neither spiller's pin may
/// look like a reader's, so the object is gone when the unref returns.
#[test]
fn two_spillers_pinning_at_once_hold_the_object_no_more_than_one() {
    model(|| {
        let a = Arc::new(Arena::new(1, 3));
        let (d, sealed) = counted(&a);
        let o = a.objects();
        // Spiller 1 began; the holder's get cancelled it (and released).
        let first = o.begin_spill(d, sealed, 1).unwrap();
        assert!(o.cancel_spill(d, first));
        // Spiller 2 began its own; both now go on to pin.
        let second = o.begin_spill(d, sealed, 2).unwrap();
        let spillers: Vec<_> = [(1u32, first), (2, second)]
            .into_iter()
            .map(|(me, spilling)| {
                let a = a.clone();
                thread::spawn(move || {
                    pin_read_and_give_up_a_spill(&a, me, d, spilling);
                })
            })
            .collect();
        get_release_and_drop_the_last_ref(&a, d, sealed);
        for s in spillers {
            s.join().unwrap();
        }
        freed_once(&a, d, "after the unref and the spillers' releases");
    });
}

/// A spiller (slot 1) stopped after its spill began, while the object's
/// holder (slot 0) cancelled that spill by a get and dropped its last
/// reference, and a new REFCOUNTED object took the same descriptor: the
/// spiller resumes and goes on to pin (it notices the change only after).
/// Its note and pin may straddle the new object's creation; its pin must
/// still not look like a reader's, so the new object's last unref deletes
/// it before it returns. (The new object's fields must keep the note: a
/// wiped note left the spiller's pin holding the new object, the
/// references soak's object still there after its last unref, pinned by
/// a worker that never read it.)
#[test]
fn a_stale_spiller_pinning_the_next_object_in_its_descriptor_does_not_hold_it() {
    model(|| {
        let a = Arc::new(Arena::new(1, 2));
        let (d, sealed) = counted(&a);
        let o = a.objects();
        let stale = o.begin_spill(d, sealed, 1).unwrap();
        assert!(o.cancel_spill(d, stale));
        assert_eq!(o.drop_ref(d, sealed, &KEY, 0, &*a), DropRef::Done);
        let spiller = {
            let a = a.clone();
            thread::spawn(move || {
                pin_read_and_give_up_a_spill(&a, 1, d, stale);
            })
        };
        let (again, new) = counted(&a);
        assert_eq!(again, d);
        assert_eq!(o.drop_ref(d, new, &KEY, 0, &*a), DropRef::Done);
        assert!(o.lookup(&KEY, |s| s.is_readable()).is_none(), "visible after its last unref");
        spiller.join().unwrap();
        assert_eq!(state(&a, d).state(), State::Free, "freed once the spiller let go");
    });
}

//! loom models of the lock-free protocols, run with
//! `RUSTFLAGS="--cfg loom" cargo test --release --lib loom` (see ci/loom.sh).
//!
//! The protocol code is the crate's own (`objects`, `index`, `pins`,
//! `descriptor`); only the storage differs: loom's atomics in a heap arena
//! instead of the shared mapping. A crash is modelled as a thread that stops
//! after some step, followed by the recovery a survivor runs (the same
//! `discard` / `finish_free` the reclaimer uses).

#![cfg(test)]

use loom::sync::atomic::{AtomicU32, Ordering};
use loom::sync::Arc;
use loom::thread;

use super::lifecycle::{InsertError, Objects, Pin};
use super::test_arena::{self, Arena};

mod evict;
mod kept;
mod lingering;
mod refs;
use crate::shared::descriptor::{w, Location, State, StateWord, NO_OWNER};
use crate::shared::sync::{check_model, ModelLookupRetries};

/// A store's object tables on the heap: `n` descriptors, one index bucket.
const KEY: [u64; 3] = [0xfeed, 0xbeef, 0x1234];

fn reserve(o: &Objects<'_>, me: u32) -> (u32, StateWord) {
    test_arena::reserve(o, me, &KEY)
}

fn put(a: &Arena, me: u32) -> Result<u32, InsertError> {
    test_arena::put(a, me, &KEY)
}

/// Deletes the sealed object named `key` as `Access::delete` does: looked
/// up, then deleted from where the lookup found it (its free removes the
/// index entry the lookup read, scanning only if it changed). False if no
/// sealed object holds `key` or it changed meanwhile.
fn delete_found(a: &Arena, key: &[u64; 3], me: u32) -> bool {
    let o = a.objects();
    let Some((d, s, found)) = o.lookup_state_found(key, |s| s.state() == State::Sealed) else { return false };
    o.delete_sealed_found(d, s, Some(found), me, a)
}

fn sealed_in_index(a: &Arena) -> Vec<u32> {
    let o = a.objects();
    let mut found = vec![];
    o.index.for_each_entry(|d| {
        let s = o.desc.load_state(d, Ordering::SeqCst);
        if s.state() == State::Sealed && o.desc.key_if(d, s) == Some(KEY) {
            found.push(d);
        }
    });
    found
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    check_model(3, f)
}

/// A get racing a delete: the getter either fails to pin, or pins an object
/// whose memory is not released until it unpins; the memory is released
/// exactly once in the end.
#[test]
fn pin_versus_delete() {
    model(|| {
        let a = Arc::new(Arena::new(2, 2));
        let d = put(&a, 0).unwrap();
        let seen = a.objects().desc.load_state(d, Ordering::SeqCst);

        let reader = {
            let a = a.clone();
            thread::spawn(move || {
                let o = a.objects();
                let local = a.local(1);
                if o.try_pin(&local, 1, d, seen, &*a) == Pin::Pinned {
                    // While pinned, the bytes must not have been freed.
                    assert_eq!(a.released(d), 0);
                    assert!(o.unpin(&local, 1, d, &*a));
                }
            })
        };
        let o = a.objects();
        assert!(delete_found(&a, &KEY, 0));
        reader.join().unwrap();
        assert_eq!(a.released(d), 1);
        assert_eq!(o.desc.load_state(d, Ordering::SeqCst).state(), State::Free);
        assert_eq!(o.index.count_entries(), 0);
    });
}

/// Two pinners in different processes and a deleter: memory is released
/// once, after both unpin.
#[test]
fn two_pinners_and_a_delete() {
    model(|| {
        let a = Arc::new(Arena::new(1, 3));
        let d = put(&a, 0).unwrap();
        let seen = a.objects().desc.load_state(d, Ordering::SeqCst);
        let readers: Vec<_> = (1..3)
            .map(|p| {
                let a = a.clone();
                thread::spawn(move || {
                    let o = a.objects();
                    let local = a.local(p);
                    if o.try_pin(&local, p as u32, d, seen, &*a) == Pin::Pinned {
                        assert_eq!(a.released(d), 0);
                        o.unpin(&local, p as u32, d, &*a);
                    }
                })
            })
            .collect();
        assert!(a.objects().delete_sealed(d, seen, 0, &*a));
        for r in readers {
            r.join().unwrap();
        }
        assert_eq!(a.released(d), 1);
    });
}

/// Two processes put the same ID at once: exactly one commits, the index
/// holds one entry, the loser's descriptor is free again.
#[test]
fn racing_inserts_commit_once() {
    model(|| {
        let a = Arc::new(Arena::new(2, 2));
        let other = {
            let a = a.clone();
            thread::spawn(move || put(&a, 1))
        };
        let mine = put(&a, 0);
        let theirs = other.join().unwrap();
        assert!(mine.is_ok() != theirs.is_ok(), "{mine:?} {theirs:?}");
        assert_eq!(sealed_in_index(&a).len(), 1);
        assert_eq!(a.objects().index.count_entries(), 1);
    });
}

/// Two racing puts of one ID while a third process frees an unrelated
/// object whose index entry sits before theirs: the later inserter can then
/// land *nearer* home than the earlier one, which must not let both commit.
#[test]
fn racing_inserts_with_a_slot_freed_under_them() {
    model(|| {
        let a = Arc::new(Arena::new(3, 3));
        let o = a.objects();
        // An unrelated object occupying the first index entry.
        let other_key = [7, 7, 7];
        let (x, r) = o.claim(2, 0, 0).unwrap();
        o.desc.write_fields(x, &other_key, 0, 8, 0);
        o.insert(x, r, &other_key, r.to(State::Sealed, NO_OWNER)).unwrap();
        let remover = {
            let a = a.clone();
            thread::spawn(move || assert!(delete_found(&a, &other_key, 2)))
        };
        let other = {
            let a = a.clone();
            thread::spawn(move || put(&a, 1))
        };
        let mine = put(&a, 0);
        let theirs = other.join().unwrap();
        remover.join().unwrap();
        assert!(mine.is_ok() != theirs.is_ok(), "{mine:?} {theirs:?}");
        assert_eq!(sealed_in_index(&a).len(), 1);
    });
}

/// A delete racing a re-put of the same ID: the put succeeds only once the
/// old object is on its way out, and in the end exactly the surviving
/// object is in the index.
#[test]
fn delete_versus_reinsert() {
    model(|| {
        let a = Arc::new(Arena::new(2, 2));
        let d = put(&a, 0).unwrap();
        let reput = {
            let a = a.clone();
            thread::spawn(move || put(&a, 1))
        };
        assert!(delete_found(&a, &KEY, 0));
        let r = reput.join().unwrap();
        let live = sealed_in_index(&a);
        match r {
            Ok(new) => assert_eq!(live, vec![new]),
            Err(e) => {
                assert_eq!(e, InsertError::Duplicate);
                assert!(live.is_empty());
            }
        }
        assert_eq!(a.released(d), 1);
        assert_eq!(a.objects().index.count_entries(), live.len() as u64);
    });
}

/// An inserter dies after placing its index entry (INSERTING, not
/// committed); a survivor reclaims it while another process puts the same
/// ID. The survivor's put may lose to the dead one's entry only while that
/// entry exists; after reclaim the ID is free and the tables are clean.
#[test]
fn crash_mid_insert_then_reclaim() {
    model(|| {
        let a = Arc::new(Arena::new(2, 2));
        // The dead process (slot 0) stopped right after index.insert.
        let o = a.objects();
        let (dead_d, r) = reserve(&o, 0);
        let inserting = r.to(State::Inserting, 0);
        o.desc.state(dead_d).store(inserting.0, Ordering::SeqCst);
        o.index.insert(o.hash(&KEY), dead_d, r.gen()).unwrap();

        let putter = {
            let a = a.clone();
            thread::spawn(move || put(&a, 1))
        };
        // The reclaimer of slot 0: whatever state the dead descriptor is in
        // now (INSERTING, or COLLIDED if the putter marked it), undo it.
        let now = o.desc.load_state(dead_d, Ordering::SeqCst);
        assert!(matches!(now.state(), State::Inserting | State::Collided));
        assert!(o.discard(dead_d, now, 0, &*a));
        let r = putter.join().unwrap();
        let live = sealed_in_index(&a);
        assert_eq!(live.len(), r.iter().count());
        assert_eq!(o.index.count_entries(), live.len() as u64);
        // The dead descriptor is free, unless the putter reused it.
        let reused = r == Ok(dead_d);
        assert_eq!(
            o.desc.load_state(dead_d, Ordering::SeqCst).state(),
            if reused { State::Sealed } else { State::Free }
        );
        // Whatever happened, the ID can be put now (or is already there).
        if r.is_err() {
            put(&a, 1).unwrap();
        }
    });
}

/// A freer dies in the middle of FREEING (index entry removed, memory not
/// yet released); the reclaimer finishes it exactly once while a reader
/// looks the ID up.
#[test]
fn crash_mid_free_then_reclaim() {
    model(|| {
        let a = Arc::new(Arena::new(1, 2));
        let d = put(&a, 0).unwrap();
        let o = a.objects();
        let sealed = o.desc.load_state(d, Ordering::SeqCst);
        let freeing = sealed.to(State::Freeing, 0);
        assert!(o.desc.transition(d, sealed, freeing));
        o.index.remove(o.hash(&KEY), d, sealed.gen());
        // (slot 0 dies here)
        let reader = {
            let a = a.clone();
            thread::spawn(move || {
                let o = a.objects();
                let found = o.lookup(&KEY, |s| s.state() == State::Sealed);
                assert!(found.is_none());
            })
        };
        let now = o.desc.load_state(d, Ordering::SeqCst);
        o.finish_free(d, now, &*a);
        reader.join().unwrap();
        assert_eq!(a.released(d), 1);
        assert_eq!(o.desc.load_state(d, Ordering::SeqCst).state(), State::Free);
    });
}

/// A deleter stops for ever between taking the object to DELETED and its
/// free; a reader gets and releases it meanwhile. The reclaim of the
/// deleter's slot looks at every descriptor: the memory is released once,
/// never under the reader's pin.
#[test]
fn a_deleter_stopped_before_its_free_is_finished_by_the_reclaim() {
    model(|| {
        let a = Arc::new(Arena::new(1, 3));
        let d = put(&a, 0).unwrap();
        let o = a.objects();
        let sealed = o.desc.load_state(d, Ordering::SeqCst);
        let reader = {
            let a = a.clone();
            thread::spawn(move || {
                let o = a.objects();
                let local = a.local(1);
                if o.try_pin(&local, 1, d, sealed, &*a) == Pin::Pinned {
                    assert_eq!(a.released(d), 0, "freed under a pin");
                    assert!(o.unpin(&local, 1, d, &*a));
                }
            })
        };
        assert!(o.desc.transition(d, sealed, sealed.to(State::Deleted, NO_OWNER)));
        // (slot 0 stops for ever here, and dies; slot 2 reclaims it)
        let _ = o.drop_dead_pins_and_spill_note(d, 0, &*a);
        o.check_if_free_to_go(d, 2, &*a);
        reader.join().unwrap();
        assert_eq!(a.released(d), 1);
        assert_eq!(o.desc.load_state(d, Ordering::SeqCst).state(), State::Free);
        assert_eq!(o.index.count_entries(), 0);
    });
}

/// The last reader of a deleted object clears its pin and stops for ever
/// before the free its unpin owes; the delete ran meanwhile. The reclaim
/// of the reader's slot frees it once.
#[test]
fn an_unpinner_stopped_before_its_free_is_finished_by_the_reclaim() {
    model(|| {
        let a = Arc::new(Arena::new(1, 3));
        let d = put(&a, 0).unwrap();
        let o = a.objects();
        let sealed = o.desc.load_state(d, Ordering::SeqCst);
        let local = a.local(1);
        assert_eq!(o.try_pin(&local, 1, d, sealed, &*a), Pin::Pinned);
        let deleter = {
            let a = a.clone();
            thread::spawn(move || {
                assert!(a.objects().delete_sealed(d, sealed, 0, &*a));
            })
        };
        let _ = local.unpin(d, &o.masks, 1);
        // (slot 1 stops for ever here, and dies; slot 2 reclaims it)
        let _ = o.drop_dead_pins_and_spill_note(d, 1, &*a);
        o.check_if_free_to_go(d, 2, &*a);
        deleter.join().unwrap();
        assert_eq!(a.released(d), 1);
        assert_eq!(o.desc.load_state(d, Ordering::SeqCst).state(), State::Free);
    });
}

// ----- spilling ------------------------------------------------------------------

/// Puts KEY and spills it (its memory released), as `spill_one` does.
fn spilled_object(a: &Arena) -> (u32, StateWord) {
    let d = put(a, 0).unwrap();
    (d, spill(a, d))
}

/// Slot 0 spills the sealed object `d` as `spill_one` does, up to its commit:
/// the SPILLED state and the location of the memory it still holds.
fn spill_up_to_the_release(a: &Arena, d: u32) -> (StateWord, u64) {
    let o = a.objects();
    let sealed = o.desc.load_state(d, Ordering::SeqCst);
    let seen = o.spill_attempt(d);
    let spilling = o.begin_spill(d, sealed, 0).unwrap();
    assert!(o.record_spill_attempt(d, spilling, seen, 1));
    assert!(o.commit_spill(d, spilling));
    (o.desc.load_state(d, Ordering::SeqCst), o.desc.word(d, w::LOC).load(Ordering::SeqCst))
}

/// Slot 0 releases the memory the spill of `d` left (at `loc`), then
/// deletes the spilled object: the descriptor is free again.
fn release_and_delete(a: &Arena, d: u32, spilled: StateWord, loc: u64) {
    let o = a.objects();
    o.release_spilled_memory(d, spilled, loc, 0, a);
    assert!(o.claim_tombstone(d, spilled).is_ok());
    o.finish_tombstone(d, spilled, 0, a);
}

/// Slot 0 spills the sealed object `d` (its memory released): its SPILLED state.
fn spill(a: &Arena, d: u32) -> StateWord {
    let (spilled, loc) = spill_up_to_the_release(a, d);
    a.objects().release_spilled_memory(d, spilled, loc, 0, a);
    spilled
}

/// A process releasing the memory a spill left (any process may: the
/// spiller, or a reader or deleter that finds it) stops after it saw the
/// object SPILLED; meanwhile the spiller releases the memory, a delete
/// frees the descriptor and a put takes a descriptor with the same
/// location. When the stopped releaser resumes, the new object's memory and
/// location are untouched. (Without the releasers' hazards the put took the
/// same descriptor again, and the releaser freed its bytes and marked it on
/// disk: the torture soak's leaked pages and a read of wrong bytes.)
#[test]
fn a_stopped_memory_releaser_never_frees_the_next_life_of_the_descriptor() {
    model(|| {
        let a = Arc::new(Arena::new(2, 2));
        let o = a.objects();
        let d = put(&a, 0).unwrap();
        let (spilled, loc) = spill_up_to_the_release(&a, d);
        let helper = {
            let a = a.clone();
            thread::spawn(move || a.objects().release_spilled_memory(d, spilled, loc, 1, &*a))
        };
        release_and_delete(&a, d, spilled, loc);
        let again = put(&a, 0).unwrap();
        let live = o.desc.load_state(again, Ordering::SeqCst);
        helper.join().unwrap();
        assert_eq!(o.desc.load_state(again, Ordering::SeqCst), live);
        assert_eq!(
            o.desc.word(again, w::LOC).load(Ordering::SeqCst),
            Location::Run { page: again as u64 }.encode(),
            "the new object's location was changed"
        );
    });
}

/// A process releasing the memory a spill left stops for ever once it has
/// named the descriptor (and dies), whatever it did after: the descriptor
/// stays out of use (a put takes another) until the dead slot's reclaim
/// clears its names; then it serves again.
#[test]
fn a_dead_memory_releaser_holds_its_descriptor_only_until_its_reclaim() {
    model(|| {
        let a = Arc::new(Arena::new(2, 2));
        let o = a.objects();
        let d = put(&a, 0).unwrap();
        let (spilled, loc) = spill_up_to_the_release(&a, d);
        let helper = {
            let a = a.clone();
            thread::spawn(move || {
                let o = a.objects();
                o.desc.mark_released(d);
                let _named = o.releasers.name(1, d);
                // (slot 1 stops for ever here, or after any later step, and dies)
            })
        };
        release_and_delete(&a, d, spilled, loc);
        helper.join().unwrap();
        let other = put(&a, 0).unwrap();
        assert_ne!(other, d, "a put took a descriptor a releaser names");
        // Given back FREE with its hint: a search finds it again.
        assert_eq!(o.desc.load_state(d, Ordering::SeqCst).state(), State::Free);
        assert_ne!(o.free_hint[d as usize / 64].load(Ordering::SeqCst) & 1 << (d % 64), 0, "no free hint");
        // The reclaim of slot 1.
        o.releasers.clear_slot(1);
        assert!(o.delete_sealed(other, o.desc.load_state(other, Ordering::SeqCst), 0, &*a));
        assert_eq!(put(&a, 0).unwrap(), d, "the descriptor serves again after the reclaim");
    });
}

/// A complete restored copy of KEY, as `restore` builds before its commit.
fn shadow_copy(a: &Arena, me: u32, pred: u32) -> (u32, StateWord) {
    let o = a.objects();
    let (t, claimed) = reserve(&o, me);
    // The copy is the same object: its flags, its holders (at the install).
    let r = claimed.with_flags(o.desc.load_state(pred, Ordering::SeqCst).flags());
    o.desc.state(t).store(r.0, Ordering::SeqCst);
    o.refs.start_pending(t, r.gen());
    o.desc.set_restore_of(t, pred);
    let shadow = r.to(State::Shadow, me);
    assert!(o.desc.transition(t, r, shadow));
    (t, shadow)
}

/// A restorer's commit-and-install, or its discard when it loses.
fn restore(a: &Arena, me: u32, d: u32, spilled: StateWord) -> bool {
    let o = a.objects();
    let (t, shadow) = shadow_copy(a, me, d);
    if o.claim_successor(d, spilled, t, shadow).is_ok() {
        let gen = shadow.short_gen();
        o.install_successor(d, spilled, &KEY, t, gen, me, a);
        true
    } else {
        assert!(o.discard(t, shadow, me, a));
        false
    }
}

/// A lookup of a spilled object while another process restores it finds
/// the object whatever step the restorer is at, or stopped at forever (a
/// lookup that runs whole between two of its steps): the original, still
/// SPILLED, or the copy (SHADOW, then SEALED), never neither. Without
/// following an index entry replaced in place, a lookup that read the
/// entry before the install and the original after its free passed over
/// both.
#[test]
fn a_lookup_never_passes_over_an_object_being_restored() {
    let _retries = ModelLookupRetries::on();
    model(|| {
        let a = Arc::new(Arena::new(2, 2));
        let (d, spilled) = spilled_object(&a);
        let restorer = {
            let a = a.clone();
            thread::spawn(move || restore(&a, 1, d, spilled))
        };
        let o = a.objects();
        let found = o.lookup(&KEY, |s| s.is_readable());
        assert!(found.is_some(), "a lookup passed over the object being restored");
        assert!(o.lookup_state(&KEY, |s| s.is_readable()).is_some(), "lookup_state passed over it");
        assert!(restorer.join().unwrap());
    });
}

/// A lookup while another process spills the object (SEALED, SPILLING,
/// SPILLED, its memory released) finds it at every step, the state word
/// changing under the read included.
#[test]
fn a_lookup_never_passes_over_an_object_being_spilled() {
    let _retries = ModelLookupRetries::on();
    model(|| {
        let a = Arc::new(Arena::new(2, 2));
        let d = put(&a, 0).unwrap();
        let sealed = a.objects().desc.load_state(d, Ordering::SeqCst);
        let spiller = {
            let a = a.clone();
            thread::spawn(move || {
                let o = a.objects();
                let seen = o.spill_attempt(d);
                let spilling = o.begin_spill(d, sealed, 0).unwrap();
                assert!(o.record_spill_attempt(d, spilling, seen, 1));
                assert!(o.commit_spill(d, spilling));
            })
        };
        let o = a.objects();
        assert!(o.lookup_state(&KEY, |s| s.is_readable()).is_some(), "a lookup passed over the object being spilled");
        spiller.join().unwrap();
    });
}

/// A getter cancelling a spill races the spiller's commit: either the
/// object stays in memory (cancelled) or it is spilled, never both; and a
/// pin taken meanwhile keeps it in memory.
#[test]
fn reader_cancels_a_spill() {
    model(|| {
        let a = Arc::new(Arena::new(2, 2));
        let d = put(&a, 0).unwrap();
        let sealed = a.objects().desc.load_state(d, Ordering::SeqCst);
        let reader = {
            let a = a.clone();
            thread::spawn(move || {
                let o = a.objects();
                let local = a.local(1);
                let s = o.desc.load_state(d, Ordering::SeqCst);
                if s.state() == State::Spilling {
                    o.cancel_spill(d, s);
                }
                let s = o.desc.load_state(d, Ordering::SeqCst);
                if s.state() == State::Sealed && o.try_pin(&local, 1, d, s, &*a) == Pin::Pinned {
                    // Pinned: never spilled, never released under us.
                    assert_eq!(a.released(d), 0);
                    assert_ne!(o.desc.load_state(d, Ordering::SeqCst).state(), State::Spilled);
                    o.unpin(&local, 1, d, &*a);
                }
            })
        };
        let o = a.objects();
        if let Some(spilling) = o.begin_spill(d, sealed, 0) {
            if o.commit_spill(d, spilling) {
                let loc = o.desc.word(d, w::LOC).load(Ordering::SeqCst);
                let spilled = o.desc.load_state(d, Ordering::SeqCst);
                o.release_spilled_memory(d, spilled, loc, 0, &*a);
            }
        }
        reader.join().unwrap();
        let s = o.desc.load_state(d, Ordering::SeqCst);
        let released = a.released(d);
        match s.state() {
            State::Spilled => assert_eq!(released, 1),
            State::Sealed => assert_eq!(released, 0),
            other => panic!("unexpected state {other:?}"),
        }
    });
}

/// Two processes restore the same spilled object at once: one copy wins and
/// is the object; the other is discarded; the original and its file go once.
#[test]
fn two_restorers() {
    model(|| {
        let a = Arc::new(Arena::new(3, 2));
        let (d, spilled) = spilled_object(&a);
        let other = {
            let a = a.clone();
            thread::spawn(move || restore(&a, 1, d, spilled))
        };
        let mine = restore(&a, 0, d, spilled);
        let theirs = other.join().unwrap();
        assert!(mine != theirs, "exactly one copy is chosen");
        // Whoever won, install is idempotent: finish it as a helper might.
        let live = sealed_in_index(&a);
        assert_eq!(live.len(), 1);
        assert_eq!(a.objects().index.count_entries(), 1);
        assert_eq!(a.objects().desc.load_state(d, Ordering::SeqCst).state(), State::Free);
        assert_eq!(a.files_removed[d as usize].load(Ordering::SeqCst), 1);
    });
}

/// A restore races a delete of the same spilled object: either the delete
/// wins (nothing remains) or the restore wins and the object is in memory
/// (the delete then sees it there); never a half state.
#[test]
fn restore_versus_delete() {
    model(|| {
        let a = Arc::new(Arena::new(3, 2));
        let (d, spilled) = spilled_object(&a);
        let restorer = {
            let a = a.clone();
            thread::spawn(move || restore(&a, 1, d, spilled))
        };
        let o = a.objects();
        let deleted = if o.claim_tombstone(d, spilled).is_ok() {
            o.finish_tombstone(d, spilled, 0, &*a);
            true
        } else {
            false
        };
        let restored = restorer.join().unwrap();
        assert!(restored != deleted, "restored {restored}, deleted {deleted}");
        let live = sealed_in_index(&a);
        assert_eq!(live.len(), restored as usize);
        assert_eq!(o.index.count_entries(), restored as u64);
        assert_eq!(o.desc.load_state(d, Ordering::SeqCst).state(), State::Free);
        assert_eq!(a.files_removed[d as usize].load(Ordering::SeqCst), 1);
    });
}

/// A restorer stops right after its commit; a reader that finds the
/// original names a successor finishes the install, while the stopped
/// restorer may resume: both install steps are idempotent.
#[test]
fn a_helper_finishes_a_stopped_restore() {
    model(|| {
        let a = Arc::new(Arena::new(3, 2));
        let (d, spilled) = spilled_object(&a);
        let o = a.objects();
        let (t, shadow) = shadow_copy(&a, 1, d);
        assert!(o.claim_successor(d, spilled, t, shadow).is_ok());
        let gen = shadow.short_gen();
        let restorer = {
            let a = a.clone();
            thread::spawn(move || a.objects().install_successor(d, spilled, &KEY, t, gen, 1, &*a))
        };
        // The helper: it found the SPILLED original with a Successor.
        o.install_successor(d, spilled, &KEY, t, gen, 0, &*a);
        restorer.join().unwrap();
        assert_eq!(sealed_in_index(&a), vec![t]);
        assert_eq!(o.desc.load_state(d, Ordering::SeqCst).state(), State::Free);
        assert_eq!(a.files_removed[d as usize].load(Ordering::SeqCst), 1);
    });
}

/// A reader looked the spilled object up (its snapshot says on disk only)
/// while another process restores it: the restore frees the original and
/// removes its file. If the reader then finds the file missing, the
/// descriptor must tell it the object moved, never that it is damaged.
#[test]
fn a_file_removed_by_a_restore_is_not_damage() {
    model(|| {
        let a = Arc::new(Arena::new(3, 2));
        let (d, spilled) = spilled_object(&a);
        let reader = {
            let a = a.clone();
            thread::spawn(move || {
                let o = a.objects();
                // The reader's open of the file fails once it is removed.
                if a.files_removed[d as usize].load(Ordering::SeqCst) > 0 {
                    assert!(!o.still_on_disk(d, spilled), "a restored object reported as damaged");
                }
            })
        };
        assert!(restore(&a, 1, d, spilled));
        reader.join().unwrap();
    });
}

/// The same with a delete in place of the restore.
#[test]
fn a_file_removed_by_a_delete_is_not_damage() {
    model(|| {
        let a = Arc::new(Arena::new(2, 2));
        let (d, spilled) = spilled_object(&a);
        let reader = {
            let a = a.clone();
            thread::spawn(move || {
                let o = a.objects();
                if a.files_removed[d as usize].load(Ordering::SeqCst) > 0 {
                    assert!(!o.still_on_disk(d, spilled), "a deleted object reported as damaged");
                }
            })
        };
        let o = a.objects();
        assert!(o.claim_tombstone(d, spilled).is_ok());
        o.finish_tombstone(d, spilled, 0, &*a);
        reader.join().unwrap();
    });
}

/// A restorer pins its copy before the copy becomes visible; a spiller
/// that tries to spill the copy at any moment never succeeds while that
/// pin is held (so the get that restored it never loses it again).
#[test]
fn a_restored_copy_is_pinned_before_anyone_can_spill_it() {
    model(|| {
        let a = Arc::new(Arena::new(3, 2));
        let (d, spilled) = spilled_object(&a);
        let o = a.objects();
        let (t, shadow) = shadow_copy(&a, 0, d);
        let spiller = {
            let a = a.clone();
            thread::spawn(move || {
                let o = a.objects();
                let s = o.desc.load_state(t, Ordering::SeqCst);
                if s.state() == State::Sealed {
                    assert!(o.begin_spill(t, s, 1).is_none(), "spilled a copy its restorer pins");
                }
            })
        };
        let local = a.local(0);
        assert!(local.pin(t, &o.masks, 0));
        assert!(o.claim_successor(d, spilled, t, shadow).is_ok());
        let gen = shadow.short_gen();
        o.install_successor(d, spilled, &KEY, t, gen, 0, &*a);
        spiller.join().unwrap();
        assert_eq!(o.desc.load_state(t, Ordering::SeqCst).state(), State::Sealed);
        assert!(o.unpin(&local, 0, t, &*a));
    });
}

/// A spill file, as the sweep and the spiller see it.
const NO_FILE: u32 = 0;
const TEMP_FILE: u32 = 1;
const FINAL_FILE: u32 = 2;
const TAG: u32 = 0x0010_0007;

/// One pass of the sweep over one file: removes it unless a descriptor
/// owns it.
fn sweep_once(a: &Arena, file: &AtomicU32, d: u32, gen: u64) {
    let seen = file.load(Ordering::SeqCst);
    if seen == NO_FILE {
        return;
    }
    let attempt = super::lifecycle::SpillAttempt { d, gen, tag: TAG, temp: seen == TEMP_FILE };
    if !a.objects().owns_spill_file(&attempt) {
        let _ = file.compare_exchange(seen, NO_FILE, Ordering::SeqCst, Ordering::SeqCst);
    }
}

/// A spill (record the attempt, write the temp file, rename it, commit)
/// races a sweep of the directory and a reader that cancels the spill: the
/// sweep removes the spiller's file only once the spill is cancelled, and
/// in the end a spilled object has its file and a cancelled one none.
#[test]
fn a_sweep_never_removes_a_file_a_spill_still_needs() {
    model(|| {
        let a = Arc::new(Arena::new(2, 2));
        let d = put(&a, 0).unwrap();
        let sealed = a.objects().desc.load_state(d, Ordering::SeqCst);
        let file = Arc::new(AtomicU32::new(NO_FILE));
        let sweeper = {
            let (a, file) = (a.clone(), file.clone());
            thread::spawn(move || sweep_once(&a, &file, d, sealed.gen()))
        };
        let reader = {
            let a = a.clone();
            thread::spawn(move || {
                let o = a.objects();
                let s = o.desc.load_state(d, Ordering::SeqCst);
                if s.state() == State::Spilling {
                    o.cancel_spill(d, s);
                }
            })
        };
        let o = a.objects();
        let seen = o.spill_attempt(d);
        let spilling = o.begin_spill(d, sealed, 0).unwrap();
        if o.record_spill_attempt(d, spilling, seen, TAG) {
            file.store(TEMP_FILE, Ordering::SeqCst);
            if file.compare_exchange(TEMP_FILE, FINAL_FILE, Ordering::SeqCst, Ordering::SeqCst).is_err() {
                // The sweep took the temp file: only allowed once cancelled.
                assert!(!o.cancel_spill(d, spilling), "the sweep removed a live spill's file");
            } else if !o.commit_spill(d, spilling) {
                file.store(NO_FILE, Ordering::SeqCst);
            }
        } else {
            // Cancelled before the record: no file.
            assert!(!o.cancel_spill(d, spilling));
        }
        sweeper.join().unwrap();
        reader.join().unwrap();
        match o.desc.load_state(d, Ordering::SeqCst).state() {
            State::Spilled => assert_eq!(file.load(Ordering::SeqCst), FINAL_FILE),
            State::Sealed => assert_eq!(file.load(Ordering::SeqCst), NO_FILE),
            other => panic!("unexpected state {other:?}"),
        }
    });
}

/// A spiller stops forever after creating its temp file; its reclaimer
/// undoes the spill (back to SEALED, its files removed) while a sweep
/// runs: the file ends removed and the object in memory, whatever the
/// order.
#[test]
fn a_dead_spillers_file_is_removed_by_reclaim_or_sweep() {
    model(|| {
        let a = Arc::new(Arena::new(2, 2));
        let d = put(&a, 0).unwrap();
        let sealed = a.objects().desc.load_state(d, Ordering::SeqCst);
        let o = a.objects();
        let seen = o.spill_attempt(d);
        let spilling = o.begin_spill(d, sealed, 0).unwrap();
        assert!(o.record_spill_attempt(d, spilling, seen, TAG));
        let file = Arc::new(AtomicU32::new(TEMP_FILE));
        // (slot 0 stops forever here)
        let sweeper = {
            let (a, file) = (a.clone(), file.clone());
            thread::spawn(move || sweep_once(&a, &file, d, sealed.gen()))
        };
        // The reclaimer of slot 0 (`undo_spill`): remove the attempt's
        // files, then cancel.
        assert!(o.undo_spill(d, spilling, |_| file.store(NO_FILE, Ordering::SeqCst)));
        sweeper.join().unwrap();
        assert_eq!(file.load(Ordering::SeqCst), NO_FILE);
        assert_eq!(o.desc.load_state(d, Ordering::SeqCst).state(), State::Sealed);
    });
}

/// The tag of a second spiller's attempt (slot 1).
const OTHER_TAG: u32 = 0x0020_0009;

/// A spill by slot 1 (`spill_one`'s steps on the descriptor), after a
/// reader cancelled any spill under way: Some(its tag) if it committed.
fn respill(a: &Arena, d: u32, sealed: StateWord) -> Option<u32> {
    let o = a.objects();
    let s = o.desc.load_state(d, Ordering::SeqCst);
    if s.state() == State::Spilling {
        o.cancel_spill(d, s);
    }
    let seen = o.spill_attempt(d);
    let spilling = o.begin_spill(d, sealed, 1)?;
    if o.record_spill_attempt(d, spilling, seen, OTHER_TAG) && o.commit_spill(d, spilling) {
        return Some(OTHER_TAG);
    }
    o.cancel_spill(d, spilling);
    None
}

/// A spiller stopped between its `begin_spill` and its record resumes
/// after a reader cancelled its step and another spiller spilled the
/// object (begin, record, commit): its record fails, so the attempt a
/// SPILLED object records is always its committer's, whose file a restore
/// opens, a free removes and a sweep keeps. (A plain store of the tag lost
/// objects in the soak: their restore opened a file that never existed.)
#[test]
fn a_stopped_spiller_never_replaces_the_committed_attempt() {
    model(|| {
        let a = Arc::new(Arena::new(2, 2));
        let d = put(&a, 0).unwrap();
        let sealed = a.objects().desc.load_state(d, Ordering::SeqCst);
        let other = {
            let a = a.clone();
            thread::spawn(move || respill(&a, d, sealed))
        };
        let o = a.objects();
        let mut mine = None;
        let seen = o.spill_attempt(d);
        if let Some(spilling) = o.begin_spill(d, sealed, 0) {
            if !o.record_spill_attempt(d, spilling, seen, TAG) {
                o.cancel_spill(d, spilling);
            } else if o.commit_spill(d, spilling) {
                mine = Some(TAG);
            }
        }
        let theirs = other.join().unwrap();
        let s = o.desc.load_state(d, Ordering::SeqCst);
        match (mine, theirs) {
            (Some(tag), None) | (None, Some(tag)) => {
                assert_eq!(s.state(), State::Spilled);
                assert_eq!(o.spill_attempt(d), tag, "a spilled object records an attempt not its committer's");
            }
            (None, None) => assert_eq!(s.state(), State::Sealed),
            (Some(_), Some(_)) => panic!("spilled twice"),
        }
    });
}

/// A reclaimer saw a dead spiller's step (SPILLING by the dead slot) and
/// undoes it while a reader cancels that step and another spiller spills
/// the object: the reclaimer removes the files of the attempt recorded
/// while the step is still the dead one's, never those of the attempt that
/// committed.
#[test]
fn a_reclaimer_never_removes_the_committed_attempts_file() {
    model(|| {
        let a = Arc::new(Arena::new(2, 2));
        let d = put(&a, 0).unwrap();
        let sealed = a.objects().desc.load_state(d, Ordering::SeqCst);
        let o = a.objects();
        let seen = o.spill_attempt(d);
        let dead = o.begin_spill(d, sealed, 0).unwrap();
        assert!(o.record_spill_attempt(d, dead, seen, TAG));
        // (slot 0 dies here)
        let removed = Arc::new(AtomicU32::new(0));
        let reclaimer = {
            let (a, removed) = (a.clone(), removed.clone());
            thread::spawn(move || {
                a.objects().undo_spill(d, dead, |snap| removed.store(snap.spill_tag(), Ordering::SeqCst));
            })
        };
        let committed = respill(&a, d, sealed);
        reclaimer.join().unwrap();
        if committed.is_some() {
            assert_ne!(removed.load(Ordering::SeqCst), OTHER_TAG, "the committed attempt's file was removed");
        }
    });
}

/// A put of a library-generated ID (`insert_fresh`: index entry, then the
/// commit, no duplicate scan) races a reader of the ID; the reader sees it
/// absent or sealed with its fields. Then a second one stops forever
/// between its entry and its commit, and its reclaimer discards it: the
/// index holds exactly the first.
#[test]
fn a_fresh_insert_and_its_reclaim() {
    model(|| {
        let a = Arc::new(Arena::new(2, 2));
        let reader = {
            let a = a.clone();
            thread::spawn(move || {
                let o = a.objects();
                if let Some((d, snap)) = o.lookup(&KEY, |s| s.is_readable()) {
                    assert_eq!(snap.state.state(), State::Sealed);
                    assert_eq!(snap.data_len, 8, "fields published with the commit");
                    assert_eq!(o.desc.load_state(d, Ordering::SeqCst).state(), State::Sealed);
                }
            })
        };
        let o = a.objects();
        let (d, r) = reserve(&o, 0);
        o.insert_fresh(d, r, &KEY, r.to(State::Sealed, NO_OWNER)).unwrap();
        reader.join().unwrap();

        // Another fresh ID, stopped after its entry: reclaimed.
        let other = [7, 8, 9];
        let (d2, r2) = test_arena::reserve(&o, 1, &other);
        o.index.insert(o.hash(&other), d2, r2.gen()).unwrap();
        let reclaimer = {
            let a = a.clone();
            thread::spawn(move || {
                let o = a.objects();
                let now = o.desc.load_state(d2, Ordering::SeqCst);
                assert!(o.discard(d2, now, 1, &*a));
            })
        };
        assert!(o.lookup(&other, |s| s.is_readable()).is_none());
        reclaimer.join().unwrap();
        assert_eq!(sealed_in_index(&a), vec![d]);
        assert_eq!(o.index.count_entries(), 1);
        assert_eq!(o.desc.load_state(d2, Ordering::SeqCst).state(), State::Free);
    });
}

/// The remote tier's fetch (store/remote.rs) is a create and a seal: a
/// fetcher stopped forever after its create leaves a CREATED object of a
/// dead slot. Two getters of the ID find it; a getter that finds the object
/// of a dead creator reclaims it (as its collect does), then each fetches
/// again: exactly one commits its object and seals it, the other finds the
/// ID taken and undoes its own, and the dead fetcher's object is gone.
#[test]
fn a_stopped_fetcher_is_reclaimed_and_the_object_fetched_again() {
    model(|| {
        let a = Arc::new(Arena::new(3, 3));
        let o = a.objects();
        // The dead fetcher (slot 0) created its object and stopped.
        let (dead_d, r) = reserve(&o, 0);
        o.insert(dead_d, r, &KEY, r.to(State::Created, 0)).expect("the first create commits");
        let fetcher = |me: u32| {
            let a = a.clone();
            thread::spawn(move || {
                let o = a.objects();
                if let Some((d, s)) = o.lookup_state(&KEY, |s| s.holds_id()) {
                    if s.state() == State::Created && s.owner() == 0 {
                        // Reclaim runs as the dead slot; another getter may
                        // have done it first.
                        o.discard(d, s, 0, &*a);
                    }
                }
                let (d, r) = reserve(&o, me);
                match o.insert(d, r, &KEY, r.to(State::Created, me)) {
                    Ok(created) => {
                        assert!(o.desc.transition(d, created, created.to(State::Sealed, NO_OWNER)));
                        true
                    }
                    Err((e, now)) => {
                        assert_eq!(e, InsertError::Duplicate);
                        assert!(o.discard(d, now, me, &*a));
                        false
                    }
                }
            })
        };
        let (b, c) = (fetcher(1), fetcher(2));
        let (b, c) = (b.join().unwrap(), c.join().unwrap());
        assert!(b != c, "exactly one fetch commits (b {b}, c {c})");
        assert_eq!(sealed_in_index(&a).len(), 1);
        assert_eq!(o.index.count_entries(), 1);
        let dead_now = o.desc.load_state(dead_d, Ordering::SeqCst);
        assert!(dead_now.state() == State::Free || dead_now.owner() != 0, "the dead fetcher's object is gone");
    });
}

/// An object slot freed and claimed for another ID while another process
/// reads it seqlock-style (as a `contains` with a hint does): the reader
/// never takes the new ID with the last life's state, which would make an
/// object being put look present. This model checks the order of the
/// steps; it passes without the release fence at the top of
/// `Descriptors::write_fields` too (loom does not produce that reordering
/// here), which is there because the memory model allows it (the same
/// fence in a handle's recent-object slot has a model that fails without
/// it: `recent::models`).
#[test]
fn a_reader_never_takes_a_new_id_with_the_last_lifes_state() {
    model(|| {
        const OTHER: [u64; 3] = [0xcafe, 0xf00d, 0x77];
        let a = Arc::new(Arena::new(1, 2));
        let d = put(&a, 0).unwrap();
        let sealed = a.objects().desc.load_state(d, Ordering::SeqCst);
        let reader = {
            let a = a.clone();
            thread::spawn(move || {
                if let Some(s) = a.objects().desc.state_if_key(d, &OTHER) {
                    assert!(!s.is_readable(), "{:?} read with the new ID", s.state());
                }
            })
        };
        // The putter in a thread of its own too: loom then tries the
        // reader's loads on either side of each of its steps.
        let putter = {
            let a = a.clone();
            thread::spawn(move || {
                let o = a.objects();
                assert!(o.delete_sealed(d, sealed, 0, &*a));
                assert_eq!(test_arena::reserve(&o, 0, &OTHER).0, d);
            })
        };
        putter.join().unwrap();
        reader.join().unwrap();
    });
}

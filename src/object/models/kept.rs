//! loom models of kept blocks (`lifecycle`, "Kept blocks"): a descriptor
//! freed by the live owner of its free keeps its slab block; whoever claims
//! it next owns the block (a put that reuses it, a claimer that frees it, a
//! sweep that gives it back), and any of them may stop for ever at any step
//! and be reclaimed. In every case the block is released exactly once.

use loom::sync::atomic::Ordering;
use loom::sync::Arc;
use loom::thread;

use super::model;
use crate::object::lifecycle::Objects;
use crate::object::test_arena::{self, Arena, Keeping};
use crate::shared::descriptor::{w, Location, State, StateWord, NO_OWNER};

const KEY: [u64; 3] = [0xb10c, 0x4ee9, 0x1234];
const NEXT: [u64; 3] = [0xb10c, 0x4ee9, 0x5678];
const BLOCK: Location = Location::Block { page: 0, block: 3 };

/// A put of KEY into a slab block, deleted by its owner, who keeps the
/// block: the descriptor is FREE and locates the block, released 0 times.
fn freed_keeping_its_block(a: &Arena) -> u32 {
    let o = a.objects();
    let (d, r) = test_arena::reserve(&o, 0, &KEY);
    o.desc.word(d, w::LOC).store(BLOCK.encode(), Ordering::SeqCst);
    o.insert(d, r, &KEY, r.to(State::Sealed, NO_OWNER)).unwrap();
    let sealed = o.desc.load_state(d, Ordering::SeqCst);
    assert!(o.delete_sealed(d, sealed, 0, &Keeping(a)));
    assert_eq!(o.desc.load_state(d, Ordering::SeqCst).state(), State::Free);
    assert_eq!(o.kept_block(d).map(|k| k.0), Some(BLOCK.encode()));
    assert_eq!(a.released(d), 0);
    d
}

/// Where a claimer of the kept block stops for ever (None: it does not).
#[derive(Clone, Copy, Debug)]
enum Stop {
    AfterClaim,
    AfterIntent,
    AfterFields,
}

/// A put that claims `d` and reuses its block, as `Access::reserve` with
/// `Allocator::take_kept_block`: the location becomes a slab intent while
/// the new lengths are written, then the block again; the new life is then
/// discarded (as a put that fails its insert), which frees the block.
/// Returns false if it did not get the descriptor.
fn reuse(o: &Objects<'_>, a: &Arena, d: u32, me: u32, stop: Option<Stop>) -> bool {
    let Some(claimed) = o.claim_at(d, me, 0) else { return false };
    if matches!(stop, Some(Stop::AfterClaim)) {
        return true;
    }
    if o.kept_block(d).is_none() {
        // A sweep gave it back between: a plain claim. Give it back too.
        assert!(o.discard(d, claimed, me, a));
        return true;
    }
    o.desc.word(d, w::LOC).store(Location::SlabIntent { page: 0 }.encode(), Ordering::SeqCst);
    if matches!(stop, Some(Stop::AfterIntent)) {
        return true;
    }
    o.desc.write_fields(d, &NEXT, 0, 16, 0);
    if matches!(stop, Some(Stop::AfterFields)) {
        return true;
    }
    o.desc.word(d, w::LOC).store(BLOCK.encode(), Ordering::SeqCst);
    assert!(o.discard(d, claimed, me, a));
    true
}

/// The reclaim of a dead slot's step on `d`, as `reclaim_slot` runs it.
fn reclaim(o: &Objects<'_>, a: &Arena, d: u32, dead: u32) {
    let s = o.desc.load_state(d, Ordering::SeqCst);
    if s.has_owner() && s.owner() == dead && s.state() == State::Reserved {
        assert!(o.discard(d, s, dead, a));
    }
}

fn settled(a: &Arena, d: u32) {
    let o = a.objects();
    assert_eq!(a.released(d), 1, "the kept block is released exactly once");
    assert_eq!(o.desc.load_state(d, Ordering::SeqCst).state(), State::Free);
    assert_eq!(o.desc.word(d, w::LOC).load(Ordering::SeqCst), Location::None.encode());
}

/// A put reusing the kept block races a sweep giving it back; the putter
/// may stop for ever at each step, and is then reclaimed.
fn reuse_racing_a_sweep(stop: Option<Stop>) {
    model(move || {
        let a = Arc::new(Arena::new(1, 3));
        let d = freed_keeping_its_block(&a);
        let sweeper = {
            let a = a.clone();
            thread::spawn(move || {
                let o = a.objects();
                if o.begin_kept_sweep() {
                    o.give_back_kept_block(d, 2, &*a);
                }
            })
        };
        let o = a.objects();
        reuse(&o, &a, d, 1, stop);
        sweeper.join().unwrap();
        if stop.is_some() {
            reclaim(&o, &a, d, 1);
        }
        // A block neither the put nor the sweep got: the next claim frees it.
        if o.kept_block(d).is_some() {
            let claimed = o.claim_at(d, 0, 0).expect("free");
            assert!(o.drop_kept_block(d, &*a));
            o.desc.transition(d, claimed, StateWord::new(State::Free, NO_OWNER, claimed.gen()));
        }
        settled(&a, d);
    });
}

#[test]
fn a_put_reusing_a_kept_block_races_a_sweep() {
    reuse_racing_a_sweep(None);
}

#[test]
fn a_put_reusing_a_kept_block_stops_after_its_claim() {
    reuse_racing_a_sweep(Some(Stop::AfterClaim));
}

#[test]
fn a_put_reusing_a_kept_block_stops_after_its_intent() {
    reuse_racing_a_sweep(Some(Stop::AfterIntent));
}

#[test]
fn a_put_reusing_a_kept_block_stops_after_writing_its_lengths() {
    reuse_racing_a_sweep(Some(Stop::AfterFields));
}

/// Two claimers of a descriptor that keeps a block, one of another size
/// class (it frees the block, as `take_kept_block` does) and a sweep: one
/// of them gets the block, and it is released once. The sweeper stops for
/// ever after its claim in one variant.
fn two_claimers_and_a_sweep(sweeper_stops: bool) {
    model(move || {
        let a = Arc::new(Arena::new(1, 3));
        let d = freed_keeping_its_block(&a);
        let sweeper = {
            let a = a.clone();
            thread::spawn(move || {
                let o = a.objects();
                if sweeper_stops {
                    // Claimed for its sweep, then stopped for ever.
                    let _ = o.claim_at(d, 2, 0);
                } else {
                    o.give_back_kept_block(d, 2, &*a);
                }
            })
        };
        let o = a.objects();
        if let Some(claimed) = o.claim_at(d, 1, 0) {
            o.drop_kept_block(d, &*a);
            assert!(o.discard(d, claimed, 1, &*a));
        }
        sweeper.join().unwrap();
        if sweeper_stops {
            reclaim(&o, &a, d, 2);
        }
        if o.kept_block(d).is_some() {
            assert!(o.give_back_kept_block(d, 0, &*a));
        }
        settled(&a, d);
    });
}

#[test]
fn a_kept_block_claimed_by_two_and_swept() {
    two_claimers_and_a_sweep(false);
}

#[test]
fn a_sweeper_stopped_after_its_claim_is_reclaimed() {
    two_claimers_and_a_sweep(true);
}

/// The owner of a free stops for ever between FREEING and FREE, about to
/// keep the block; its reclaimer (who keeps nothing) finishes the free and
/// releases the block, while a sweep looks on.
#[test]
fn a_keeping_freer_stopped_before_free_is_finished_by_its_reclaim() {
    model(|| {
        let a = Arc::new(Arena::new(1, 3));
        let o = a.objects();
        let (d, r) = test_arena::reserve(&o, 0, &KEY);
        o.desc.word(d, w::LOC).store(BLOCK.encode(), Ordering::SeqCst);
        o.insert(d, r, &KEY, r.to(State::Sealed, NO_OWNER)).unwrap();
        let sealed = o.desc.load_state(d, Ordering::SeqCst);
        let deleted = sealed.to(State::Deleted, NO_OWNER);
        assert!(o.desc.transition(d, sealed, deleted));
        let freeing = deleted.to(State::Freeing, 0);
        assert!(o.desc.transition(d, deleted, freeing));
        // (slot 0 stops for ever here; slot 2 reclaims it)
        let sweeper = {
            let a = a.clone();
            thread::spawn(move || {
                let o = a.objects();
                o.give_back_kept_block(d, 1, &*a);
            })
        };
        o.finish_free(d, freeing, &*a);
        sweeper.join().unwrap();
        settled(&a, d);
    });
}

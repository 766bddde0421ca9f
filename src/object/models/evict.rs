//! loom model of eviction (`Objects::evict`): an eviction racing a get. The
//! getter either finds the object gone, or pins it, and then it stays: an
//! object is never evicted under a pin (a pin taken first makes the evictor
//! give up; one taken after the evictor began sees the state move and goes
//! to the general path, which cancels the eviction as it cancels a spill).

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;

use super::model;
use crate::object::lifecycle::Pin;
use crate::object::test_arena::{self, Arena};
use crate::shared::descriptor::{flags, State};

const KEY: [u64; 3] = [0xcafe, 0xf00d, 0x1234];

#[test]
fn an_eviction_racing_a_get() {
    model(|| {
        let a = Arc::new(Arena::new(1, 2));
        let d = test_arena::put_with(&a, 0, &KEY, flags::EVICTABLE).unwrap();
        let sealed = a.objects().desc.load_state(d, Ordering::SeqCst);
        let done = Arc::new(AtomicBool::new(false));
        let reader = {
            let (a, done) = (a.clone(), done.clone());
            thread::spawn(move || {
                let o = a.objects();
                let local = a.local(1);
                // As `Access::pin`: a reader wins over a spill (or an
                // eviction) under way.
                let s = o.desc.load_state(d, Ordering::SeqCst);
                if s.state() == State::Spilling {
                    o.cancel_spill(d, s);
                }
                let s = o.desc.load_state(d, Ordering::SeqCst);
                if s.state() == State::Sealed && o.try_pin(&local, 1, d, s, &*a) == Pin::Pinned {
                    while !done.load(Ordering::SeqCst) {
                        thread::yield_now();
                    }
                    assert_eq!(a.released(d), 0, "freed under a pin");
                    assert!(o.lookup(&KEY, |s| s.is_readable()).is_some(), "evicted under a pin");
                    assert!(o.unpin(&local, 1, d, &*a));
                    return true;
                }
                false
            })
        };
        let evicted = a.objects().evict(d, sealed, 0, &*a);
        done.store(true, Ordering::SeqCst);
        let pinned = reader.join().unwrap();
        let o = a.objects();
        let now = o.desc.load_state(d, Ordering::SeqCst).state();
        if evicted {
            assert_eq!((now, a.released(d)), (State::Free, 1), "pinned: {pinned}");
            assert!(o.lookup(&KEY, |s| s.holds_id()).is_none());
        } else {
            assert_eq!((now, a.released(d)), (State::Sealed, 0), "pinned: {pinned}");
        }
    });
}

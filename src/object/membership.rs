//! A process's membership in a store: its process slot, held by a liveness
//! lock, and how it learns which other processes are alive or dead.
//!
//! A process owns slot `i` while it holds the lock on byte `i` of the store
//! file's lock range (see `platform::lock`), which the kernel drops exactly
//! when the process dies. Whoever takes the lock of a slot whose owner word
//! says ACTIVE knows its owner is dead and, while holding that lock,
//! reclaims what it held: two reclaimers cannot overlap, and a new owner
//! cannot move in until reclaim is done.

use std::os::fd::BorrowedFd;

use super::reclaim::Reclaimed;
use crate::error::{err, Error, Result};
use crate::platform::{self, LockFd};
use crate::shared::layout::Global;
use crate::shared::lingering::LINGER_SLOTS;
use crate::shared::refs::INLINE_SLOTS;
use crate::shared::region::Region;
use crate::shared::sync::Ordering;

/// This process's slot in a store, and the lock that holds it.
#[derive(Debug)]
pub(crate) struct Membership {
    pub slot: u32,
    lock: LockFd,
    fork_generation: u64,
}

/// The message of a handle used in a fork child.
pub(crate) fn forked() -> Error {
    err!(InvalidArgument, "this store handle was opened by another process (before a fork); open the store again")
}

impl Membership {
    /// Takes a free process slot, or a dead process's: `reclaim(slot)`
    /// cleans that one up (as the process that now owns the slot), holding
    /// its lock.
    pub(crate) fn join(
        region: &Region,
        lock: LockFd,
        mut reclaim: impl FnMut(u32) -> Reclaimed,
    ) -> Result<(Membership, Reclaimed)> {
        let fd = lock.get().ok_or_else(forked)?;
        let procs = region.procs();
        let slots = procs.slots();
        // The slots that hold references as bits of an object's word and
        // have linger entries first (a process there takes references and
        // reads hot objects without writing shared lines beyond its own),
        // from a random one among them so that processes attaching at once
        // try different locks.
        let preferred = slots.min(LINGER_SLOTS).min(INLINE_SLOTS);
        let start = (platform::random_u128() as u32) % preferred;
        for pass in 0..2 {
            for i in 0..slots {
                let s = if i < preferred { (start + i) % preferred } else { i };
                if pass == 0 && procs.owner(s).active {
                    continue;
                }
                if !platform::try_lock_slot(fd, s).map_err(|e| Error::os("cannot lock a process slot", e))? {
                    continue;
                }
                let mut reclaimed = Reclaimed::default();
                if procs.owner(s).active {
                    // Its owner died: we hold its lock, so we may clean up.
                    reclaimed = reclaim(s);
                    region.global(Global::Reclaimed).fetch_add(1, Ordering::Relaxed);
                } else {
                    // A free slot may still hold hazards of a reclaimer that died.
                    procs.clear_hazards(s);
                }
                procs.activate(s, platform::pid(), platform::unix_seconds_coarse());
                let member = Membership { slot: s, fork_generation: platform::fork_generation(), lock };
                return Ok((member, reclaimed));
            }
        }
        Err(err!(TooManyProcesses, "all {slots} process slots of the store are held by live processes"))
    }

    /// The lock (and fallocate) descriptor; None in a fork child.
    pub(crate) fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.lock.get()
    }

    /// The lock (and fallocate) descriptor, to be looked up when used
    /// (`LockFd::get`: None in a fork child).
    pub(crate) fn lock_fd(&self) -> &LockFd {
        &self.lock
    }

    /// True when this process is the one that joined.
    #[inline]
    pub(crate) fn in_owner_process(&self) -> bool {
        self.fork_generation == platform::fork_generation()
    }

    /// Reclaims every slot whose process is dead, with `reclaim(dead)`.
    pub(crate) fn collect(&self, region: &Region, mut reclaim: impl FnMut(u32) -> Reclaimed) -> Result<Reclaimed> {
        let fd = self.fd().ok_or_else(forked)?;
        let mut reclaimed = Reclaimed::default();
        let procs = region.procs();
        for s in 0..procs.slots() {
            if s == self.slot || !procs.owner(s).active {
                continue;
            }
            if platform::try_lock_slot(fd, s).map_err(|e| Error::os("cannot test a process slot", e))? {
                if procs.owner(s).active {
                    reclaimed += reclaim(s);
                    procs.deactivate(s);
                    region.global(Global::Reclaimed).fetch_add(1, Ordering::Relaxed);
                }
                platform::unlock_slot(fd, s);
            }
        }
        Ok(reclaimed)
    }

    /// Live attached processes and their pids (skipping dead, unreclaimed slots).
    pub(crate) fn live_processes(&self, region: &Region) -> Vec<(u32, u32)> {
        let procs = region.procs();
        let Some(fd) = self.fd() else { return vec![] };
        (0..procs.slots())
            .filter_map(|s| {
                let o = procs.owner(s);
                if !o.active {
                    return None;
                }
                let alive = s == self.slot || platform::slot_is_locked(fd, s).unwrap_or(true);
                alive.then_some((s, o.pid))
            })
            .collect()
    }

    /// Whether slot `s` is held by a live process (our own slot is).
    pub(crate) fn slot_is_alive(&self, region: &Region, s: u32) -> bool {
        if s == self.slot {
            return true;
        }
        let Some(fd) = self.fd() else { return true };
        region.procs().owner(s).active && platform::slot_is_locked(fd, s).unwrap_or(true)
    }

    /// Leaves the slot (after the caller cleaned it up as a reclaimer would).
    pub(crate) fn leave(&self, region: &Region) {
        region.procs().deactivate(self.slot);
        if let Some(fd) = self.fd() {
            platform::unlock_slot(fd, self.slot);
        }
    }
}

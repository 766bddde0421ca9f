//! The hold table: holds on objects that are not bits of a reference word
//! (see `refs`): tickets, and the references of processes in slots beyond
//! the word's `INLINE_SLOTS`. One table for the store, hashed by object ID,
//! so an entry names an object, not a descriptor: it stays valid when the
//! object is restored into another descriptor.
//!
//! An entry is four words: `A`, then the ID (`K0`, `K1`, and `K2S` =
//! `[slot:16 | ID bytes 16..20:32]` with the slot above the ID's last
//! word). `A` says what the entry is, and is the word every step changes:
//!
//! - `0`: empty;
//! - `CLAIMED(slot)`: being written by `slot` (claimed by a CAS from 0,
//!   then the ID words, then the final `A`, SeqCst);
//! - `REF(slot)`: a reference of `slot` (one entry per slot and object,
//!   whatever the slot's count of references, which it keeps in its own
//!   memory as for bits of the word);
//! - `TICKET(nonce)`: a reference given away (`os_ref_give`), charged to the
//!   giver `slot` until a taker empties the entry with one CAS on the
//!   nonce, which only the one who knows the nonce can name: a ticket is
//!   taken at most once, and 62 random bits make a wrong one miss.
//!
//! The table begins with a line whose first word counts the entries in
//! use (or being written, or emptied and not yet counted down): a hint that
//! lets the free of an object nobody gave a ticket for skip the scan. It is
//! raised before an entry is claimed and lowered after one is emptied, so it
//! is never below the number of entries in use.
//!
//! A reader matches an entry seqlock-style (A, the ID words, A again). The
//! entries of an ID lie within `WINDOW` entries of its home; a reader scans
//! the whole window (an emptied entry is reusable at once: there are no
//! tombstones to keep). Whoever empties an entry of a dead slot holds that
//! slot's liveness lock; a slot's REF entries are removed only by the slot
//! itself (its threads agree in process memory) or its reclaimer.

use super::sync::{AtomicU64, Ordering};

/// Words per entry.
pub(crate) const ENTRY_WORDS: usize = 4;

/// Words of the header line (the in-use count, then nothing).
const HEADER_WORDS: usize = 8;

/// Entries looked at from an ID's home.
pub(crate) const WINDOW: usize = 64;

const KIND_SHIFT: u32 = 62;
const KIND_CLAIMED: u64 = 1;
const KIND_REF: u64 = 2;
const KIND_TICKET: u64 = 3;

/// Entries of the hold table of a store with `objects` object slots: one
/// per 32 object slots (a byte of metadata per object slot), at least a
/// window's worth.
pub(crate) fn entry_count(objects: u64) -> usize {
    (objects / 32).max(WINDOW as u64 * 4) as usize
}

/// Words of the hold table of a store with `objects` object slots.
pub(crate) fn table_words(objects: u64) -> usize {
    words_for_entries(entry_count(objects))
}

/// Words of a hold table of `entries` entries.
pub(crate) fn words_for_entries(entries: usize) -> usize {
    HEADER_WORDS + entries * ENTRY_WORDS
}

/// Whether `t` has the form of a ticket (what `give` returns).
#[inline]
pub(crate) fn is_ticket(t: u64) -> bool {
    t >> KIND_SHIFT == KIND_TICKET
}

/// A ticket value from 64 random bits.
#[inline]
pub(crate) const fn ticket_from(random: u64) -> u64 {
    KIND_TICKET << KIND_SHIFT | random & ((1 << KIND_SHIFT) - 1)
}

#[inline]
fn claimed(slot: u32) -> u64 {
    KIND_CLAIMED << KIND_SHIFT | slot as u64
}

#[inline]
fn ref_of(slot: u32) -> u64 {
    KIND_REF << KIND_SHIFT | slot as u64
}

/// What an entry holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hold {
    /// A reference of this slot.
    Ref { slot: u32 },
    /// A ticket given by this slot.
    Ticket { giver: u32, nonce: u64 },
}

/// The hold table.
#[derive(Clone, Copy)]
pub(crate) struct Holds<'a> {
    in_use: &'a AtomicU64,
    entries: &'a [[AtomicU64; ENTRY_WORDS]],
}

impl<'a> Holds<'a> {
    /// The table over `words` (at least the header line).
    pub(crate) fn new(words: &'a [AtomicU64]) -> Holds<'a> {
        let (header, entries) = words.split_at(HEADER_WORDS);
        Holds { in_use: &header[0], entries: entries.as_chunks().0 }
    }

    /// Whether any entry may be in use (a SeqCst read: see `any`).
    #[inline]
    pub(crate) fn maybe_in_use(&self) -> bool {
        self.in_use.load(Ordering::SeqCst) != 0
    }

    fn count_down(&self) {
        // Never below zero: every lowering follows a raising (see the
        // module docs); a damaged count only costs scans.
        let _ = self.in_use.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }

    /// The entries of the window of an ID whose hash is `hash`.
    fn window(&self, hash: u64) -> impl Iterator<Item = &'a [AtomicU64; ENTRY_WORDS]> + 'a {
        let n = self.entries.len();
        let start = if n == 0 { 0 } else { (hash.rotate_left(29) % n as u64) as usize };
        let entries = self.entries;
        (0..WINDOW.min(n)).map(move |i| &entries[(start + i) % n])
    }

    /// What entry `e` holds, if it is a hold on `key` (read seqlock-style).
    fn matching(e: &[AtomicU64; ENTRY_WORDS], key: &[u64; 3]) -> Option<(u64, Hold)> {
        let a = e[0].load(Ordering::SeqCst);
        let kind = a >> KIND_SHIFT;
        if kind != KIND_REF && kind != KIND_TICKET {
            return None;
        }
        let k0 = e[1].load(Ordering::SeqCst);
        let k1 = e[2].load(Ordering::SeqCst);
        let k2s = e[3].load(Ordering::SeqCst);
        if e[0].load(Ordering::SeqCst) != a || k0 != key[0] || k1 != key[1] || k2s & 0xffff_ffff != key[2] {
            return None;
        }
        let slot = (k2s >> 32) as u32 & 0xffff;
        Some((a, if kind == KIND_REF { Hold::Ref { slot } } else { Hold::Ticket { giver: slot, nonce: a } }))
    }

    /// Adds a hold of `slot` on `key` (`ticket`: a ticket's value, else a
    /// reference). False if the ID's window is full.
    pub(crate) fn add(&self, hash: u64, key: &[u64; 3], slot: u32, ticket: Option<u64>) -> bool {
        let a = match ticket {
            Some(t) => {
                debug_assert!(is_ticket(t));
                t
            }
            None => ref_of(slot),
        };
        self.in_use.fetch_add(1, Ordering::SeqCst);
        for e in self.window(hash) {
            if e[0].load(Ordering::Relaxed) != 0
                || e[0].compare_exchange(0, claimed(slot), Ordering::SeqCst, Ordering::Relaxed).is_err()
            {
                continue;
            }
            e[1].store(key[0], Ordering::SeqCst);
            e[2].store(key[1], Ordering::SeqCst);
            e[3].store(key[2] & 0xffff_ffff | (slot as u64 & 0xffff) << 32, Ordering::SeqCst);
            e[0].store(a, Ordering::SeqCst);
            return true;
        }
        self.count_down();
        false
    }

    /// Whether any entry holds `key` (SeqCst reads: a retirer's or freer's
    /// half of the handshake with whoever adds one).
    pub(crate) fn any(&self, hash: u64, key: &[u64; 3]) -> bool {
        self.maybe_in_use() && self.window(hash).any(|e| Self::matching(e, key).is_some())
    }

    /// Removes `slot`'s reference entry on `key`; false if it has none.
    pub(crate) fn remove_ref(&self, hash: u64, key: &[u64; 3], slot: u32) -> bool {
        for e in self.window(hash) {
            if let Some((a, Hold::Ref { slot: s })) = Self::matching(e, key) {
                if s == slot && e[0].compare_exchange(a, 0, Ordering::SeqCst, Ordering::Relaxed).is_ok() {
                    self.count_down();
                    return true;
                }
            }
        }
        false
    }

    /// Takes the ticket `nonce` on `key`: empties its entry. False if no
    /// such ticket is outstanding (taken already, dropped with its giver,
    /// for another ID, or never given).
    pub(crate) fn take_ticket(&self, hash: u64, key: &[u64; 3], nonce: u64) -> bool {
        if !is_ticket(nonce) {
            return false;
        }
        let taken = self.window(hash).any(|e| {
            matches!(Self::matching(e, key), Some((a, Hold::Ticket { .. })) if a == nonce)
                && e[0].compare_exchange(nonce, 0, Ordering::SeqCst, Ordering::Relaxed).is_ok()
        });
        if taken {
            self.count_down();
        }
        taken
    }

    /// Empties every entry of dead slot `slot` (the caller holds its
    /// liveness lock), calling `dropped(key)` for each hold it had, after
    /// the entry is empty.
    pub(crate) fn clear_slot(&self, slot: u32, mut dropped: impl FnMut(&[u64; 3])) {
        for e in self.entries {
            let a = e[0].load(Ordering::SeqCst);
            let kind = a >> KIND_SHIFT;
            if a == claimed(slot) {
                if e[0].compare_exchange(a, 0, Ordering::SeqCst, Ordering::Relaxed).is_ok() {
                    self.count_down();
                }
                continue;
            }
            if kind != KIND_REF && kind != KIND_TICKET {
                continue;
            }
            let key = [e[1].load(Ordering::SeqCst), e[2].load(Ordering::SeqCst), e[3].load(Ordering::SeqCst)];
            if (key[2] >> 32) as u32 & 0xffff != slot || e[0].load(Ordering::SeqCst) != a {
                continue;
            }
            if e[0].compare_exchange(a, 0, Ordering::SeqCst, Ordering::Relaxed).is_ok() {
                self.count_down();
                dropped(&[key[0], key[1], key[2] & 0xffff_ffff]);
            }
        }
    }

    /// Tickets outstanding and reference entries, in the whole table.
    pub(crate) fn counts(&self) -> (u64, u64) {
        let (mut tickets, mut refs) = (0, 0);
        for e in self.entries {
            match e[0].load(Ordering::Relaxed) >> KIND_SHIFT {
                KIND_TICKET => tickets += 1,
                KIND_REF => refs += 1,
                _ => {}
            }
        }
        (tickets, refs)
    }

    /// The IDs reference entries are on, for inspection.
    pub(crate) fn ref_keys(&self) -> std::collections::HashSet<[u64; 3]> {
        let mut keys = std::collections::HashSet::new();
        if !self.maybe_in_use() {
            return keys;
        }
        for e in self.entries {
            let a = e[0].load(Ordering::Relaxed);
            if a >> KIND_SHIFT == KIND_REF {
                let key = [e[1].load(Ordering::Relaxed), e[2].load(Ordering::Relaxed), e[3].load(Ordering::Relaxed)];
                keys.insert([key[0], key[1], key[2] & 0xffff_ffff]);
            }
        }
        keys
    }

    /// The slots holding `key` (references and tickets' givers), for
    /// inspection.
    pub(crate) fn holders(&self, hash: u64, key: &[u64; 3]) -> Vec<Hold> {
        self.window(hash).filter_map(|e| Self::matching(e, key).map(|(_, h)| h)).collect()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn table(entries: usize) -> Vec<AtomicU64> {
        (0..words_for_entries(entries)).map(|_| AtomicU64::new(0)).collect()
    }

    #[test]
    fn tickets_are_taken_once_and_only_for_their_id() {
        let w = table(256);
        let h = Holds::new(&w);
        let (k, other) = ([1, 2, 3], [1, 2, 4]);
        let t = ticket_from(0x1234_5678_9abc_def0);
        assert!(is_ticket(t) && !is_ticket(0) && !is_ticket(ref_of(3)));
        assert!(h.add(77, &k, 5, Some(t)));
        assert!(h.any(77, &k) && !h.any(77, &other));
        assert_eq!(h.holders(77, &k), vec![Hold::Ticket { giver: 5, nonce: t }]);
        assert!(!h.take_ticket(77, &other, t), "a ticket for another ID");
        assert!(!h.take_ticket(77, &k, t ^ 1), "a wrong ticket");
        assert!(!h.take_ticket(77, &k, ref_of(5)), "a reference entry is not a ticket");
        assert!(h.take_ticket(77, &k, t));
        assert!(!h.take_ticket(77, &k, t), "taken twice");
        assert!(!h.any(77, &k));
        assert_eq!(h.counts(), (0, 0));
        assert!(!h.maybe_in_use());
    }

    #[test]
    fn references_of_a_slot_and_its_death() {
        let w = table(256);
        let h = Holds::new(&w);
        let k = [9, 9, 9];
        assert!(h.add(5, &k, 70, None));
        assert!(h.add(5, &k, 71, None));
        assert!(h.add(5, &k, 70, Some(ticket_from(42))));
        assert!(h.holders(5, &k).contains(&Hold::Ref { slot: 70 }));
        assert_eq!(h.counts(), (1, 2));
        assert!(h.remove_ref(5, &k, 71));
        assert!(!h.remove_ref(5, &k, 71));
        let mut dropped = vec![];
        h.clear_slot(70, |key| dropped.push(*key));
        assert_eq!(dropped, vec![k, k]);
        assert!(!h.any(5, &k));
        assert!(!h.maybe_in_use());
    }

    #[test]
    fn a_full_window_refuses_and_a_claim_of_a_dead_slot_is_cleared() {
        let w = table(WINDOW * 4);
        let h = Holds::new(&w);
        let k = [1, 1, 1];
        for i in 0..WINDOW as u64 {
            assert!(h.add(0, &k, 1, Some(ticket_from(i + 10))));
        }
        assert!(!h.add(0, &k, 1, Some(ticket_from(5))));
        assert_eq!(h.in_use.load(Ordering::SeqCst), WINDOW as u64);
        // An entry left claimed by a dead writer is freed by its reclaim.
        let e = &h.entries[3 * WINDOW];
        h.in_use.fetch_add(1, Ordering::SeqCst);
        e[0].store(claimed(9), Ordering::SeqCst);
        h.clear_slot(9, |_| panic!("a claim holds nothing"));
        assert_eq!(e[0].load(Ordering::SeqCst), 0);
        assert_eq!(h.in_use.load(Ordering::SeqCst), WINDOW as u64);
    }
}

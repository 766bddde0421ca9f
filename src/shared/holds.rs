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
//! A reader matches an entry seqlock-style (A, the ID words, A again); A
//! is never the same for two holds written one after the other in an entry
//! (a ticket's nonce is random, a reference's A carries a tag that changes
//! with each reference added), so an entry emptied and filled again between
//! the two reads is not taken for a mix of the two holds' IDs. The
//! entries of an ID lie within `WINDOW` entries of its home; a reader scans
//! the whole window (an emptied entry is reusable at once: there are no
//! tombstones to keep).
//!
//! **Tickets outside the window.** An object handed to many receivers at
//! once (a pool's task thread pickling one reference into a thousand tasks)
//! has more tickets outstanding than a window holds. A ticket that finds
//! its ID's window full goes *outside*: to the first empty entry from its
//! own home on (the ID's hash mixed with its nonce; the whole table if need
//! be), its entry marked `OUTSIDE` (the top bit of `K2S`; its claim has
//! `CLAIM_OUTSIDE` set), and it is counted in the
//! header line's second word, `outside`, raised before the claim and
//! lowered after the entry is emptied, like the in-use count. While
//! `outside` is above zero, the questions about all of an ID's holds (is
//! it held, by whom) scan the whole table rather than its window; a take
//! that does not find its ticket in the ID's window looks from the
//! ticket's own home on (where it was put, or soon after). So the number
//! of tickets of one object is bounded by the table, not the window, and a
//! store where no object has that many pays nothing for it.
//! References stay in their ID's window (one entry per process slot and
//! object). A process killed between raising `outside` and claiming leaves
//! it raised: every question scans the whole table from then on (correct,
//! slower), as a count raised by a dead claimer makes the window scans of
//! the in-use hint. Whoever empties an entry of a dead slot holds that
//! slot's liveness lock; a slot's REF entries are removed only by the slot
//! itself (its threads agree in process memory) or its reclaimer.

use super::sync::{AtomicU64, Ordering};

/// Words per entry.
pub(crate) const ENTRY_WORDS: usize = 4;

/// Words of the header line (the in-use count, the count of tickets
/// outside their ID's window, then nothing).
const HEADER_WORDS: usize = 8;

/// Entries looked at from an ID's home.
#[cfg(not(loom))]
pub(crate) const WINDOW: usize = 64;
/// Under loom, two: the models' table has four entries, so that a full
/// window leaves room outside it.
#[cfg(loom)]
pub(crate) const WINDOW: usize = 2;

const KIND_SHIFT: u32 = 62;
const KIND_CLAIMED: u64 = 1;
const KIND_REF: u64 = 2;
const KIND_TICKET: u64 = 3;
/// In `K2S`: the entry is a ticket outside its ID's window.
const OUTSIDE: u64 = 1 << 63;
/// In a claim: the entry being written is outside its ID's window.
const CLAIM_OUTSIDE: u64 = 1 << 32;

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

/// Where a ticket goes when its ID's window is full: a home of its own.
#[inline]
fn ticket_home(hash: u64, ticket: u64) -> u64 {
    hash ^ crate::id::mix64(ticket)
}

/// The first word of a new reference entry of `slot`: its kind, a tag
/// and the slot. The tag differs from one reference added to the next, so
/// that a reader, which reads this word before and after the ID words,
/// cannot mistake an entry that the slot emptied and filled again for
/// another ID meanwhile for one holding a mix of the two IDs' words (a
/// ticket's random nonce does the same for tickets). Readers take the slot
/// from the ID words' line, not from here.
fn ref_of(slot: u32) -> u64 {
    use std::sync::atomic::{AtomicU32, Ordering as Local};
    use std::sync::OnceLock;
    // Process-local: distinct in this process, and starting elsewhere in
    // the next process to take the slot.
    static NEXT: AtomicU32 = AtomicU32::new(0);
    static START: OnceLock<u32> = OnceLock::new();
    let start = *START.get_or_init(|| std::process::id().wrapping_mul(0x9e37_79b9));
    let tag = start.wrapping_add(NEXT.fetch_add(1, Local::Relaxed)) as u64 & REF_TAG_MASK;
    KIND_REF << KIND_SHIFT | tag << REF_TAG_SHIFT | slot as u64
}

/// Where a reference entry's tag sits in its first word (above the slot,
/// below the kind).
const REF_TAG_SHIFT: u32 = 32;
const REF_TAG_MASK: u64 = (1 << (KIND_SHIFT - REF_TAG_SHIFT)) - 1;

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
    /// Tickets outside their ID's window (see the module docs).
    outside: &'a AtomicU64,
    entries: &'a [[AtomicU64; ENTRY_WORDS]],
}

impl<'a> Holds<'a> {
    /// The table over `words` (at least the header line).
    pub(crate) fn new(words: &'a [AtomicU64]) -> Holds<'a> {
        let (header, entries) = words.split_at(HEADER_WORDS);
        Holds { in_use: &header[0], outside: &header[1], entries: entries.as_chunks().0 }
    }

    /// Whether any entry may be in use (a SeqCst read: see `any`).
    #[inline]
    pub(crate) fn maybe_in_use(&self) -> bool {
        self.in_use.load(Ordering::SeqCst) != 0
    }

    /// Whether some ticket may be outside its ID's window (a SeqCst read,
    /// after the in-use hint's).
    #[inline]
    fn maybe_outside(&self) -> bool {
        self.outside.load(Ordering::SeqCst) != 0
    }

    fn count_down(&self) {
        Self::lower(self.in_use);
    }

    /// Lowers the count of an entry emptied: the in-use hint, and `outside`
    /// too for a ticket that was outside its ID's window.
    fn count_down_entry(&self, outside: bool) {
        if outside {
            Self::lower(self.outside);
        }
        Self::lower(self.in_use);
    }

    fn lower(count: &AtomicU64) {
        // Never below zero: every lowering follows a raising (see the
        // module docs); a damaged count only costs scans.
        let _ = count.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }

    /// The entries of the window of an ID whose hash is `hash`.
    fn window(&self, hash: u64) -> impl Iterator<Item = &'a [AtomicU64; ENTRY_WORDS]> + 'a {
        self.from(hash).take(WINDOW)
    }

    /// Every entry, from the home of `hash` on, wrapping around.
    fn from(&self, hash: u64) -> impl Iterator<Item = &'a [AtomicU64; ENTRY_WORDS]> + 'a {
        let n = self.entries.len();
        let start = if n == 0 { 0 } else { (hash.rotate_left(29) % n as u64) as usize };
        let entries = self.entries;
        (0..n).map(move |i| &entries[(start + i) % n])
    }

    /// The entries an ID's holds may be in: its window, or the whole table
    /// while some ticket is outside its ID's window.
    fn places(&self, hash: u64) -> impl Iterator<Item = &'a [AtomicU64; ENTRY_WORDS]> + 'a {
        let all = self.maybe_outside();
        let entries = self.entries;
        let window = if all { None } else { Some(self.window(hash)) };
        window.into_iter().flatten().chain(all.then(|| entries.iter()).into_iter().flatten())
    }

    /// What entry `e` holds, if it is a hold on `key` (read seqlock-style),
    /// and whether it is a ticket outside its ID's window.
    fn matching(e: &[AtomicU64; ENTRY_WORDS], key: &[u64; 3]) -> Option<(u64, Hold, bool)> {
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
        let hold = if kind == KIND_REF { Hold::Ref { slot } } else { Hold::Ticket { giver: slot, nonce: a } };
        Some((a, hold, k2s & OUTSIDE != 0))
    }

    /// Adds a hold of `slot` on `key` (`ticket`: a ticket's value, else a
    /// reference). A reference goes in the ID's window; a ticket there, or
    /// if that is full, in the first empty entry from its own home on (see
    /// the module docs). False if there is no room.
    pub(crate) fn add(&self, hash: u64, key: &[u64; 3], slot: u32, ticket: Option<u64>) -> bool {
        let a = match ticket {
            Some(t) => {
                debug_assert!(is_ticket(t));
                t
            }
            None => ref_of(slot),
        };
        self.in_use.fetch_add(1, Ordering::SeqCst);
        if self.claim_and_write(self.window(hash), key, slot, a, false) {
            return true;
        }
        if let Some(t) = ticket {
            self.outside.fetch_add(1, Ordering::SeqCst);
            if self.claim_and_write(self.from(ticket_home(hash, t)), key, slot, a, true) {
                return true;
            }
            Self::lower(self.outside);
        }
        self.count_down();
        false
    }

    /// Claims an empty entry among `entries` and writes the hold `a` of
    /// `slot` on `key` in it; false if none is empty.
    fn claim_and_write<'e>(
        &self,
        entries: impl Iterator<Item = &'e [AtomicU64; ENTRY_WORDS]>,
        key: &[u64; 3],
        slot: u32,
        a: u64,
        outside: bool,
    ) -> bool {
        let (claim, flag) = if outside { (claimed(slot) | CLAIM_OUTSIDE, OUTSIDE) } else { (claimed(slot), 0) };
        for e in entries {
            if e[0].load(Ordering::Relaxed) != 0
                || e[0].compare_exchange(0, claim, Ordering::SeqCst, Ordering::Relaxed).is_err()
            {
                continue;
            }
            e[1].store(key[0], Ordering::SeqCst);
            e[2].store(key[1], Ordering::SeqCst);
            e[3].store(key[2] & 0xffff_ffff | (slot as u64 & 0xffff) << 32 | flag, Ordering::SeqCst);
            e[0].store(a, Ordering::SeqCst);
            return true;
        }
        false
    }

    /// Whether any entry holds `key` (SeqCst reads: a retirer's or freer's
    /// half of the handshake with whoever adds one).
    pub(crate) fn any(&self, hash: u64, key: &[u64; 3]) -> bool {
        self.maybe_in_use() && self.places(hash).any(|e| Self::matching(e, key).is_some())
    }

    /// Removes `slot`'s reference entry on `key`; false if it has none.
    pub(crate) fn remove_ref(&self, hash: u64, key: &[u64; 3], slot: u32) -> bool {
        for e in self.window(hash) {
            if let Some((a, Hold::Ref { slot: s }, _)) = Self::matching(e, key) {
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
        // In the ID's window, else (if any ticket is outside) in its own.
        let take = |e: &[AtomicU64; ENTRY_WORDS]| match Self::matching(e, key) {
            Some((a, Hold::Ticket { .. }, outside)) if a == nonce => {
                e[0].compare_exchange(nonce, 0, Ordering::SeqCst, Ordering::Relaxed).is_ok().then_some(outside)
            }
            _ => None,
        };
        let taken = self
            .window(hash)
            .find_map(take)
            .or_else(|| self.maybe_outside().then(|| self.from(ticket_home(hash, nonce)).find_map(take)).flatten());
        match taken {
            Some(outside) => {
                self.count_down_entry(outside);
                true
            }
            None => false,
        }
    }

    /// Empties every entry of dead slot `slot` (the caller holds its
    /// liveness lock), calling `dropped(key)` for each hold it had, after
    /// the entry is empty.
    pub(crate) fn clear_slot(&self, slot: u32, mut dropped: impl FnMut(&[u64; 3])) {
        for e in self.entries {
            let a = e[0].load(Ordering::SeqCst);
            let kind = a >> KIND_SHIFT;
            if a == claimed(slot) || a == claimed(slot) | CLAIM_OUTSIDE {
                if e[0].compare_exchange(a, 0, Ordering::SeqCst, Ordering::Relaxed).is_ok() {
                    self.count_down_entry(a & CLAIM_OUTSIDE != 0);
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
                self.count_down_entry(key[2] & OUTSIDE != 0);
                dropped(&[key[0], key[1], key[2] & 0xffff_ffff]);
            }
        }
    }

    /// Tickets given by `slot` and not taken yet, in the whole table (none
    /// to count while no entry is in use). Each entry is read
    /// seqlock-style, as `matching` does.
    pub(crate) fn tickets_of(&self, slot: u32) -> u64 {
        if !self.maybe_in_use() {
            return 0;
        }
        let mut n = 0;
        for e in self.entries {
            let a = e[0].load(Ordering::SeqCst);
            if a >> KIND_SHIFT != KIND_TICKET {
                continue;
            }
            let k2s = e[3].load(Ordering::SeqCst);
            if (k2s >> 32) as u32 & 0xffff == slot && e[0].load(Ordering::SeqCst) == a {
                n += 1;
            }
        }
        n
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
        self.places(hash).filter_map(|e| Self::matching(e, key).map(|(_, h, _)| h)).collect()
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
        assert!(h.add(78, &other, 70, None), "a reference is not a ticket");
        assert_eq!((h.tickets_of(5), h.tickets_of(6), h.tickets_of(70)), (1, 0, 0));
        assert!(h.remove_ref(78, &other, 70));
        assert!(h.any(77, &k) && !h.any(77, &other));
        assert_eq!(h.holders(77, &k), vec![Hold::Ticket { giver: 5, nonce: t }]);
        assert!(!h.take_ticket(77, &other, t), "a ticket for another ID");
        assert!(!h.take_ticket(77, &k, t ^ 1), "a wrong ticket");
        assert!(!h.take_ticket(77, &k, ref_of(5)), "a reference entry is not a ticket");
        assert!(h.take_ticket(77, &k, t));
        assert!(!h.take_ticket(77, &k, t), "taken twice");
        assert_eq!(h.tickets_of(5), 0);
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
    fn tickets_past_a_full_window_go_outside_and_references_are_refused() {
        let w = table(WINDOW * 4);
        let h = Holds::new(&w);
        let (k, other) = ([1, 1, 1], [2, 2, 2]);
        let mut given = vec![];
        for i in 0..WINDOW as u64 {
            given.push(ticket_from(mix(i)));
            assert!(h.add(0, &k, 1, Some(given[i as usize])));
        }
        assert!(!h.maybe_outside());
        assert!(!h.add(0, &k, 2, None), "a reference stays in its window");
        // A ticket of another ID whose window is this one goes outside too.
        let theirs = ticket_from(mix(999));
        assert!(h.add(0, &other, 2, Some(theirs)));
        assert!(h.maybe_outside());
        assert_eq!(h.holders(0, &other), vec![Hold::Ticket { giver: 2, nonce: theirs }]);
        // More tickets of k than a window: outside, until the table is full.
        let mut outside = 0;
        for i in 1000.. {
            let t = ticket_from(mix(i));
            if !h.add(0, &k, 1, Some(t)) {
                break;
            }
            given.push(t);
            outside += 1;
        }
        assert!(outside > WINDOW, "only {outside} tickets outside a window of {WINDOW} in a table of {}", WINDOW * 4);
        assert!(h.maybe_outside());
        assert!(h.any(0, &k));
        assert_eq!(h.holders(0, &k).len(), given.len());
        assert_eq!(h.counts().0 as usize, given.len() + 1);
        // Every ticket is taken once, wherever it is; then nothing is left.
        assert!(!h.take_ticket(0, &other, given[WINDOW + 3]), "a ticket outside, for another ID");
        for &t in given.iter().rev() {
            assert!(h.take_ticket(0, &k, t));
            assert!(!h.take_ticket(0, &k, t), "taken twice");
        }
        assert!(!h.any(0, &k));
        assert!(h.any(0, &other));
        let mut dropped = vec![];
        h.clear_slot(2, |key| dropped.push(*key));
        assert_eq!(dropped, vec![other], "the other ID's ticket, with its giver");
        assert!(!h.any(0, &other));
        assert_eq!((h.in_use.load(Ordering::SeqCst), h.outside.load(Ordering::SeqCst)), (0, 0));
    }

    #[test]
    fn a_dead_givers_tickets_outside_go_at_its_reclaim() {
        let w = table(WINDOW * 4);
        let h = Holds::new(&w);
        let k = [3, 3, 3];
        for i in 0..WINDOW as u64 + 10 {
            assert!(h.add(0, &k, 7, Some(ticket_from(mix(i)))));
        }
        assert_eq!(h.outside.load(Ordering::SeqCst), 10);
        let mut dropped = 0;
        h.clear_slot(7, |key| {
            assert_eq!(key, &k);
            dropped += 1;
        });
        assert_eq!(dropped, WINDOW + 10);
        assert!(!h.any(0, &k) && !h.maybe_in_use() && !h.maybe_outside());
    }

    #[test]
    fn a_claim_of_a_dead_slot_is_cleared_inside_and_outside() {
        let w = table(WINDOW * 4);
        let h = Holds::new(&w);
        // Entries left claimed by a dead writer are freed by its reclaim,
        // with the counts it raised.
        h.in_use.fetch_add(2, Ordering::SeqCst);
        h.outside.fetch_add(1, Ordering::SeqCst);
        h.entries[3 * WINDOW][0].store(claimed(9), Ordering::SeqCst);
        h.entries[3 * WINDOW + 1][0].store(claimed(9) | CLAIM_OUTSIDE, Ordering::SeqCst);
        h.entries[3 * WINDOW + 2][0].store(claimed(8), Ordering::SeqCst);
        h.clear_slot(9, |_| panic!("a claim holds nothing"));
        assert_eq!(h.entries[3 * WINDOW][0].load(Ordering::SeqCst), 0);
        assert_eq!(h.entries[3 * WINDOW + 1][0].load(Ordering::SeqCst), 0);
        assert_eq!(h.entries[3 * WINDOW + 2][0].load(Ordering::SeqCst), claimed(8), "another slot's");
        assert_eq!((h.in_use.load(Ordering::SeqCst), h.outside.load(Ordering::SeqCst)), (0, 0));
    }

    fn mix(i: u64) -> u64 {
        crate::id::mix64(i + 1)
    }
}

/// loom model of an entry's seqlock-style read.
#[cfg(all(test, loom))]
mod models {
    use loom::sync::Arc;
    use loom::thread;

    use super::*;
    use crate::shared::sync::check_model;

    /// A slot drops its reference on one ID and adds one on another, into
    /// the same entry, while another process asks whether a third ID made
    /// of the first word of one and the others of the other is held: never
    /// (fails with the reference's first word the same for both).
    #[test]
    fn models_an_entry_emptied_and_filled_again_is_not_read_as_a_mix() {
        check_model(3, || {
            let (old, new, mix) = ([1, 2, 3], [4, 5, 6], [1, 5, 6]);
            // One hash for all three: the same window, the same first entry.
            let hash = 0;
            let words: Arc<Vec<AtomicU64>> = Arc::new((0..words_for_entries(4)).map(|_| AtomicU64::new(0)).collect());
            assert!(Holds::new(&words).add(hash, &old, 70, None));
            let slot = {
                let words = words.clone();
                thread::spawn(move || {
                    let h = Holds::new(&words);
                    assert!(h.remove_ref(hash, &old, 70));
                    assert!(h.add(hash, &new, 70, None));
                })
            };
            // Both steps in threads of their own: loom then tries the
            // reader's loads on either side of each of the slot's steps.
            let reader = {
                let words = words.clone();
                thread::spawn(move || assert!(!Holds::new(&words).any(hash, &mix), "a mix of two IDs read as held"))
            };
            slot.join().unwrap();
            reader.join().unwrap();
            let h = Holds::new(&words);
            assert!(h.any(hash, &new) && !h.any(hash, &old));
        });
    }
}

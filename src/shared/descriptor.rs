//! Object descriptors: one cache line per object slot, the authority on
//! what an object is and where it lives.
//!
//! Word 0 is the state word: `[flags:3 | generation:40 | owner slot:16 |
//! state:5]`. Every step of an object's life is a compare-and-swap on it, so that at
//! any instant the word says who (which process slot) is in the middle of
//! which step, and a survivor can finish or undo the step of a dead process.
//! The generation grows each time the slot is claimed, so a stale reader
//! (one that looked the object up before it was freed and reused) notices.
//!
//! ```text
//! FREE -> RESERVED(o) -> INSERTING(o) -> CREATED(o) -> SEALED -> DELETED -> FREEING(o) -> FREE
//!                             |               |          |  \________________/^
//!                             v               v          |                    |
//!                        COLLIDED(o)     FREEING(o)      +-> SPILLING(o) -> SPILLED
//!                                                              (cancel: back to SEALED)
//! a restore builds a copy in a fresh descriptor:
//! FREE -> RESERVED(o) -> SHADOW(o) -> SEALED      (the SPILLED original is then freed)
//! ```
//!
//! The flags (`REFCOUNTED`, `EVICTABLE`) are chosen by the putter while it
//! holds the descriptor RESERVED and kept by every later step of that life
//! (`StateWord::to` keeps them); a restored copy takes its original's. They
//! sit in the state word so that a release, which loads the state word
//! anyway, learns whether the object frees itself without another load.
//!
//! The other words are written only by the slot's owner while it is
//! RESERVED (ID, sizes) or while it owns a step (location), and are read
//! seqlock-style: state, fields, fence, state again. A FREE descriptor's
//! location is None, or the slab block of its last life that it keeps for
//! its next one (`object::lifecycle`, "Kept blocks"), with that life's
//! sizes still beside it.

use super::sync::{fence, AtomicU64, Ordering};

/// What a descriptor holds: the low 5 bits of its state word. Decoding is
/// total (a damaged word reads as `Invalid`), so every `match` on a state
/// names every state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub(crate) enum State {
    Free = 0,
    /// Claimed by a putter; the ID is not yet published.
    Reserved = 1,
    /// ID published, index entry being placed and checked for duplicates.
    Inserting = 2,
    /// Lost a duplicate-ID race; its owner will undo it.
    Collided = 3,
    /// In the index, not sealed: invisible to get.
    Created = 4,
    /// Sealed and visible.
    Sealed = 5,
    /// Deleted while pinned: invisible, ID reserved, freed at the last release.
    Deleted = 6,
    /// Being removed from the index and freed by its owner.
    Freeing = 7,
    /// Its bytes are being written to a spill file by its owner.
    Spilling = 8,
    /// On disk only; its memory is free.
    Spilled = 9,
    /// A copy restored from a spill file, not yet (or just) installed in
    /// place of the SPILLED original it names in its AUX word.
    Shadow = 10,
    /// A value no writer produces: a damaged descriptor.
    Invalid = 31,
}

/// Every state by its 5-bit code (codes no writer produces are Invalid).
const STATES: [State; 32] = {
    let mut t = [State::Invalid; 32];
    let all = [
        State::Free,
        State::Reserved,
        State::Inserting,
        State::Collided,
        State::Created,
        State::Sealed,
        State::Deleted,
        State::Freeing,
        State::Spilling,
        State::Spilled,
        State::Shadow,
    ];
    let mut i = 0;
    while i < all.len() {
        t[all[i] as usize] = all[i];
        i += 1;
    }
    t
};

/// A state predicate precomputed as a mask (calls through function pointers
/// are not allowed in const evaluation).
#[derive(Clone, Copy)]
enum Predicate {
    HoldsId,
    Readable,
    HasOwner,
}

/// The states for which `which` holds, as a bit mask by code.
const fn mask_of(which: Predicate) -> u32 {
    let mut m = 0u32;
    let mut i = 0;
    while i < 32 {
        let s = STATES[i];
        let holds = match which {
            Predicate::HoldsId => s.holds_id_by_name(),
            Predicate::Readable => s.is_readable_by_name(),
            Predicate::HasOwner => s.has_owner_by_name(),
        };
        if holds {
            m |= 1 << i;
        }
        i += 1;
    }
    m
}

const HOLDS_ID: u32 = mask_of(Predicate::HoldsId);
const READABLE: u32 = mask_of(Predicate::Readable);
const HAS_OWNER: u32 = mask_of(Predicate::HasOwner);

impl State {
    #[inline]
    fn decode(bits: u64) -> State {
        STATES[(bits & 31) as usize]
    }

    /// States in which the ID names a live object (reserved against reuse).
    #[inline]
    pub(crate) fn holds_id(self) -> bool {
        HOLDS_ID >> (self as u32) & 1 != 0
    }

    /// States in which a get may see the object (possibly after a restore).
    #[inline]
    pub(crate) fn is_readable(self) -> bool {
        READABLE >> (self as u32) & 1 != 0
    }

    /// States whose step belongs to the owner slot.
    #[inline]
    pub(crate) fn has_owner(self) -> bool {
        HAS_OWNER >> (self as u32) & 1 != 0
    }

    // The definitions, state by state (every state named: a new state does
    // not compile until it is placed). The predicates above are these,
    // turned into bit masks at compile time.

    const fn holds_id_by_name(self) -> bool {
        match self {
            State::Created | State::Sealed | State::Deleted | State::Spilling | State::Spilled | State::Shadow => true,
            State::Free | State::Reserved | State::Inserting | State::Collided | State::Freeing | State::Invalid => {
                false
            }
        }
    }

    const fn is_readable_by_name(self) -> bool {
        match self {
            State::Sealed | State::Spilling | State::Spilled | State::Shadow => true,
            State::Free
            | State::Reserved
            | State::Inserting
            | State::Collided
            | State::Created
            | State::Deleted
            | State::Freeing
            | State::Invalid => false,
        }
    }

    const fn has_owner_by_name(self) -> bool {
        match self {
            State::Reserved
            | State::Inserting
            | State::Collided
            | State::Created
            | State::Freeing
            | State::Spilling
            | State::Shadow => true,
            State::Free | State::Sealed | State::Deleted | State::Spilled | State::Invalid => false,
        }
    }
}

/// 64-bit words per descriptor (one cache line).
pub(crate) const DESC_WORDS: usize = 8;

/// Words of the descriptor table for `objects` object slots.
pub(crate) fn table_words(objects: u64) -> usize {
    objects as usize * DESC_WORDS
}

/// Words of the free-descriptor hint bitmap (one bit per descriptor).
pub(crate) fn free_hint_words(objects: u64) -> usize {
    objects.div_ceil(64) as usize
}

/// Slot number meaning "no owner".
pub(crate) const NO_OWNER: u32 = 0xffff;

const STATE_BITS: u32 = 5;
const OWNER_BITS: u32 = 16;
const GEN_SHIFT: u32 = STATE_BITS + OWNER_BITS;
const FLAG_BITS: u32 = 3;
const GEN_MASK: u64 = (1 << (64 - GEN_SHIFT - FLAG_BITS)) - 1;
const FLAG_SHIFT: u32 = 64 - FLAG_BITS;

/// Flags of an object's life, kept in the top bits of its state word (see
/// the module docs). The values are those of the API (`OS_OBJECT_*`).
pub(crate) mod flags {
    /// Freed when no process holds a reference or a pin (see `refs`).
    pub(crate) const REFCOUNTED: u32 = 1;
    /// May be deleted, least recently used first, when memory runs short.
    pub(crate) const EVICTABLE: u32 = 2;
    /// Every flag a put may ask for.
    pub(crate) const ALL: u32 = REFCOUNTED | EVICTABLE;
}

/// Sets the CLOCK reference bit of the descriptor `line` (see
/// `Descriptors::mark_referenced`), writing only if it is clear.
#[inline]
pub(crate) fn mark_line_referenced(line: &[AtomicU64; DESC_WORDS]) {
    let a = &line[w::AUX];
    if a.load(Ordering::Relaxed) & aux::REFERENCED == 0 {
        a.fetch_or(aux::REFERENCED, Ordering::Relaxed);
    }
}

/// A state word: `[flags:3 | generation:40 | owner slot:16 | state:5]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StateWord(pub u64);

impl StateWord {
    /// A state word without flags.
    pub(crate) fn new(state: State, owner: u32, gen: u64) -> StateWord {
        StateWord((gen & GEN_MASK) << GEN_SHIFT | (owner as u64 & 0xffff) << STATE_BITS | state as u64)
    }
    /// The same word with `flags` (see `flags`) set.
    #[inline]
    pub(crate) fn with_flags(self, flags: u32) -> StateWord {
        StateWord(self.0 | ((flags & flags::ALL) as u64) << FLAG_SHIFT)
    }
    /// The life's flags (see `flags`).
    #[inline]
    pub(crate) fn flags(self) -> u32 {
        (self.0 >> FLAG_SHIFT) as u32
    }
    /// Whether the object frees itself when its last reference goes.
    #[inline]
    pub(crate) fn is_refcounted(self) -> bool {
        self.0 & (flags::REFCOUNTED as u64) << FLAG_SHIFT != 0
    }
    /// Whether the state is `s` (without decoding it).
    #[inline]
    pub(crate) fn is(self, s: State) -> bool {
        self.0 & ((1 << STATE_BITS) - 1) == s as u64
    }
    #[inline]
    pub(crate) fn state(self) -> State {
        State::decode(self.0 & ((1 << STATE_BITS) - 1))
    }
    #[inline]
    pub(crate) fn owner(self) -> u32 {
        ((self.0 >> STATE_BITS) & 0xffff) as u32
    }
    #[inline]
    pub(crate) fn gen(self) -> u64 {
        (self.0 >> GEN_SHIFT) & GEN_MASK
    }
    /// Whether both words are of one life (generation; the flags are the
    /// life's too), whatever the state and owner.
    #[inline]
    pub(crate) fn same_life(self, other: StateWord) -> bool {
        (self.0 ^ other.0) >> GEN_SHIFT == 0
    }
    /// The generation bits a `Location::Successor` or `OnDisk` keeps.
    #[inline]
    pub(crate) fn short_gen(self) -> u32 {
        self.gen() as u32 & SUCCESSOR_GEN_MASK
    }
    /// The same life (generation and flags) in another state with another
    /// owner.
    #[inline]
    pub(crate) fn to(self, state: State, owner: u32) -> StateWord {
        StateWord::new(state, owner, self.gen()).with_flags(self.flags())
    }
    #[inline]
    pub(crate) fn holds_id(self) -> bool {
        self.state().holds_id()
    }
    #[inline]
    pub(crate) fn is_readable(self) -> bool {
        self.state().is_readable()
    }
    #[inline]
    pub(crate) fn has_owner(self) -> bool {
        self.state().has_owner()
    }
}

/// Word positions inside a descriptor.
pub(crate) mod w {
    pub(crate) const STATE: usize = 0;
    pub(crate) const ID0: usize = 1;
    pub(crate) const ID1: usize = 2;
    /// Low 32 bits: ID bytes 16..20; high 32 bits: metadata length.
    pub(crate) const ID2_META: usize = 3;
    pub(crate) const DATA_LEN: usize = 4;
    /// Where the bytes live (see `Location`).
    pub(crate) const LOC: usize = 5;
    /// Low 32 bits: creation time (Unix seconds); high 32 bits: the tag of
    /// the spill attempt that wrote the spill file, while there is one.
    pub(crate) const INFO: usize = 6;
    /// Flags (low 32 bits, see `aux`); for a SHADOW copy, the high 32 bits
    /// hold the descriptor (+1) of the SPILLED original it restores.
    pub(crate) const AUX: usize = 7;
}

/// Bits of the AUX word (private: `Descriptors` has an accessor for each).
mod aux {
    /// The CLOCK reference bit: set by gets, cleared by the spill hand.
    pub(super) const REFERENCED: u64 = 1;
    /// A spill file of this descriptor's generation may exist: whoever
    /// frees the descriptor removes it.
    pub(super) const SPILL_FILE: u64 = 2;
    /// A process may have named this descriptor as one whose spilled
    /// memory it releases (see `releasers`): its next claimer looks there.
    /// Set for good in the life it was set in; a new life starts without.
    pub(super) const RELEASED: u64 = 4;
    /// The slot (+1) of a spiller that pins the object to read its bytes
    /// (13 bits: slots up to 4096). Set before it pins, cleared after it
    /// unpinned (so that its pin is never seen without it), or by the
    /// reclaim of a dead spiller.
    pub(super) const SPILL_READER_SHIFT: u32 = 8;
    pub(super) const SPILL_READER_MASK: u64 = 0x1fff << SPILL_READER_SHIFT;
    /// Where the predecessor of a SHADOW copy is kept.
    pub(super) const PRED_SHIFT: u32 = 32;
}

/// Where an object's bytes are. For a SPILLED object the word is also the
/// single place where a restore and a delete decide who wins: each tries to
/// move it from `OnDisk` to `Successor` or `Tombstone`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Location {
    None,
    /// (SPILLED only) the bytes are in the spill file only; `gen` is the
    /// descriptor's generation (low 28 bits), so a CAS by a process that
    /// looked at an earlier life of the descriptor fails.
    OnDisk {
        gen: u32,
    },
    /// (SPILLED only) restored into descriptor `d`, generation `gen` (low 28 bits).
    Successor {
        d: u32,
        gen: u32,
    },
    /// (SPILLED only) deleted; the descriptor is being freed.
    Tombstone,
    /// A run of whole pages starting at this page.
    Run {
        page: u64,
    },
    /// A block is being claimed in the slab whose head page is this.
    SlabIntent {
        page: u64,
    },
    /// Block `block` of the slab whose head page is `page`.
    Block {
        page: u64,
        block: u32,
    },
}

impl Location {
    pub(crate) fn encode(self) -> u64 {
        match self {
            Location::None => 0,
            Location::Run { page } => 1 << 60 | (page & ((1 << 36) - 1)) << 24,
            Location::SlabIntent { page } => 2 << 60 | (page & ((1 << 36) - 1)) << 24,
            Location::Block { page, block } => 3 << 60 | (page & ((1 << 36) - 1)) << 24 | (block as u64 & 0xff_ffff),
            Location::Successor { d, gen } => 4 << 60 | ((gen & SUCCESSOR_GEN_MASK) as u64) << 32 | d as u64,
            Location::Tombstone => 5 << 60,
            Location::OnDisk { gen } => 6 << 60 | (gen & SUCCESSOR_GEN_MASK) as u64,
        }
    }

    /// The OnDisk marker for a descriptor whose state word is `s`.
    pub(crate) fn on_disk(s: StateWord) -> Location {
        Location::OnDisk { gen: s.gen() as u32 & SUCCESSOR_GEN_MASK }
    }

    /// Whether the encoded word `v` is a `Block` (as `decode` would say, in
    /// one comparison: every word with that tag decodes to one).
    #[inline]
    pub(crate) fn is_block(v: u64) -> bool {
        v >> 60 == 3
    }

    /// Whether the word locates bytes in the arena.
    pub(crate) fn holds_memory(self) -> bool {
        matches!(self, Location::Run { .. } | Location::Block { .. } | Location::SlabIntent { .. })
    }
    /// Decodes; None for a word no writer produces (a damaged descriptor).
    pub(crate) fn decode(v: u64) -> Option<Location> {
        let page = (v >> 24) & ((1 << 36) - 1);
        let block = (v & 0xff_ffff) as u32;
        match v >> 60 {
            0 if v == 0 => Some(Location::None),
            1 if block == 0 => Some(Location::Run { page }),
            2 if block == 0 => Some(Location::SlabIntent { page }),
            3 => Some(Location::Block { page, block }),
            4 => Some(Location::Successor { d: v as u32, gen: ((v >> 32) & SUCCESSOR_GEN_MASK as u64) as u32 }),
            5 if v == 5 << 60 => Some(Location::Tombstone),
            6 if v >> 28 == 6 << 32 => Some(Location::OnDisk { gen: v as u32 & SUCCESSOR_GEN_MASK }),
            _ => None,
        }
    }
}

/// Bits of a generation kept in a `Successor` location.
pub(crate) const SUCCESSOR_GEN_MASK: u32 = (1 << 28) - 1;

/// A consistent snapshot of a descriptor's fields for one generation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Snapshot {
    pub state: StateWord,
    pub key: [u64; 3],
    pub meta_len: u32,
    pub data_len: u64,
    pub loc: u64,
    pub info: u64,
}

impl Snapshot {
    /// The tag of the spill attempt recorded in the descriptor.
    pub(crate) fn spill_tag(&self) -> u32 {
        (self.info >> 32) as u32
    }
    /// Unix seconds when the object was created.
    pub(crate) fn created_unix(&self) -> u64 {
        self.info & 0xffff_ffff
    }
    /// A SPILLED descriptor whose delete has committed (it is being freed).
    pub(crate) fn deleted_while_spilled(&self) -> bool {
        self.state.state() == State::Spilled && self.loc == Location::Tombstone.encode()
    }
    /// A SPILLED descriptor whose restore or delete has committed: its copy
    /// (or nothing) stands for the object now.
    pub(crate) fn superseded(&self) -> bool {
        self.state.state() == State::Spilled
            && matches!(Location::decode(self.loc), Some(Location::Tombstone) | Some(Location::Successor { .. }))
    }
}

/// The descriptor table.
/// How many times a lookup reads a descriptor again whose state changed
/// while it read it, before passing over it (see `sync::lookup_retries`).
const REREADS: usize = 16;

#[derive(Clone, Copy)]
pub(crate) struct Descriptors<'a> {
    lines: &'a [[AtomicU64; DESC_WORDS]],
}

impl<'a> Descriptors<'a> {
    pub(crate) fn new(words: &'a [AtomicU64]) -> Descriptors<'a> {
        debug_assert_eq!(words.len() % DESC_WORDS, 0);
        Descriptors { lines: words.as_chunks().0 }
    }

    #[inline]
    pub(crate) fn count(&self) -> usize {
        self.lines.len()
    }

    /// Word `which` of descriptor `d` (d must be < count).
    #[inline]
    pub(crate) fn word(&self, d: u32, which: usize) -> &'a AtomicU64 {
        &self.line(d)[which]
    }

    /// The words of descriptor `d` (d must be < count): one bounds check.
    #[inline]
    pub(crate) fn line(&self, d: u32) -> &'a [AtomicU64; DESC_WORDS] {
        &self.lines[d as usize]
    }

    /// The words of descriptor `d`, if `d` < count.
    #[inline(always)]
    pub(crate) fn try_line(&self, d: u32) -> Option<&'a [AtomicU64; DESC_WORDS]> {
        self.lines.get(d as usize)
    }

    #[inline]
    pub(crate) fn state(&self, d: u32) -> &'a AtomicU64 {
        self.word(d, w::STATE)
    }

    #[inline]
    pub(crate) fn load_state(&self, d: u32, order: Ordering) -> StateWord {
        StateWord(self.state(d).load(order))
    }

    /// Moves `d` from `from` to `to` (full words); true if this call did it.
    #[inline]
    pub(crate) fn transition(&self, d: u32, from: StateWord, to: StateWord) -> bool {
        self.state(d).compare_exchange(from.0, to.0, Ordering::SeqCst, Ordering::SeqCst).is_ok()
    }

    /// Writes the ID and sizes of a descriptor this process holds RESERVED.
    pub(crate) fn write_fields(&self, d: u32, key: &[u64; 3], meta_len: u32, data_len: u64, created: u32) {
        // The claim's state word before these fields: a seqlock-style
        // reader that sees one of them then reads the claimed state, not
        // the last life's (its acquire fence pairs with this one; the
        // claim's CAS alone does not order the stores after it).
        fence(Ordering::Release);
        // One bounds check for the line, not one per word.
        let line = self.line(d);
        line[w::ID0].store(key[0], Ordering::Relaxed);
        line[w::ID1].store(key[1], Ordering::Relaxed);
        line[w::ID2_META].store(key[2] & 0xffff_ffff | (meta_len as u64) << 32, Ordering::Relaxed);
        line[w::DATA_LEN].store(data_len, Ordering::Relaxed);
        line[w::INFO].store(created as u64, Ordering::Relaxed);
        // A new life starts with no CLOCK bit, spill file or predecessor,
        // but keeps a spiller's note: a spiller of the last life that was
        // stopped before its pin may pin this one (it finds out after), and
        // its pin must not look like a reader's (see `set_spill_reader`).
        line[w::AUX].fetch_and(aux::SPILL_READER_MASK, Ordering::Relaxed);
    }

    /// Reads every field seqlock-style: the result is consistent with the
    /// returned state word, or None if the descriptor changed meanwhile.
    #[inline]
    pub(crate) fn snapshot(&self, d: u32) -> Option<Snapshot> {
        let line = self.line(d);
        let s1 = line[w::STATE].load(Ordering::Acquire);
        let id2 = line[w::ID2_META].load(Ordering::Relaxed);
        let snap = Snapshot {
            state: StateWord(s1),
            key: [line[w::ID0].load(Ordering::Relaxed), line[w::ID1].load(Ordering::Relaxed), id2 & 0xffff_ffff],
            meta_len: (id2 >> 32) as u32,
            data_len: line[w::DATA_LEN].load(Ordering::Relaxed),
            loc: line[w::LOC].load(Ordering::Relaxed),
            info: line[w::INFO].load(Ordering::Relaxed),
        };
        fence(Ordering::Acquire);
        let s2 = line[w::STATE].load(Ordering::Relaxed);
        (s1 == s2).then_some(snap)
    }

    /// A snapshot of `d` if it holds `key` (read seqlock-style, like
    /// `snapshot`): the key words are compared before the rest is read, so
    /// a lookup that meets another ID reads four words, not eight.
    #[inline]
    pub(crate) fn snapshot_if_key(&self, d: u32, key: &[u64; 3]) -> Option<Snapshot> {
        let line = self.line(d);
        let s1 = line[w::STATE].load(Ordering::Acquire);
        let id0 = line[w::ID0].load(Ordering::Relaxed);
        let id1 = line[w::ID1].load(Ordering::Relaxed);
        let id2 = line[w::ID2_META].load(Ordering::Relaxed);
        if id0 != key[0] || id1 != key[1] || id2 & 0xffff_ffff != key[2] {
            return None;
        }
        let data_len = line[w::DATA_LEN].load(Ordering::Relaxed);
        let loc = line[w::LOC].load(Ordering::Relaxed);
        let info = line[w::INFO].load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        let s2 = line[w::STATE].load(Ordering::Relaxed);
        if s1 != s2 {
            return self.snapshot_if_key_again(d, key);
        }
        Some(Snapshot { state: StateWord(s1), key: *key, meta_len: (id2 >> 32) as u32, data_len, loc, info })
    }

    /// `snapshot_if_key` after the state changed under the read (a spill or
    /// restore stepping on): read again, so that a lookup does not pass
    /// over the object it is looking for. Each retry follows a step someone
    /// took; a descriptor that keeps changing is passed over after a few.
    #[cold]
    #[inline(never)]
    fn snapshot_if_key_again(&self, d: u32, key: &[u64; 3]) -> Option<Snapshot> {
        let line = self.line(d);
        for _ in 0..super::sync::lookup_retries(REREADS) {
            std::hint::spin_loop();
            let s1 = line[w::STATE].load(Ordering::Acquire);
            let id0 = line[w::ID0].load(Ordering::Relaxed);
            let id1 = line[w::ID1].load(Ordering::Relaxed);
            let id2 = line[w::ID2_META].load(Ordering::Relaxed);
            if id0 != key[0] || id1 != key[1] || id2 & 0xffff_ffff != key[2] {
                return None;
            }
            let data_len = line[w::DATA_LEN].load(Ordering::Relaxed);
            let loc = line[w::LOC].load(Ordering::Relaxed);
            let info = line[w::INFO].load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if line[w::STATE].load(Ordering::Relaxed) == s1 {
                let meta_len = (id2 >> 32) as u32;
                return Some(Snapshot { state: StateWord(s1), key: *key, meta_len, data_len, loc, info });
            }
        }
        None
    }

    /// The state word of `d` if it holds `key`, read seqlock-style (the key
    /// is consistent with it), or None.
    #[inline]
    pub(crate) fn state_if_key(&self, d: u32, key: &[u64; 3]) -> Option<StateWord> {
        let line = self.line(d);
        let s1 = line[w::STATE].load(Ordering::Acquire);
        if line[w::ID0].load(Ordering::Relaxed) != key[0]
            || line[w::ID1].load(Ordering::Relaxed) != key[1]
            || line[w::ID2_META].load(Ordering::Relaxed) & 0xffff_ffff != key[2]
        {
            return None;
        }
        fence(Ordering::Acquire);
        if line[w::STATE].load(Ordering::Relaxed) != s1 {
            return self.snapshot_if_key_again(d, key).map(|s| s.state);
        }
        Some(StateWord(s1))
    }

    /// The key of `d` if its state word is still `state` after reading it.
    #[inline]
    pub(crate) fn key_if(&self, d: u32, state: StateWord) -> Option<[u64; 3]> {
        let key = [
            self.word(d, w::ID0).load(Ordering::Relaxed),
            self.word(d, w::ID1).load(Ordering::Relaxed),
            self.word(d, w::ID2_META).load(Ordering::Relaxed) & 0xffff_ffff,
        ];
        fence(Ordering::Acquire);
        (self.state(d).load(Ordering::Relaxed) == state.0).then_some(key)
    }

    // ----- the INFO and AUX words ------------------------------------------------

    /// Sets the CLOCK reference bit of `d` (a get read it), writing only
    /// when it is not set already.
    #[inline]
    pub(crate) fn mark_referenced(&self, d: u32) {
        mark_line_referenced(self.line(d));
    }

    /// Clears the CLOCK reference bit of `d`; whether it was set (the
    /// object was read since the hand last passed).
    pub(crate) fn take_referenced(&self, d: u32) -> bool {
        let a = self.word(d, w::AUX);
        a.load(Ordering::Relaxed) & aux::REFERENCED != 0
            && a.fetch_and(!aux::REFERENCED, Ordering::Relaxed) & aux::REFERENCED != 0
    }

    /// Records spill attempt `tag` in `d` (SPILLING), before the attempt's
    /// file exists, in place of attempt `seen`: from then on whoever frees
    /// or reclaims `d` knows which file to remove. A compare-and-swap, not a
    /// store: false, recording nothing, if the recorded attempt is no longer
    /// `seen` (see `Objects::record_spill_attempt`).
    pub(crate) fn record_spill_attempt(&self, d: u32, seen: u32, tag: u32) -> bool {
        let info = self.word(d, w::INFO);
        let mut v = info.load(Ordering::SeqCst);
        loop {
            if (v >> 32) as u32 != seen {
                return false;
            }
            match info.compare_exchange(v, v & 0xffff_ffff | (tag as u64) << 32, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => break,
                Err(now) => v = now,
            }
        }
        self.word(d, w::AUX).fetch_or(aux::SPILL_FILE, Ordering::SeqCst);
        true
    }

    /// The tag of the spill attempt recorded in `d`.
    pub(crate) fn spill_tag(&self, d: u32) -> u32 {
        (self.word(d, w::INFO).load(Ordering::SeqCst) >> 32) as u32
    }

    /// Notes that spiller `slot` pins `d` to read its bytes (see
    /// `Objects::pinned_by_reader`). False if the field names another
    /// spiller: two can pin one object at once (one whose spill a reader
    /// cancelled before it pinned, and one that began a new spill
    /// meanwhile), and a note that replaced another's would leave that
    /// one's pin looking like a reader's once the other cleared its own.
    /// The field names another only for as long as that one pins (or, dead,
    /// until its reclaim), so a refused spiller gives up this object only.
    pub(crate) fn set_spill_reader(&self, d: u32, slot: u32) -> bool {
        let field = ((slot as u64 + 1) << aux::SPILL_READER_SHIFT) & aux::SPILL_READER_MASK;
        let a = self.word(d, w::AUX);
        let mut v = a.load(Ordering::SeqCst);
        loop {
            let named = v & aux::SPILL_READER_MASK;
            if named != 0 && named != field {
                return false;
            }
            match a.compare_exchange(v, v & !aux::SPILL_READER_MASK | field, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return true,
                Err(now) => v = now,
            }
        }
    }

    /// The spiller that pins `d` to read its bytes, if one says so.
    pub(crate) fn spill_reader(&self, d: u32) -> Option<u32> {
        let v = self.word(d, w::AUX).load(Ordering::SeqCst);
        (((v & aux::SPILL_READER_MASK) >> aux::SPILL_READER_SHIFT) as u32).checked_sub(1)
    }

    /// Clears the spill reader of `d` if it is `slot` (its spiller, done
    /// with the bytes; or the reclaim of a dead spiller).
    pub(crate) fn clear_spill_reader(&self, d: u32, slot: u32) {
        let a = self.word(d, w::AUX);
        let mut v = a.load(Ordering::SeqCst);
        while ((v & aux::SPILL_READER_MASK) >> aux::SPILL_READER_SHIFT) == slot as u64 + 1 {
            match a.compare_exchange(v, v & !aux::SPILL_READER_MASK, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return,
                Err(now) => v = now,
            }
        }
    }

    /// Notes that a process is about to name `d` as one whose spilled
    /// memory it releases (see `releasers`), before it names it.
    pub(crate) fn mark_released(&self, d: u32) {
        self.word(d, w::AUX).fetch_or(aux::RELEASED, Ordering::SeqCst);
    }

    /// Whether a process may have named `d` in `releasers` (read by its
    /// claimer, after the claim).
    #[inline]
    pub(crate) fn may_be_released(&self, d: u32) -> bool {
        self.word(d, w::AUX).load(Ordering::SeqCst) & aux::RELEASED != 0
    }

    /// Whether a spill file of `d`'s generation may exist.
    pub(crate) fn has_spill_file(&self, d: u32) -> bool {
        self.word(d, w::AUX).load(Ordering::Acquire) & aux::SPILL_FILE != 0
    }

    /// Notes that `d`'s spill file is gone.
    pub(crate) fn forget_spill_file(&self, d: u32) {
        self.word(d, w::AUX).fetch_and(!aux::SPILL_FILE, Ordering::Release);
    }

    /// Marks the copy `t` (RESERVED by the caller) as the restore of the
    /// SPILLED original `d`. The copy starts referenced: the CLOCK gives an
    /// object just read back a second chance before spilling it.
    pub(crate) fn set_restore_of(&self, t: u32, d: u32) {
        // After `write_fields`, which cleared the rest but a spiller's note.
        self.word(t, w::AUX).fetch_or(((d as u64) + 1) << aux::PRED_SHIFT | aux::REFERENCED, Ordering::Relaxed);
    }

    /// The original the SHADOW copy `t` restores, as its AUX word says.
    pub(crate) fn restore_of(&self, t: u32) -> Option<u32> {
        ((self.word(t, w::AUX).load(Ordering::Acquire) >> aux::PRED_SHIFT) as u32).checked_sub(1)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn state_word_fields() {
        let s = StateWord::new(State::Created, 77, 123_456_789);
        assert_eq!(s.state(), State::Created);
        assert_eq!(s.owner(), 77);
        assert_eq!(s.gen(), 123_456_789);
        let t = s.to(State::Sealed, NO_OWNER);
        assert_eq!((t.state(), t.owner(), t.gen()), (State::Sealed, NO_OWNER, 123_456_789));
        assert_eq!(StateWord(t.0 | 0x1f).state(), State::Invalid);
        // Flags ride along every step of the life, and leave the fields alone.
        let f = s.with_flags(flags::REFCOUNTED | flags::EVICTABLE);
        assert_eq!((f.state(), f.owner(), f.gen()), (State::Created, 77, 123_456_789));
        assert!(f.is_refcounted() && !s.is_refcounted());
        let g = f.to(State::Sealed, NO_OWNER);
        assert_eq!(g.flags(), flags::REFCOUNTED | flags::EVICTABLE);
        assert!(g.is(State::Sealed) && g.gen() == 123_456_789);
        let max = StateWord::new(State::Free, 0, u64::MAX).with_flags(flags::ALL);
        assert_eq!((max.gen(), max.flags()), (GEN_MASK, flags::ALL));
    }

    #[test]
    fn location_round_trip() {
        for loc in [
            Location::None,
            Location::Run { page: 0 },
            Location::Run { page: (1 << 36) - 1 },
            Location::SlabIntent { page: 5 },
            Location::Block { page: 9, block: 1023 },
            Location::Block { page: 0, block: 0 },
            Location::Successor { d: u32::MAX - 1, gen: SUCCESSOR_GEN_MASK },
            Location::Successor { d: 3, gen: 0 },
            Location::Tombstone,
            Location::OnDisk { gen: 0 },
            Location::OnDisk { gen: SUCCESSOR_GEN_MASK },
        ] {
            assert_eq!(Location::decode(loc.encode()), Some(loc));
        }
        assert_eq!(Location::decode(15 << 60), None);
        assert_eq!(Location::decode(1 << 60 | 5), None);
    }

    #[test]
    fn snapshot_sees_fields() {
        let words: Vec<AtomicU64> = (0..16).map(|_| AtomicU64::new(0)).collect();
        let d = Descriptors::new(&words);
        d.write_fields(1, &[1, 2, 3], 9, 100, 5);
        d.state(1).store(StateWord::new(State::Sealed, NO_OWNER, 4).0, Ordering::Release);
        let s = d.snapshot(1).unwrap();
        assert_eq!(s.key, [1, 2, 3]);
        assert_eq!((s.meta_len, s.data_len, s.info), (9, 100, 5));
        assert_eq!(d.count(), 2);
    }
}

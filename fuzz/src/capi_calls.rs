//! Fuzz target 3: the input is a program of C API calls (`objstore::capi`)
//! with arbitrary arguments, run against a model of the store.
//!
//! Arguments respect the C contract (a pointer is valid or NULL, a buffer
//! is as long as its length says; a closed handle is passed as NULL, never
//! dangling) and timeouts are 0. Checked after every call:
//! - the status is one that the header documents for that function (a few
//!   undocumented ones are allowed where noted, see `UNDOCUMENTED`), never
//!   OS_PANIC, and `os_last_error()` says something after a failure;
//! - where the model knows the answer, the exact status: a get of a sealed
//!   object succeeds with exactly the bytes and metadata put, a get of an
//!   unsealed, deleted or unknown one gives NOT_FOUND, a release without a
//!   pin INVALID_ARGUMENT, a delete of an unsealed object NOT_SEALED...;
//! - outputs written on success make sense: fresh IDs are new, pointers are
//!   64-byte aligned, stats, listings and pin holders agree with the model,
//!   process entries of a smaller or larger struct_size are filled to that
//!   size and no further, the audit finds nothing, an `_e` twin's error
//!   object holds the status and os_last_error's message;
//! - every buffer still pinned keeps its bytes.
//!
//! Program: byte 0 and 1 choose the store (capacity, max_objects, spill
//! directory); then one call per opcode byte, operands following.

use std::collections::HashMap;
use std::ffi::{c_char, CStr, CString};
use std::ptr::{null, null_mut};

use objstore::capi::*;

use crate::{pattern, template, unique_path, Input};

type Id = [u8; 20];

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    /// Created by handle `h`, writable at `ptr` until sealed or aborted.
    Created { h: usize, ptr: usize },
    Sealed,
    /// Deleted while pinned: invisible, ID still taken.
    Deleted,
}

#[derive(Clone, Debug)]
struct Obj {
    data: Vec<u8>,
    meta: Vec<u8>,
    state: State,
}

/// A pin a handle holds, with the view its get returned.
#[derive(Clone, Copy, Debug)]
struct Pin {
    id: Id,
    buf: os_buffer,
}

struct Program {
    name: CString,
    capacity: u64,
    max_objects: u64,
    spill: bool,
    handles: [*mut os_store; 2],
    objs: HashMap<Id, Obj>,
    pins: [Vec<Pin>; 2],
    ids: Vec<Id>,
}

/// Statuses the header documents for each function.
fn documented(f: &str) -> &'static [os_status] {
    match f {
        "os_open" => &[
            OS_OK,
            OS_ALREADY_EXISTS,
            OS_NOT_FOUND,
            OS_PERMISSION_DENIED,
            OS_CORRUPT,
            OS_INCOMPATIBLE,
            OS_OUT_OF_MEMORY,
            OS_TOO_MANY_PROCESSES,
            OS_INVALID_ARGUMENT,
            OS_IO_ERROR,
        ],
        "os_close" => &[OS_OK, OS_INVALID_ARGUMENT],
        "os_destroy" => &[OS_OK, OS_NOT_FOUND, OS_PERMISSION_DENIED, OS_INVALID_ARGUMENT, OS_IO_ERROR],
        "os_collect" => &[OS_OK, OS_INVALID_ARGUMENT, OS_IO_ERROR],
        "os_stats" => &[OS_OK, OS_INVALID_ARGUMENT],
        "os_list" => &[OS_OK, OS_INVALID_ARGUMENT],
        "os_put" | "os_put_with_meta" => &[OS_OK, OS_TOO_LARGE, OS_OUT_OF_MEMORY, OS_INVALID_ARGUMENT],
        "os_create" => &[OS_OK, OS_ALREADY_EXISTS, OS_TOO_LARGE, OS_OUT_OF_MEMORY, OS_INVALID_ARGUMENT],
        "os_create_new" => &[OS_OK, OS_TOO_LARGE, OS_OUT_OF_MEMORY, OS_INVALID_ARGUMENT],
        "os_seal" | "os_abort" => &[OS_OK, OS_NOT_FOUND, OS_ALREADY_EXISTS, OS_INVALID_ARGUMENT],
        "os_get" => &[OS_OK, OS_NOT_FOUND, OS_TIMEOUT, OS_CORRUPT, OS_INVALID_ARGUMENT],
        // "OS_OK ... OS_TIMEOUT or OS_NOT_FOUND ... Any other error".
        "os_get_many" => &[OS_OK, OS_NOT_FOUND, OS_TIMEOUT, OS_CORRUPT, OS_INVALID_ARGUMENT],
        "os_release" => &[OS_OK, OS_NOT_FOUND, OS_INVALID_ARGUMENT],
        "os_delete" => &[OS_OK, OS_NOT_FOUND, OS_NOT_SEALED, OS_INVALID_ARGUMENT],
        "os_contains" => &[OS_OK, OS_INVALID_ARGUMENT],
        "os_id_from_hex" => &[OS_OK, OS_INVALID_ARGUMENT],
        "os_processes" | "os_audit" | "os_options_init" => &[OS_OK, OS_INVALID_ARGUMENT],
        "os_pin_holders" => &[OS_OK, OS_NOT_FOUND, OS_INVALID_ARGUMENT],
        "os_check_version" => &[OS_OK, OS_INCOMPATIBLE],
        // An _e twin returns what its plain function does.
        e if e.ends_with("_e") => documented(&e[..e.len() - 2]),
        _ => &[],
    }
}

/// Statuses a function may return that its header comment does not list
/// (reported as documentation gaps, not crashes). With a spill directory,
/// a get of a spilled object needs memory for the copy: OUT_OF_MEMORY when
/// everything is pinned (the README's spilling section says so), and the
/// spill directory's I/O can fail.
fn undocumented(f: &str, spill: bool) -> &'static [os_status] {
    match f {
        "os_get" | "os_get_many" if spill => &[OS_OUT_OF_MEMORY, OS_IO_ERROR],
        "os_put" | "os_put_with_meta" | "os_create" | "os_create_new" if spill => &[OS_IO_ERROR],
        "os_delete" if spill => &[OS_IO_ERROR],
        _ => &[],
    }
}

fn last_error() -> String {
    // SAFETY: os_last_error never returns NULL (checked) and its buffer is
    // NUL-terminated.
    let p = os_last_error();
    assert!(!p.is_null(), "os_last_error returned NULL");
    let s = unsafe { CStr::from_ptr(p) };
    assert!(s.to_bytes().len() < 1024, "os_last_error longer than its buffer");
    s.to_str().expect("os_last_error is UTF-8").to_string()
}

fn status_name(st: os_status) -> String {
    // SAFETY: a static NUL-terminated string.
    unsafe { CStr::from_ptr(os_status_str(st)) }.to_string_lossy().into_owned()
}

/// Checks a status against the documentation (and `want`, if the model
/// knows the answer; `also` lists others the model accepts).
fn check(f: &str, st: os_status, spill: bool, want: Option<os_status>, also: &[os_status]) -> os_status {
    if trace() {
        eprintln!("  {f} -> {st} ({}){}", status_name(st), if st == OS_OK { String::new() } else { format!(": {}", last_error()) });
    }
    assert_ne!(st, OS_PANIC, "{f}: OS_PANIC: {}", last_error());
    assert!(
        documented(f).contains(&st) || undocumented(f, spill).contains(&st),
        "{f} returned {st} ({}), which its documentation does not list: {}",
        status_name(st),
        last_error()
    );
    if st != OS_OK {
        let msg = last_error();
        assert!(!msg.is_empty(), "{f} failed with {st} but os_last_error() is empty");
    }
    if let Some(w) = want {
        assert!(
            st == w || also.contains(&st),
            "{f}: status {st} ({}), the model expects {w} ({}){}: {}",
            status_name(st),
            status_name(w),
            if also.is_empty() { String::new() } else { format!(" or one of {also:?}") },
            if st == OS_OK { String::new() } else { last_error() }
        );
    }
    st
}

/// OBJSTORE_FUZZ_TRACE=1 prints each call and its status (for replaying a
/// reproducer).
fn trace() -> bool {
    static T: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *T.get_or_init(|| std::env::var_os("OBJSTORE_FUZZ_TRACE").is_some())
}

/// A zeroed buffer as long as the largest length a put is given.
fn big_buffer() -> &'static [u8] {
    static B: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    B.get_or_init(|| vec![0x42; (4 << 20) + 1])
}

fn footprint(data_len: usize, meta_len: usize) -> Option<u64> {
    (data_len as u64).checked_next_multiple_of(64)?.checked_add(meta_len as u64)
}

impl Program {
    fn too_large(&self, data_len: usize, meta_len: usize) -> bool {
        footprint(data_len, meta_len).is_none_or(|t| t > self.capacity)
    }

    /// The handle an operand selects: a live one, or NULL (for a closed
    /// slot or when the operand asks for NULL).
    fn handle(&self, b: u8) -> (usize, *mut os_store) {
        let h = (b & 1) as usize;
        if b % 7 == 6 {
            return (h, null_mut());
        }
        (h, self.handles[h])
    }

    /// An ID from the pool, or None for a NULL pointer.
    fn id(&self, b: u8) -> Option<Id> {
        if b == 0xff {
            return None;
        }
        Some(self.ids[b as usize % self.ids.len()])
    }

    fn remember(&mut self, id: Id) {
        if !self.ids.contains(&id) && self.ids.len() < 40 {
            self.ids.push(id);
        }
    }

    fn pinned_anywhere(&self, id: &Id) -> bool {
        self.pins.iter().any(|p| p.iter().any(|x| x.id == *id))
    }

    /// Data bytes for a put or create: a length, then bytes from the input
    /// (a pattern past its end).
    fn length(&self, b: u8) -> usize {
        match b {
            0..=200 => b as usize,
            201..=240 => (b as usize - 200) * 1000,
            241..=248 => (b as usize - 240) * 40_000,
            249 => 65536,
            250 => self.capacity as usize - 64,
            251 => self.capacity as usize,
            252 => self.capacity as usize + 1,
            253 => (4 << 20) + 1,
            254 => usize::MAX,
            _ => 0,
        }
    }

    fn bytes_for(inp: &mut Input, len: usize, seed: u64) -> Vec<u8> {
        let mut v = inp.bytes(len.min(64)).to_vec();
        if v.len() < len {
            v.extend(pattern(seed, len - v.len()));
        }
        v
    }

    /// Every pinned buffer still holds its object's bytes.
    fn check_pins(&self) {
        for pins in &self.pins {
            for p in pins {
                let o = self.objs.get(&p.id).expect("a pinned object is in the model");
                // SAFETY: pinned by this handle, so valid and unchanged.
                let (data, meta) = unsafe {
                    (
                        std::slice::from_raw_parts(p.buf.data, p.buf.data_len),
                        std::slice::from_raw_parts(p.buf.meta, p.buf.meta_len),
                    )
                };
                assert!(data == &o.data[..] && meta == &o.meta[..], "the pinned bytes of {} changed", hex(&p.id));
            }
        }
    }

    /// Checks a buffer a get returned for a sealed object.
    fn check_buffer(&self, id: &Id, b: &os_buffer) {
        let o = &self.objs[id];
        assert!(!b.data.is_null() && !b.meta.is_null(), "get of {} returned NULL views", hex(id));
        assert_eq!(b.data as usize % 64, 0, "data of {} is not 64-byte aligned", hex(id));
        assert_eq!((b.data_len, b.meta_len), (o.data.len(), o.meta.len()), "sizes of {}", hex(id));
        // SAFETY: pinned views of the lengths returned.
        let (data, meta) = unsafe {
            (std::slice::from_raw_parts(b.data, b.data_len), std::slice::from_raw_parts(b.meta, b.meta_len))
        };
        assert!(data == &o.data[..], "get of {} returned other data", hex(id));
        assert!(meta == &o.meta[..], "get of {} returned other metadata", hex(id));
    }

    /// Drops a released pin from the model; frees a deleted object whose
    /// last pin it was.
    fn unpin(&mut self, h: usize, id: &Id) {
        let i = self.pins[h].iter().position(|p| p.id == *id).expect("pin in model");
        self.pins[h].remove(i);
        if self.objs[id].state == State::Deleted && !self.pinned_anywhere(id) {
            self.objs.remove(id);
        }
    }

    /// What closing handle `h` does: its pins go, its unsealed objects are
    /// aborted.
    fn model_close(&mut self, h: usize) {
        for p in std::mem::take(&mut self.pins[h]) {
            if self.objs.get(&p.id).is_some_and(|o| o.state == State::Deleted) && !self.pinned_anywhere(&p.id) {
                self.objs.remove(&p.id);
            }
        }
        self.objs.retain(|_, o| !matches!(o.state, State::Created { h: c, .. } if c == h));
        self.handles[h] = null_mut();
    }

    fn options(&self) -> os_options {
        let mut o = os_options_default();
        o.capacity_bytes = self.capacity;
        o.max_objects = self.max_objects;
        o.max_processes = 4;
        o
    }

    fn spill_dir(&self) -> Option<CString> {
        self.spill.then(|| CString::new(template::spill_dir()).unwrap())
    }

    // ----- the calls --------------------------------------------------------

    unsafe fn op_open(&mut self, inp: &mut Input) {
        let h = (inp.u8() & 1) as usize;
        let variant = inp.u8() % 12;
        if !self.handles[h].is_null() {
            self.close(h);
        }
        let mut opts = self.options();
        let spill_dir = self.spill_dir();
        opts.spill_dir = spill_dir.as_ref().map_or(null(), |d| d.as_ptr());
        let other_dir = CString::new(format!("{}-other", template::spill_dir())).unwrap();
        let missing = CString::new(unique_path("missing").trim_start_matches("/dev/shm/")).unwrap();
        let empty = CString::new("").unwrap();
        let mut name: *const c_char = self.name.as_ptr();
        let mut null_opts = false;
        let mut out: *mut *mut os_store = &mut self.handles[h];
        let want = match variant {
            0 => {
                null_opts = true;
                OS_OK
            }
            1 => {
                opts.flags = OS_OPEN_ATTACH_ONLY;
                OS_OK
            }
            2 => {
                opts.flags = OS_OPEN_CREATE_ONLY;
                OS_ALREADY_EXISTS
            }
            3 => {
                opts.flags = OS_OPEN_CREATE_ONLY | OS_OPEN_ATTACH_ONLY;
                OS_INVALID_ARGUMENT
            }
            4 => {
                // Shorter than the first version of os_options (a size
                // between that and today's is a valid older caller's).
                opts.struct_size = OS_OPTIONS_MIN_SIZE - 8;
                OS_INVALID_ARGUMENT
            }
            5 => {
                // The lowest bit no OS_OPEN_* flag uses, and every one above it.
                opts.flags = 1 << (5 + inp.u8() % 27);
                OS_INVALID_ARGUMENT
            }
            6 => {
                opts.spill_dir = other_dir.as_ptr();
                OS_INVALID_ARGUMENT
            }
            7 => {
                name = null();
                OS_INVALID_ARGUMENT
            }
            8 => {
                name = empty.as_ptr();
                OS_INVALID_ARGUMENT
            }
            9 => {
                out = null_mut();
                OS_INVALID_ARGUMENT
            }
            10 => {
                name = missing.as_ptr();
                opts.flags = OS_OPEN_ATTACH_ONLY;
                OS_NOT_FOUND
            }
            _ => {
                opts.flags = OS_OPEN_PREFAULT;
                OS_OK
            }
        };
        let optp: *const os_options = if null_opts { null() } else { &opts };
        let st = check("os_open", unsafe { os_open(name, optp, out) }, self.spill, Some(want), &[]);
        if st != OS_OK {
            assert!(self.handles[h].is_null(), "os_open wrote its output on failure");
        } else {
            assert!(!self.handles[h].is_null());
        }
    }

    fn close(&mut self, h: usize) {
        let st = unsafe { os_close(self.handles[h]) };
        check("os_close", st, self.spill, Some(OS_OK), &[]);
        self.model_close(h);
    }

    unsafe fn op_close(&mut self, inp: &mut Input) {
        let (h, p) = self.handle(inp.u8());
        if p.is_null() {
            check("os_close", unsafe { os_close(null_mut()) }, self.spill, Some(OS_INVALID_ARGUMENT), &[]);
        } else {
            self.close(h);
        }
    }

    unsafe fn op_put(&mut self, inp: &mut Input) {
        let (_, p) = self.handle(inp.u8());
        let len = self.length(inp.u8());
        let meta_len = self.length(inp.u8() % 250);
        let nulls = inp.u8();
        let seed = inp.u16() as u64;
        // A real buffer for every length but the absurd one.
        let data: Vec<u8> = if len <= 1 << 20 { Self::bytes_for(inp, len, seed) } else { vec![] };
        let meta = Self::bytes_for(inp, meta_len.min(1 << 20), seed + 1);
        let (dp, dlen): (*const u8, usize) = if len <= 1 << 20 {
            (if nulls & 1 != 0 && len == 0 { null() } else { data.as_ptr() }, len)
        } else if len <= big_buffer().len() {
            (big_buffer().as_ptr(), len)
        } else {
            (null(), len)
        };
        let (dp, dlen) = if nulls & 2 != 0 { (null(), dlen) } else { (dp, dlen) };
        let (mp, mlen) = if nulls & 4 != 0 { (null(), meta.len()) } else { (meta.as_ptr(), meta.len()) };
        let mut out = os_object_id { bytes: [0; 20] };
        let outp: *mut os_object_id = if nulls & 8 != 0 { null_mut() } else { &mut out };
        let invalid = p.is_null() || (dp.is_null() && dlen > 0) || (mp.is_null() && mlen > 0) || outp.is_null();
        let (want, also): (os_status, &[os_status]) = if invalid {
            (OS_INVALID_ARGUMENT, &[])
        } else if self.too_large(dlen, mlen) {
            (OS_TOO_LARGE, &[])
        } else if self.objs.is_empty() {
            // An empty store takes any object that is not too large.
            (OS_OK, &[])
        } else {
            (OS_OK, &[OS_OUT_OF_MEMORY])
        };
        let st = if nulls & 16 != 0 && mlen == 0 {
            unsafe { os_put(p, dp.cast(), dlen, outp) }
        } else {
            unsafe { os_put_with_meta(p, dp.cast(), dlen, mp.cast(), mlen, outp) }
        };
        check("os_put_with_meta", st, self.spill, Some(want), also);
        if st == OS_OK {
            assert!(!self.objs.contains_key(&out.bytes), "os_put returned an ID in use: {}", hex(&out.bytes));
            let data = if dlen <= 1 << 20 { data } else { big_buffer()[..dlen].to_vec() };
            self.objs.insert(out.bytes, Obj { data, meta: if mlen == 0 { vec![] } else { meta }, state: State::Sealed });
            self.remember(out.bytes);
        } else {
            assert_eq!(out.bytes, [0; 20], "os_put wrote its output on failure");
        }
    }

    /// os_create (with an ID from the pool) or os_create_new; then the
    /// bytes are written, and sometimes sealed or aborted at once.
    unsafe fn op_create(&mut self, inp: &mut Input, new: bool) {
        let (h, p) = self.handle(inp.u8());
        let idb = inp.u8();
        let len = self.length(inp.u8());
        let meta_len = self.length(inp.u8() % 210);
        let nulls = inp.u8();
        let seed = inp.u16() as u64;
        let meta = Self::bytes_for(inp, meta_len, seed + 7);
        let id = if new { Some([0u8; 20]) } else { self.id(idb) };
        let (mp, mlen) = if nulls & 4 != 0 { (null(), meta.len()) } else { (meta.as_ptr(), meta.len()) };
        let mut out_data: *mut u8 = null_mut();
        let mut out_id = os_object_id { bytes: [0; 20] };
        let odp: *mut *mut u8 = if nulls & 8 != 0 { null_mut() } else { &mut out_data };
        let oip: *mut os_object_id = if nulls & 16 != 0 { null_mut() } else { &mut out_id };
        let idc = id.map(|bytes| os_object_id { bytes });
        let invalid = p.is_null() || id.is_none() || (mp.is_null() && mlen > 0) || odp.is_null() || (new && oip.is_null());
        let (want, also): (os_status, &[os_status]) = if invalid {
            (OS_INVALID_ARGUMENT, &[])
        } else if self.too_large(len, mlen) {
            (OS_TOO_LARGE, &[])
        } else if !new && self.objs.contains_key(&id.unwrap()) {
            (OS_ALREADY_EXISTS, &[])
        } else if self.objs.is_empty() {
            // An empty store takes any object that is not too large.
            (OS_OK, &[])
        } else {
            (OS_OK, &[OS_OUT_OF_MEMORY])
        };
        let f = if new { "os_create_new" } else { "os_create" };
        let st = if new {
            unsafe { os_create_new(p, len, mp.cast(), mlen, oip, odp) }
        } else {
            let ip = idc.as_ref().map_or(null(), |i| i as *const os_object_id);
            unsafe { os_create(p, ip, len, mp.cast(), mlen, odp) }
        };
        check(f, st, self.spill, Some(want), also);
        if st != OS_OK {
            assert!(out_data.is_null() && out_id.bytes == [0; 20], "{f} wrote its outputs on failure");
            return;
        }
        let id = if new { out_id.bytes } else { id.unwrap() };
        if new {
            assert!(!self.objs.contains_key(&id), "os_create_new returned an ID in use: {}", hex(&id));
        }
        assert!(!out_data.is_null() && out_data as usize % 64 == 0, "{f}: bad data pointer {out_data:?}");
        let data = Self::bytes_for(inp, len, seed);
        // SAFETY: `len` writable bytes until seal or abort.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), out_data, len) };
        self.objs.insert(id, Obj { data, meta: if mlen == 0 { vec![] } else { meta }, state: State::Created { h, ptr: out_data as usize } });
        self.remember(id);
    }

    unsafe fn op_seal_abort(&mut self, inp: &mut Input, seal: bool) {
        let (h, p) = self.handle(inp.u8());
        let id = self.id(inp.u8());
        let f = if seal { "os_seal" } else { "os_abort" };
        let want = match (p.is_null(), id.and_then(|i| self.objs.get(&i))) {
            (true, _) => OS_INVALID_ARGUMENT,
            (_, None) if id.is_none() => OS_INVALID_ARGUMENT,
            (_, None) => OS_NOT_FOUND,
            (_, Some(o)) => match o.state {
                State::Created { h: c, .. } if c == h => OS_OK,
                State::Created { .. } => OS_INVALID_ARGUMENT,
                State::Sealed | State::Deleted => OS_ALREADY_EXISTS,
            },
        };
        let idc = id.map(|bytes| os_object_id { bytes });
        let ip = idc.as_ref().map_or(null(), |i| i as *const os_object_id);
        let st = unsafe { if seal { os_seal(p, ip) } else { os_abort(p, ip) } };
        check(f, st, self.spill, Some(want), &[]);
        if st == OS_OK {
            let id = id.unwrap();
            if seal {
                self.objs.get_mut(&id).unwrap().state = State::Sealed;
            } else {
                self.objs.remove(&id);
            }
        }
    }

    unsafe fn op_get(&mut self, inp: &mut Input) {
        let (h, p) = self.handle(inp.u8());
        let id = self.id(inp.u8());
        let null_out = inp.u8() & 1 != 0;
        let mut buf = os_buffer { data: null(), data_len: 0, meta: null(), meta_len: 0 };
        let out: *mut os_buffer = if null_out { null_mut() } else { &mut buf };
        let sealed = id.and_then(|i| self.objs.get(&i)).is_some_and(|o| o.state == State::Sealed);
        let want = if p.is_null() || id.is_none() || null_out {
            OS_INVALID_ARGUMENT
        } else if sealed {
            OS_OK
        } else {
            OS_NOT_FOUND
        };
        let idc = id.map(|bytes| os_object_id { bytes });
        let ip = idc.as_ref().map_or(null(), |i| i as *const os_object_id);
        let st = unsafe { os_get(p, ip, 0, out) };
        let also: &[os_status] = if self.spill && sealed { &[OS_OUT_OF_MEMORY] } else { &[] };
        check("os_get", st, self.spill, Some(want), also);
        if st == OS_OK {
            let id = id.unwrap();
            self.check_buffer(&id, &buf);
            self.pins[h].push(Pin { id, buf });
        } else {
            assert!(buf.data.is_null(), "os_get wrote its output on failure");
        }
    }

    unsafe fn op_get_many(&mut self, inp: &mut Input) {
        let (h, p) = self.handle(inp.u8());
        let n = (inp.u8() % 7) as usize;
        let nulls = inp.u8();
        let ids: Vec<os_object_id> = (0..n).map(|_| os_object_id { bytes: self.ids[inp.u8() as usize % self.ids.len()] }).collect();
        let mut out = vec![os_buffer { data: 1 as *const u8, data_len: 7, meta: null(), meta_len: 0 }; n.max(1)];
        let ip = if nulls & 1 != 0 { null() } else { ids.as_ptr() };
        let op = if nulls & 2 != 0 { null_mut() } else { out.as_mut_ptr() };
        let all = ids.iter().all(|i| self.objs.get(&i.bytes).is_some_and(|o| o.state == State::Sealed));
        let want = if p.is_null() {
            OS_INVALID_ARGUMENT
        } else if n == 0 {
            OS_OK
        } else if ip.is_null() || op.is_null() {
            OS_INVALID_ARGUMENT
        } else if all {
            OS_OK
        } else {
            OS_NOT_FOUND
        };
        let st = unsafe { os_get_many(p, ip, n, 0, op) };
        let also: &[os_status] = if self.spill { &[OS_OUT_OF_MEMORY] } else { &[] };
        check("os_get_many", st, self.spill, Some(want), also);
        if n == 0 || ip.is_null() || op.is_null() || p.is_null() {
            return;
        }
        for (i, b) in out.iter().take(n).enumerate() {
            let id = ids[i].bytes;
            let sealed = self.objs.get(&id).is_some_and(|o| o.state == State::Sealed);
            if st == OS_OK || st == OS_NOT_FOUND {
                assert_eq!(!b.data.is_null(), sealed, "os_get_many entry {i} ({}) status {st}", hex(&id));
            } else {
                assert!(b.data.is_null(), "os_get_many failed with {st} but entry {i} is set");
            }
            if !b.data.is_null() {
                self.check_buffer(&id, b);
                self.pins[h].push(Pin { id, buf: *b });
            }
        }
    }

    unsafe fn op_release(&mut self, inp: &mut Input) {
        let (h, p) = self.handle(inp.u8());
        let id = self.id(inp.u8());
        let want = match id {
            _ if p.is_null() => OS_INVALID_ARGUMENT,
            None => OS_INVALID_ARGUMENT,
            Some(i) if self.pins[h].iter().any(|x| x.id == i) => OS_OK,
            Some(i) => match self.objs.get(&i).map(|o| &o.state) {
                Some(State::Sealed) | Some(State::Deleted) => OS_INVALID_ARGUMENT,
                _ => OS_NOT_FOUND,
            },
        };
        let idc = id.map(|bytes| os_object_id { bytes });
        let ip = idc.as_ref().map_or(null(), |i| i as *const os_object_id);
        let st = check("os_release", unsafe { os_release(p, ip) }, self.spill, Some(want), &[]);
        if st == OS_OK {
            self.unpin(h, &id.unwrap());
        }
    }

    unsafe fn op_delete(&mut self, inp: &mut Input) {
        let (_, p) = self.handle(inp.u8());
        let id = self.id(inp.u8());
        let want = match id {
            _ if p.is_null() => OS_INVALID_ARGUMENT,
            None => OS_INVALID_ARGUMENT,
            Some(i) => match self.objs.get(&i).map(|o| &o.state) {
                Some(State::Sealed) => OS_OK,
                Some(State::Created { .. }) => OS_NOT_SEALED,
                _ => OS_NOT_FOUND,
            },
        };
        let idc = id.map(|bytes| os_object_id { bytes });
        let ip = idc.as_ref().map_or(null(), |i| i as *const os_object_id);
        let st = check("os_delete", unsafe { os_delete(p, ip) }, self.spill, Some(want), &[]);
        if st == OS_OK {
            let id = id.unwrap();
            if self.pinned_anywhere(&id) {
                self.objs.get_mut(&id).unwrap().state = State::Deleted;
            } else {
                self.objs.remove(&id);
            }
        }
    }

    unsafe fn op_contains(&mut self, inp: &mut Input) {
        let (_, p) = self.handle(inp.u8());
        let id = self.id(inp.u8());
        let null_out = inp.u8() & 1 != 0;
        let mut out = false;
        let outp: *mut bool = if null_out { null_mut() } else { &mut out };
        let want = if p.is_null() || id.is_none() || null_out { OS_INVALID_ARGUMENT } else { OS_OK };
        let idc = id.map(|bytes| os_object_id { bytes });
        let ip = idc.as_ref().map_or(null(), |i| i as *const os_object_id);
        let st = check("os_contains", unsafe { os_contains(p, ip, outp) }, self.spill, Some(want), &[]);
        if st == OS_OK {
            let sealed = self.objs.get(&id.unwrap()).is_some_and(|o| o.state == State::Sealed);
            assert_eq!(out, sealed, "os_contains of {}", hex(&id.unwrap()));
        }
    }

    unsafe fn op_stats(&mut self, inp: &mut Input) {
        let (_, p) = self.handle(inp.u8());
        let null_out = inp.u8() & 1 != 0;
        let mut s = os_store_stats { struct_size: std::mem::size_of::<os_store_stats>() as u32, ..Default::default() };
        let outp: *mut os_store_stats = if null_out { null_mut() } else { &mut s };
        let want = if p.is_null() || null_out { OS_INVALID_ARGUMENT } else { OS_OK };
        let st = check("os_stats", unsafe { os_stats(p, outp) }, self.spill, Some(want), &[]);
        if st != OS_OK {
            return;
        }
        let count = |f: &dyn Fn(&State) -> bool| self.objs.values().filter(|o| f(&o.state)).count() as u64;
        let sealed = count(&|s| *s == State::Sealed);
        let created = count(&|s| matches!(s, State::Created { .. }));
        let pinned = self.objs.keys().filter(|id| self.pinned_anywhere(id)).count() as u64;
        assert_eq!(s.capacity_bytes, self.capacity, "{s:?}");
        assert_eq!(s.max_objects, self.max_objects, "{s:?}");
        assert_eq!(s.max_processes, 4, "{s:?}");
        assert_eq!(s.object_count, sealed, "object_count: {s:?}");
        assert_eq!(s.unsealed_count, created, "unsealed_count: {s:?}");
        assert_eq!(s.pinned_count, pinned, "pinned_count: {s:?}");
        assert_eq!(s.attached_processes, 1, "{s:?}");
        assert!(s.used_bytes <= s.capacity_bytes, "{s:?}");
        assert!(s.spilled_count <= s.object_count, "{s:?}");
        if self.objs.is_empty() {
            assert_eq!((s.used_bytes, s.spilled_count, s.spilled_bytes), (0, 0, 0), "an empty store: {s:?}");
        }
        if !self.spill {
            assert_eq!(s.spilled_count, 0, "{s:?}");
        }
    }

    unsafe fn op_list(&mut self, inp: &mut Input) {
        let (_, p) = self.handle(inp.u8());
        let cap = (inp.u8() % 12) as usize;
        let nulls = inp.u8();
        let entry = os_object_info { struct_size: std::mem::size_of::<os_object_info>() as u32, ..Default::default() };
        let mut out = vec![entry; cap.max(1)];
        let mut cursor = 0u64;
        let mut count = usize::MAX;
        let cp: *mut u64 = if nulls & 1 != 0 { null_mut() } else { &mut cursor };
        let op: *mut os_object_info = if nulls & 2 != 0 { null_mut() } else { out.as_mut_ptr() };
        let np: *mut usize = if nulls & 4 != 0 { null_mut() } else { &mut count };
        if p.is_null() || cp.is_null() || op.is_null() || np.is_null() || cap == 0 {
            let st = unsafe { os_list(p, cp, op, cap, np) };
            check("os_list", st, self.spill, Some(OS_INVALID_ARGUMENT), &[]);
            assert_eq!((cursor, count), (0, usize::MAX), "os_list wrote its outputs on failure");
            return;
        }
        let mut seen: HashMap<Id, os_object_info> = HashMap::new();
        let mut calls = 0;
        while cursor != OS_LIST_END {
            // The library leaves its own size in the entries it writes.
            out[0].struct_size = std::mem::size_of::<os_object_info>() as u32;
            let before = cursor;
            let st = unsafe { os_list(p, &mut cursor, out.as_mut_ptr(), cap, &mut count) };
            check("os_list", st, self.spill, Some(OS_OK), &[]);
            assert!(count <= cap, "os_list wrote {count} entries into {cap}");
            assert!(cursor > before, "os_list did not advance its cursor ({before} -> {cursor})");
            for e in &out[..count] {
                assert!(seen.insert(e.id.bytes, *e).is_none(), "os_list gave {} twice", hex(&e.id.bytes));
            }
            calls += 1;
            assert!(calls <= self.max_objects as usize + 2, "os_list never ends");
        }
        assert_eq!(seen.len(), self.objs.len(), "os_list: {} objects, the model has {}", seen.len(), self.objs.len());
        for (id, o) in &self.objs {
            let e = seen.get(id).unwrap_or_else(|| panic!("os_list lacks {}", hex(id)));
            assert_eq!((e.data_len, e.meta_len), (o.data.len() as u64, o.meta.len() as u64), "os_list sizes of {}", hex(id));
            let ok = match o.state {
                State::Created { .. } => e.state == OS_OBJECT_UNSEALED,
                State::Sealed => e.state == OS_OBJECT_SEALED || (self.spill && e.state == OS_OBJECT_SPILLED),
                State::Deleted => e.state == OS_OBJECT_DELETED,
            };
            assert!(ok, "os_list state {} of {} ({:?})", e.state, hex(id), o.state);
            assert_eq!(e.pinning_processes, self.pinned_anywhere(id) as u32, "os_list pins of {}", hex(id));
        }
    }

    unsafe fn op_collect(&mut self, inp: &mut Input) {
        let (_, p) = self.handle(inp.u8());
        let want = if p.is_null() { OS_INVALID_ARGUMENT } else { OS_OK };
        check("os_collect", unsafe { os_collect(p) }, self.spill, Some(want), &[]);
    }

    unsafe fn op_hex(&mut self, inp: &mut Input) {
        let mode = inp.u8();
        let len = (inp.u8() % 48) as usize;
        let raw: Vec<u8> = inp.bytes(len).iter().map(|&b| if b == 0 { b'0' } else { b }).collect();
        // From a pool ID's hex, changed in one place, or from raw bytes.
        let text: Vec<u8> = match mode % 4 {
            0 => raw.clone(),
            1 => {
                let mut h = hex(&self.ids[len % self.ids.len()]).into_bytes();
                if let Some(&b) = raw.first() {
                    let at = b as usize % h.len();
                    h[at] = raw.get(1).copied().unwrap_or(b'g');
                }
                h
            }
            2 => hex(&self.ids[len % self.ids.len()]).to_uppercase().into_bytes(),
            _ => hex(&self.ids[len % self.ids.len()]).into_bytes(),
        };
        let c = CString::new(text.clone()).unwrap();
        let mut out = os_object_id { bytes: [0; 20] };
        let expect = parse_hex(&text);
        let (hp, op): (*const c_char, *mut os_object_id) = match mode >> 6 {
            1 => (null(), &mut out),
            2 => (c.as_ptr(), null_mut()),
            _ => (c.as_ptr(), &mut out),
        };
        let want = if hp.is_null() || op.is_null() || expect.is_none() { OS_INVALID_ARGUMENT } else { OS_OK };
        let st = check("os_id_from_hex", unsafe { os_id_from_hex(hp, op) }, self.spill, Some(want), &[]);
        if st == OS_OK {
            assert_eq!(Some(out.bytes), expect, "os_id_from_hex({:?})", String::from_utf8_lossy(&text));
            let mut buf = [0x55 as c_char; 41];
            unsafe { os_id_to_hex(&out, buf.as_mut_ptr()) };
            let back = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_str().unwrap().to_string();
            assert_eq!(back, String::from_utf8_lossy(&text).to_lowercase(), "os_id_to_hex round trip");
        } else {
            assert_eq!(out.bytes, [0; 20], "os_id_from_hex wrote its output on failure");
        }
        // NULL arguments of os_id_to_hex do nothing.
        let mut buf = [0x55 as c_char; 41];
        unsafe {
            os_id_to_hex(null(), buf.as_mut_ptr());
            os_id_to_hex(&out, null_mut());
        }
        assert!(buf.iter().all(|&b| b == 0x55), "os_id_to_hex wrote with a NULL id");
    }

    /// os_processes, os_pin_holders, os_audit, and an _e twin.
    unsafe fn op_inspect(&mut self, inp: &mut Input) {
        let (_, p) = self.handle(inp.u8());
        let what = inp.u8();
        let cap = (inp.u8() % 4) as usize;
        let nulls = inp.u8();
        // An entry size: this version's, a later (larger) one, or too small.
        let size = match nulls >> 4 & 3 {
            0 | 1 => std::mem::size_of::<os_process_info>(),
            2 => std::mem::size_of::<os_process_info>() + 8,
            _ => OS_PROCESS_INFO_MIN_SIZE as usize - 4,
        };
        let mut raw = vec![0xa5u8; size * cap.max(1) + 16];
        raw[..4].copy_from_slice(&(size as u32).to_ne_bytes());
        let op: *mut os_process_info = if nulls & 1 != 0 { null_mut() } else { raw.as_mut_ptr().cast() };
        let mut count = usize::MAX;
        let np: *mut usize = if nulls & 2 != 0 { null_mut() } else { &mut count };
        let bad_array = cap > 0 && (op.is_null() || size < OS_PROCESS_INFO_MIN_SIZE as usize);
        let bad_outputs = p.is_null() || np.is_null() || bad_array;
        // The entries written, each checked: this process, the size this
        // library knows, zeros after it, nothing past the array.
        let check_entries = |raw: &[u8], n: usize| {
            let known = std::mem::size_of::<os_process_info>();
            for i in 0..n.min(cap) {
                let e = &raw[i * size..(i + 1) * size];
                assert_eq!(u32::from_ne_bytes(e[..4].try_into().unwrap()) as usize, known, "entry {i}'s struct_size");
                assert_eq!(u32::from_ne_bytes(e[8..12].try_into().unwrap()), std::process::id(), "entry {i}'s pid");
                assert!(e[known..].iter().all(|&b| b == 0), "entry {i}: bytes past the library's fields not zeroed");
            }
            assert!(raw[size * cap.max(1)..].iter().all(|&b| b == 0xa5), "wrote past the caller's array");
        };
        match what % 4 {
            0 => {
                let want = if bad_outputs { OS_INVALID_ARGUMENT } else { OS_OK };
                let st = check("os_processes", unsafe { os_processes(p, op, cap, np) }, self.spill, Some(want), &[]);
                if st == OS_OK {
                    // Both handles of this process share one attachment.
                    assert_eq!(count, 1, "os_processes: one process is attached");
                    check_entries(&raw, count);
                } else {
                    assert_eq!(count, usize::MAX, "os_processes wrote its count on failure");
                }
            }
            1 => {
                let id = self.id(inp.u8());
                let want = match id {
                    _ if bad_outputs => OS_INVALID_ARGUMENT,
                    None => OS_INVALID_ARGUMENT,
                    Some(i) if self.objs.contains_key(&i) => OS_OK,
                    Some(_) => OS_NOT_FOUND,
                };
                let idc = id.map(|bytes| os_object_id { bytes });
                let ip = idc.as_ref().map_or(null(), |i| i as *const os_object_id);
                let st = check("os_pin_holders", unsafe { os_pin_holders(p, ip, op, cap, np) }, self.spill, Some(want), &[]);
                if st == OS_OK {
                    let pinned = self.pinned_anywhere(&id.unwrap());
                    assert_eq!(count, pinned as usize, "os_pin_holders of {}", hex(&id.unwrap()));
                    check_entries(&raw, count);
                }
            }
            2 => {
                let len = [0usize, 1, 8, 4096][nulls as usize >> 6];
                let mut report = vec![0x77u8 as c_char; len + 8];
                let rp: *mut c_char = if nulls & 4 != 0 { null_mut() } else { report.as_mut_ptr() };
                let mut problems = usize::MAX;
                let pp: *mut usize = if nulls & 8 != 0 { null_mut() } else { &mut problems };
                let mut needed = 0usize;
                let want = if p.is_null() || pp.is_null() || (len > 0 && rp.is_null()) { OS_INVALID_ARGUMENT } else { OS_OK };
                let st = check("os_audit", unsafe { os_audit(p, rp, len, pp, &mut needed) }, self.spill, Some(want), &[]);
                if st == OS_OK {
                    let text = if len > 0 { unsafe { CStr::from_ptr(rp) }.to_string_lossy().into_owned() } else { String::new() };
                    // One process, between calls: nothing is in progress.
                    assert_eq!(problems, 0, "os_audit found problems in a sound store: {text}");
                    assert_eq!(needed, 1, "os_audit: an empty report needs its terminator only");
                    assert!(report[len.max(1)..].iter().all(|&b| b == 0x77), "os_audit wrote past its buffer");
                }
            }
            _ => {
                // An _e twin: its status is the plain call's, and the error
                // object says the same as os_last_error.
                let mut err: *mut os_error = 1 as *mut os_error;
                let mut s = os_store_stats { struct_size: std::mem::size_of::<os_store_stats>() as u32, ..Default::default() };
                let ep: *mut *mut os_error = if nulls & 4 != 0 { null_mut() } else { &mut err };
                let want = if p.is_null() { OS_INVALID_ARGUMENT } else { OS_OK };
                let st = check("os_stats_e", unsafe { os_stats_e(p, &mut s, ep) }, self.spill, Some(want), &[]);
                if ep.is_null() {
                    return;
                }
                if st == OS_OK {
                    assert!(err.is_null(), "os_stats_e succeeded but gave an error object");
                } else {
                    assert!(!err.is_null(), "os_stats_e failed without an error object");
                    assert_eq!(unsafe { os_error_status(err) }, st, "the error object's status");
                    let msg = unsafe { CStr::from_ptr(os_error_message(err)) }.to_string_lossy().into_owned();
                    assert_eq!(msg, last_error(), "the error object's message is os_last_error's");
                    unsafe { os_error_free(err) };
                }
            }
        }
    }

    unsafe fn op_misc(&mut self, inp: &mut Input) {
        let code = inp.u32();
        let s = status_name(code);
        assert!(!s.is_empty() && s.len() < 100);
        for known in 0..=OS_PANIC {
            assert_ne!(status_name(known), "unknown status", "status {known} has no description");
        }
        assert!(!unsafe { CStr::from_ptr(os_version()) }.to_bytes().is_empty());
        let _ = last_error();
        // os_destroy of bad names and of a store that is not there.
        let missing = CString::new(unique_path("gone").trim_start_matches("/dev/shm/")).unwrap();
        let (name, want) = match inp.u8() % 4 {
            0 => (null(), OS_INVALID_ARGUMENT),
            1 => (c"".as_ptr(), OS_INVALID_ARGUMENT),
            2 => (c"..".as_ptr(), OS_INVALID_ARGUMENT),
            _ => (missing.as_ptr(), OS_NOT_FOUND),
        };
        check("os_destroy", unsafe { os_destroy(name) }, self.spill, Some(want), &[]);
    }
}

pub fn hex(id: &Id) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex(s: &[u8]) -> Option<Id> {
    if s.len() != 40 {
        return None;
    }
    let nib = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut id = [0u8; 20];
    for i in 0..20 {
        id[i] = nib(s[2 * i])? << 4 | nib(s[2 * i + 1])?;
    }
    Some(id)
}

pub fn run(data: &[u8]) {
    let mut inp = Input::new(data);
    let cfg = inp.u8();
    let capacity: u64 = [1 << 20, 2 << 20, 64 << 10, 3 << 20][cfg as usize % 4];
    let max_objects = (inp.u8() % 64) as u64 + 1;
    let spill = cfg & 4 != 0;
    let path = unique_path("capi");
    let name = path.trim_start_matches("/dev/shm/").to_string();
    let mut prog = Program {
        name: CString::new(name).unwrap(),
        capacity,
        max_objects,
        spill,
        handles: [null_mut(); 2],
        objs: HashMap::new(),
        pins: [vec![], vec![]],
        ids: (1..=6u8).map(|i| [i; 20]).collect(),
    };
    if spill {
        template::clear_dir(template::spill_dir());
    }
    // Create the store with handle 0.
    let mut opts = prog.options();
    let dir = prog.spill_dir();
    opts.spill_dir = dir.as_ref().map_or(null(), |d| d.as_ptr());
    opts.flags = OS_OPEN_CREATE_ONLY;
    let st = unsafe { os_open(prog.name.as_ptr(), &opts, &mut prog.handles[0]) };
    check("os_open", st, spill, Some(OS_OK), &[]);
    let mut steps = 0;
    while !inp.is_empty() && steps < 300 {
        let op = inp.u8();
        if trace() {
            eprintln!("step {steps}: op {op:#04x} ({})", ["open", "close", "put", "put", "create", "create_new", "seal", "abort", "get", "get_many", "release", "delete", "contains", "stats", "list", "collect/hex/inspect/misc"][op as usize % 16]);
        }
        unsafe {
            match op % 16 {
                0 => prog.op_open(&mut inp),
                1 => prog.op_close(&mut inp),
                2 | 3 => prog.op_put(&mut inp),
                4 => prog.op_create(&mut inp, false),
                5 => prog.op_create(&mut inp, true),
                6 => prog.op_seal_abort(&mut inp, true),
                7 => prog.op_seal_abort(&mut inp, false),
                8 => prog.op_get(&mut inp),
                9 => prog.op_get_many(&mut inp),
                10 => prog.op_release(&mut inp),
                11 => prog.op_delete(&mut inp),
                12 => prog.op_contains(&mut inp),
                13 => prog.op_stats(&mut inp),
                14 => prog.op_list(&mut inp),
                _ => match op >> 4 {
                    0..=4 => prog.op_collect(&mut inp),
                    5..=8 => prog.op_hex(&mut inp),
                    9..=11 => prog.op_inspect(&mut inp),
                    _ => prog.op_misc(&mut inp),
                },
            }
        }
        prog.check_pins();
        steps += 1;
    }
    // Close everything; what is sealed outlives the handles, the rest goes.
    for h in 0..2 {
        if !prog.handles[h].is_null() {
            prog.close(h);
        }
    }
    assert!(prog.objs.values().all(|o| o.state == State::Sealed), "closing left unsealed or deleted objects in the model");
    let st = unsafe { os_open(prog.name.as_ptr(), null(), &mut prog.handles[0]) };
    check("os_open", st, spill, Some(OS_OK), &[]);
    unsafe {
        let mut input = Input::new(&[0, 5, 0]);
        prog.op_list(&mut input);
        let mut input = Input::new(&[0, 0]);
        prog.op_stats(&mut input);
        for id in prog.objs.keys().copied().collect::<Vec<_>>() {
            let mut b = os_buffer { data: null(), data_len: 0, meta: null(), meta_len: 0 };
            let st = os_get(prog.handles[0], &os_object_id { bytes: id }, 0, &mut b);
            check("os_get", st, spill, Some(OS_OK), if spill { &[OS_OUT_OF_MEMORY] } else { &[] });
            if st == OS_OK {
                prog.check_buffer(&id, &b);
                check("os_release", os_release(prog.handles[0], &os_object_id { bytes: id }), spill, Some(OS_OK), &[]);
            }
        }
    }
    prog.close(0);
    check("os_destroy", unsafe { os_destroy(prog.name.as_ptr()) }, spill, Some(OS_OK), &[]);
    check("os_destroy", unsafe { os_destroy(prog.name.as_ptr()) }, spill, Some(OS_NOT_FOUND), &[]);
    if spill {
        let left: Vec<_> = std::fs::read_dir(template::spill_dir()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert!(left.is_empty(), "os_destroy left spill files: {left:?}");
    }
}

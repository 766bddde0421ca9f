//! Exported functions that look into a store: the processes attached, who
//! pins an object, and the consistency audit.

use std::ffi::c_char;

use super::args::{self, handle, Out};
use super::boundary::boundary;
use super::sized;
use super::status::os_status;
use super::types::*;
use crate::ProcessInfo;

/// A caller's array of `os_process_info` (`capacity` entries whose size is
/// `out[0].struct_size`) and its count, checked before any work is done so
/// that a bad argument is OS_INVALID_ARGUMENT whatever the store holds.
struct ProcessesOut {
    /// The array and its entries' size; None when `capacity` is 0.
    out: Option<(Out<os_process_info>, usize)>,
    capacity: usize,
    out_count: Out<usize>,
}

impl ProcessesOut {
    /// # Safety
    /// The pointer contract of the header's preamble for `out` and
    /// `out_count`.
    unsafe fn new(out: *mut os_process_info, capacity: usize, out_count: *mut usize) -> crate::Result<ProcessesOut> {
        // SAFETY: the pointer contract.
        let out_count = unsafe { Out::new(out_count, "out_count") }?;
        if capacity == 0 {
            return Ok(ProcessesOut { out: None, capacity, out_count });
        }
        // SAFETY: the pointer contract.
        let out = unsafe { Out::new(out, "out") }?;
        // SAFETY: non-null, at least one entry (capacity > 0).
        let stride = unsafe { sized::caller_size(out.ptr(), "out[0]") }?;
        args::check_array_bytes(capacity, stride, "out")?;
        Ok(ProcessesOut { out: Some((out, stride)), capacity, out_count })
    }

    /// Writes the first `capacity` of `found`, and the whole count, so that
    /// a caller can ask again with a larger array.
    fn write(self, found: &[ProcessInfo]) {
        if let Some((out, stride)) = self.out {
            for (i, p) in found.iter().take(self.capacity).enumerate() {
                let c = os_process_info {
                    struct_size: std::mem::size_of::<os_process_info>() as u32,
                    slot: p.slot,
                    pid: p.pid,
                };
                // SAFETY: i < capacity entries of `stride` bytes (checked
                // by `new` under the pointer contract).
                unsafe { sized::write_entry(out.ptr(), stride, i, &c) };
            }
        }
        self.out_count.write(found.len());
    }
}

/// Lists the live processes attached to the store (this one included).
///
/// # Arguments
/// - `out`: an array of `capacity` entries, NULL if `capacity` is 0. The
///   caller sets `out[0].struct_size` to `sizeof(os_process_info)`: it is
///   the size of every entry. Each entry written gets the size the library
///   knows as its `struct_size`, so set `out[0].struct_size` again before
///   each call that reuses the array.
/// - `out_count`: receives the number of processes, which may be more than
///   `capacity` (then only the first `capacity` are written: call again with
///   a larger array). Must not be NULL.
///
/// # Returns
/// OS_OK; OS_INVALID_ARGUMENT (NULL, or `out[0].struct_size` less than
/// OS_PROCESS_INFO_MIN_SIZE).
#[no_mangle]
pub unsafe extern "C" fn os_processes(
    store: *mut os_store,
    out: *mut os_process_info,
    capacity: usize,
    out_count: *mut usize,
) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble.
        let (s, outputs) = unsafe { (handle(store)?, ProcessesOut::new(out, capacity, out_count)?) };
        outputs.write(&s.processes()?);
        Ok(())
    })
}

/// Lists the live processes that pin an object (sealed, or deleted and
/// still pinned), as `os_processes` lists processes. An object nobody pins
/// has none (`*out_count` 0).
///
/// # Returns
/// OS_OK; OS_NOT_FOUND (no such object); OS_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn os_pin_holders(
    store: *mut os_store,
    id: *const os_object_id,
    out: *mut os_process_info,
    capacity: usize,
    out_count: *mut usize,
) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble.
        let (s, id, outputs) = unsafe { (handle(store)?, args::id(id)?, ProcessesOut::new(out, capacity, out_count)?) };
        outputs.write(&s.pin_holders(id)?);
        Ok(())
    })
}

/// Checks the store's consistency: every byte of object memory free or held
/// by exactly one object, every object indexed once, no pin, step or
/// allocation left to a dead process, every spilled object's file present.
/// It reads the tables without stopping anyone, so it is exact on a quiet
/// store; on a busy one it may report a step another process is in the
/// middle of (look again before concluding). Costs a scan of every table.
///
/// # Arguments
/// - `report`: receives the problems found, one a line, NUL-terminated,
///   cut at `report_len - 1` bytes (at a character boundary) if longer; ""
///   when there are none. May be NULL if `report_len` is 0.
/// - `out_problems`: receives the number of problems. Must not be NULL.
/// - `out_report_len`: receives the length the whole report needs,
///   terminator included, to call again with a larger buffer. May be NULL.
///
/// # Returns
/// OS_OK (whatever was found: a problem is not a failure of the call);
/// OS_INVALID_ARGUMENT.
#[no_mangle]
pub unsafe extern "C" fn os_audit(
    store: *mut os_store,
    report: *mut c_char,
    report_len: usize,
    out_problems: *mut usize,
    out_report_len: *mut usize,
) -> os_status {
    boundary(|| {
        // SAFETY: the pointer contract of the header's preamble.
        let (s, out_problems) = unsafe { (handle(store)?, Out::new(out_problems, "out_problems")?) };
        let report = if report_len == 0 {
            None
        } else {
            // SAFETY: as above.
            Some(unsafe { Out::new(report, "report") }?)
        };
        let problems = s.audit()?;
        let text: String = problems.iter().map(|p| format!("{p}\n")).collect();
        if let Some(report) = report {
            let mut n = text.len().min(report_len - 1);
            while !text.is_char_boundary(n) {
                n -= 1;
            }
            for (i, &b) in text.as_bytes()[..n].iter().enumerate() {
                report.write_at(i, report_len, b as c_char);
            }
            report.write_at(n, report_len, 0);
        }
        out_problems.write(problems.len());
        if !out_report_len.is_null() {
            // SAFETY: non-null, writable by the pointer contract.
            unsafe { out_report_len.write(text.len() + 1) };
        }
        Ok(())
    })
}

//! This thread's last error, for `os_last_error()`. A failing call keeps
//! the error itself; its message is written out only when the caller asks
//! for it, so that a frequent, expected failure (a get of an absent ID)
//! builds no string.

use std::cell::{Cell, RefCell};
use std::ffi::c_char;

use crate::error::Error;

/// Longest message kept, terminator included; longer ones are cut.
const LAST_ERROR_LEN: usize = 1024;

thread_local! {
    // A fixed buffer overwritten in place: the pointer os_last_error() hands
    // out stays valid for the thread's whole life, so a caller that reads it
    // after another failing call sees a newer message, never freed memory.
    static TEXT: RefCell<[c_char; LAST_ERROR_LEN]> = const { RefCell::new([0; LAST_ERROR_LEN]) };
    // The last error, not yet written into TEXT.
    static PENDING: Cell<Option<Error>> = const { Cell::new(None) };
}

/// Keeps `e` as this thread's last error.
#[inline]
pub(super) fn set_last_error(e: Error) {
    let _ = PENDING.try_with(|p| p.set(Some(e)));
}

fn write_text(msg: &str) {
    let _ = TEXT.try_with(|t| {
        let mut buf = t.borrow_mut();
        let mut n = 0;
        for &b in msg.as_bytes().iter().take(LAST_ERROR_LEN - 1) {
            buf[n] = if b == 0 { b'?' as c_char } else { b as c_char };
            n += 1;
        }
        // Never end inside a UTF-8 sequence.
        while n > 0 && n < msg.len() && (msg.as_bytes()[n] & 0xc0) == 0x80 {
            n -= 1;
        }
        buf[n] = 0;
    });
}

/// A copy of this thread's last error, for a caller that takes it away (an
/// `os_error`). `status` is the failed call's, for the rare case the error
/// is no longer kept as an `Error` (its text was written out already, or the
/// thread is being torn down).
pub(super) fn last_error_of(status: u32) -> Error {
    if let Ok(Some(e)) = PENDING.try_with(|p| {
        let e = p.take();
        p.set(e.clone());
        e
    }) {
        return e;
    }
    let text = TEXT
        .try_with(|t| {
            let buf = t.borrow();
            let bytes: Vec<u8> = buf.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
            String::from_utf8_lossy(&bytes).into_owned()
        })
        .unwrap_or_default();
    let kind = crate::ErrorKind::from_code(status).unwrap_or(crate::ErrorKind::Panic);
    Error::new(kind, text)
}

/// The message of this thread's last error, written out now if it was not.
pub(super) fn last_error_ptr() -> *const c_char {
    if let Ok(Some(e)) = PENDING.try_with(Cell::take) {
        write_text(&e.to_string());
    }
    TEXT.try_with(|t| t.as_ptr().cast::<c_char>() as *const c_char).unwrap_or(c"".as_ptr())
}

//! This thread's last error message, for `os_last_error()`.

use std::cell::RefCell;
use std::ffi::c_char;

/// Longest message kept, terminator included; longer ones are cut.
const LAST_ERROR_LEN: usize = 1024;

thread_local! {
    // A fixed buffer overwritten in place: the pointer os_last_error() hands
    // out stays valid for the thread's whole life, so a caller that reads it
    // after another failing call sees a newer message, never freed memory.
    static LAST_ERROR: RefCell<[c_char; LAST_ERROR_LEN]> = const { RefCell::new([0; LAST_ERROR_LEN]) };
}

pub(super) fn set_last_error(msg: &str) {
    let _ = LAST_ERROR.try_with(|e| {
        let mut buf = e.borrow_mut();
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

pub(super) fn last_error_ptr() -> *const c_char {
    LAST_ERROR.try_with(|e| e.as_ptr().cast::<c_char>() as *const c_char).unwrap_or(c"".as_ptr())
}

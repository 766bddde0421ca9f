//! The library's version, at run time: the string, the number, and a check
//! that the loaded library is at least the version a program was compiled
//! against.
//!
//! The header's compile-time macros (`OS_VERSION_MAJOR`, `_MINOR`,
//! `_PATCH`, `OS_VERSION_NUMBER`, `OS_VERSION_STRING`) are written by
//! tools/gen-header from the constants below, which come from Cargo.toml's
//! version: one source for every language.

use std::ffi::c_char;

use super::boundary::boundary;
use super::status::os_status;
use crate::error::err;

const fn parse_decimal(s: &str) -> u32 {
    let b = s.as_bytes();
    let mut i = 0;
    let mut v = 0u32;
    while i < b.len() {
        assert!(b[i].is_ascii_digit(), "a version component that is not a number");
        v = v * 10 + (b[i] - b'0') as u32;
        i += 1;
    }
    v
}

/// The major version (Cargo.toml's).
pub const VERSION_MAJOR: u32 = parse_decimal(env!("CARGO_PKG_VERSION_MAJOR"));
/// The minor version.
pub const VERSION_MINOR: u32 = parse_decimal(env!("CARGO_PKG_VERSION_MINOR"));
/// The patch version.
pub const VERSION_PATCH: u32 = parse_decimal(env!("CARGO_PKG_VERSION_PATCH"));
/// The version as one number, MAJOR * 1000000 + MINOR * 1000 + PATCH (as
/// SQLITE_VERSION_NUMBER is made), so that `#if` and plain integer
/// comparisons order versions.
pub const VERSION_NUMBER: u32 = version_number(VERSION_MAJOR, VERSION_MINOR, VERSION_PATCH);
/// "MAJOR.MINOR.PATCH".
pub const VERSION_TEXT: &str = env!("CARGO_PKG_VERSION");

/// The number of a version (`OS_MAKE_VERSION` in C).
pub const fn version_number(major: u32, minor: u32, patch: u32) -> u32 {
    assert!(minor < 1000 && patch < 1000 && major < 4000, "a version component too large for its number");
    major * 1_000_000 + minor * 1_000 + patch
}

/// The library's version, e.g. "0.1.0" (static; do not free). Cannot fail.
/// The header's OS_VERSION_STRING is the version it was made for.
#[no_mangle]
pub extern "C" fn os_version() -> *const c_char {
    static VERSION: &std::ffi::CStr =
        match std::ffi::CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(s) => s,
            Err(_) => c"unknown",
        };
    VERSION.as_ptr()
}

/// The loaded library's version as a number (see OS_VERSION_NUMBER), e.g.
/// 1000 for 0.1.0. Cannot fail.
#[no_mangle]
pub extern "C" fn os_version_number() -> u32 {
    VERSION_NUMBER
}

/// Checks that the loaded library can serve a program compiled against the
/// header of version `header_version`: pass OS_VERSION_NUMBER. The library
/// must be at least as new (a program may use anything its header
/// declares) and of the same major version — for 0.x, of the same minor,
/// the rule of Cargo's semantic versioning, since before 1.0 a minor
/// release may change what a call does.
///
/// # Returns
/// OS_OK; OS_INCOMPATIBLE (an older library, or another major version;
/// `os_last_error()` names both versions).
#[no_mangle]
pub extern "C" fn os_check_version(header_version: u32) -> os_status {
    boundary(|| {
        let (major, minor, patch) =
            (header_version / 1_000_000, header_version / 1_000 % 1_000, header_version % 1_000);
        let same_series = major == VERSION_MAJOR && (major > 0 || minor == VERSION_MINOR);
        if !same_series || header_version > VERSION_NUMBER {
            let series = if major > 0 { format!("{major}.x") } else { format!("0.{minor}.x") };
            return Err(err!(
                Incompatible,
                "the program was compiled against objstore {major}.{minor}.{patch}, but the loaded library is \
                 {VERSION_TEXT}: it needs {series}, {major}.{minor}.{patch} or newer"
            ));
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capi::status::{OS_INCOMPATIBLE, OS_OK};

    #[test]
    fn the_number_is_the_string() {
        assert_eq!(format!("{VERSION_MAJOR}.{VERSION_MINOR}.{VERSION_PATCH}"), VERSION_TEXT);
        assert_eq!(VERSION_NUMBER, VERSION_MAJOR * 1_000_000 + VERSION_MINOR * 1_000 + VERSION_PATCH);
        // SAFETY: a static NUL-terminated string.
        let text = unsafe { std::ffi::CStr::from_ptr(os_version()) };
        assert_eq!(text.to_str().unwrap(), VERSION_TEXT);
    }

    #[test]
    fn a_program_of_a_newer_header_or_another_major_is_refused() {
        assert_eq!(os_check_version(VERSION_NUMBER), OS_OK);
        assert_eq!(os_check_version(version_number(VERSION_MAJOR, VERSION_MINOR, 0)), OS_OK);
        assert_eq!(os_check_version(version_number(VERSION_MAJOR, VERSION_MINOR + 1, 0)), OS_INCOMPATIBLE);
        assert_eq!(os_check_version(VERSION_NUMBER + 1), OS_INCOMPATIBLE);
        assert_eq!(os_check_version(version_number(VERSION_MAJOR + 1, 0, 0)), OS_INCOMPATIBLE);
        // An older series: for 0.x an older minor, else an older major.
        let older = match (VERSION_MAJOR, VERSION_MINOR) {
            (0, 0) => None,
            (0, minor) => Some(version_number(0, minor - 1, 0)),
            (major, _) => Some(version_number(major - 1, 0, 0)),
        };
        if let Some(older) = older {
            assert_eq!(os_check_version(older), OS_INCOMPATIBLE);
        }
    }
}

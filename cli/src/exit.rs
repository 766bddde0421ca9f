//! Exit codes and failures: what went wrong, for people (a message and
//! hints on stderr) and for scripts (an exit code).
//!
//! The codes are a contract: scripts test them, so a code's meaning never
//! changes and a retired code is never reused. Each library `ErrorKind` has
//! its own code (the match below is exhaustive on purpose: a new kind does
//! not compile until it is given one).

use std::io::Write;

use objstore::ErrorKind;

pub const OK: u8 = 0;
pub const USAGE: u8 = 1;
pub const NOT_FOUND: u8 = 2;
pub const ALREADY_EXISTS: u8 = 3;
pub const STORE_FULL: u8 = 4;
pub const TOO_LARGE: u8 = 5;
pub const TIMEOUT: u8 = 6;
pub const NOT_SEALED: u8 = 7;
pub const PERMISSION_DENIED: u8 = 8;
pub const INCOMPATIBLE: u8 = 9;
pub const CORRUPT: u8 = 10;
pub const IO: u8 = 11;
pub const TOO_MANY_PROCESSES: u8 = 12;
pub const INTERNAL: u8 = 13;
pub const INTERRUPTED: u8 = 130;
pub const BROKEN_PIPE: u8 = 141;

/// The table of exit codes, as a literal (for `concat!`).
macro_rules! exit_codes_text {
    () => {
        "\
Exit codes:
    0    success
    1    usage error: a bad option, size, duration or object ID
    2    not found: no such store, or no such object
    3    already exists: the store, or an object with that ID
    4    store full: no memory (or object slot) left, nothing could be spilled
    5    too large: the object could never fit this store
    6    timed out waiting for an object to be sealed (get --timeout)
    7    object not sealed yet
    8    permission denied: the store file (or a file named) may not be opened
    9    incompatible: a store made by another layout version of objstore
    10   corrupt: a damaged or truncated store file, or problems found by check
    11   I/O error: reading input, writing output, or a system call failed
    12   too many processes attached to the store
    13   internal error (a bug in objstore)
    130  interrupted (Ctrl-C)
    141  standard output was closed early (e.g. piped into head)"
    };
}

/// What every `--help` ends with: the exit codes (the table also in the
/// README), then the default store.
pub const HELP_AFTER: &str = concat!(
    exit_codes_text!(),
    "\n\n",
    "Default store:\n",
    "    Every command but create and destroy works on $OBJSTORE_STORE when no\n",
    "    store is named (`export OBJSTORE_STORE=demo; objstore put file.bin`).\n",
    "    `objstore ls` with neither lists the stores in /dev/shm."
);

/// The exit code for a library error of this kind.
pub fn code_for(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::InvalidArgument => USAGE,
        ErrorKind::NotFound => NOT_FOUND,
        ErrorKind::AlreadyExists => ALREADY_EXISTS,
        ErrorKind::OutOfMemory => STORE_FULL,
        ErrorKind::TooLarge => TOO_LARGE,
        ErrorKind::Timeout => TIMEOUT,
        ErrorKind::NotSealed => NOT_SEALED,
        ErrorKind::PermissionDenied => PERMISSION_DENIED,
        ErrorKind::Incompatible => INCOMPATIBLE,
        ErrorKind::Corrupt => CORRUPT,
        ErrorKind::Io => IO,
        ErrorKind::TooManyProcesses => TOO_MANY_PROCESSES,
        ErrorKind::Panic => INTERNAL,
    }
}

/// Why a command failed: its exit code, a message and hints for stderr.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
    pub hints: Vec<String>,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure { code, message: message.into(), hints: Vec::new() }
    }

    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::new(USAGE, message)
    }

    /// Adds a line saying what to do about it.
    pub fn hint(mut self, hint: impl Into<String>) -> Failure {
        self.hints.push(hint.into());
        self
    }

    /// A failed read or write of a file the user named (or of stdin).
    pub fn file(context: impl std::fmt::Display, e: std::io::Error) -> Failure {
        let code = match e.kind() {
            std::io::ErrorKind::NotFound => NOT_FOUND,
            std::io::ErrorKind::PermissionDenied => PERMISSION_DENIED,
            _ => IO,
        };
        Failure::new(code, format!("{context}: {e}"))
    }

    /// A failed write to standard output. A reader that went away (`| head`)
    /// is not worth a message.
    pub fn output(e: std::io::Error) -> Failure {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Failure::new(BROKEN_PIPE, "")
        } else {
            Failure::new(IO, format!("cannot write to standard output: {e}"))
        }
    }

    pub fn interrupted() -> Failure {
        Failure::new(INTERRUPTED, "interrupted")
    }

    /// Prints the message and hints to stderr (nothing for an empty message).
    pub fn report(&self) {
        if self.message.is_empty() {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "objstore: {}", self.message);
        for h in &self.hints {
            let _ = writeln!(err, "objstore: hint: {h}");
        }
    }
}

impl From<objstore::Error> for Failure {
    fn from(e: objstore::Error) -> Failure {
        Failure::new(code_for(e.kind()), e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [ErrorKind; 13] = [
        ErrorKind::InvalidArgument,
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::OutOfMemory,
        ErrorKind::TooLarge,
        ErrorKind::Timeout,
        ErrorKind::NotSealed,
        ErrorKind::PermissionDenied,
        ErrorKind::Incompatible,
        ErrorKind::Corrupt,
        ErrorKind::Io,
        ErrorKind::TooManyProcesses,
        ErrorKind::Panic,
    ];

    #[test]
    fn every_kind_has_its_own_documented_code() {
        let mut seen = std::collections::HashSet::new();
        for kind in KINDS {
            let code = code_for(kind);
            assert_ne!(code, OK, "{kind:?}");
            // Only InvalidArgument shares a code, with command-line usage errors.
            assert!(seen.insert(code), "{kind:?} shares exit code {code}");
            assert!(
                HELP_AFTER.lines().any(|l| l.trim_start().starts_with(&format!("{code} "))),
                "exit code {code} ({kind:?}) is missing from the help table"
            );
        }
    }

    #[test]
    fn permission_denied_has_its_code() {
        // The integration tests produce a real EACCES by running the command
        // as another user; this pins the mapping itself.
        let e = objstore::Error::new(ErrorKind::PermissionDenied, "cannot open store '/dev/shm/x': Permission denied");
        let f = Failure::from(e);
        assert_eq!(f.code, PERMISSION_DENIED);
        assert_eq!(f.code, 8);
        assert!(f.message.contains("Permission denied"));
        let io = Failure::file("cannot read 'x'", std::io::Error::from_raw_os_error(libc::EACCES));
        assert_eq!(io.code, PERMISSION_DENIED);
    }

    #[test]
    fn a_closed_stdout_is_silent() {
        let f = Failure::output(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert_eq!(f.code, BROKEN_PIPE);
        assert!(f.message.is_empty());
        assert_eq!(Failure::output(std::io::Error::other("disk on fire")).code, IO);
    }
}

//! Errors of the Rust API. Each kind maps one-to-one onto a C status code
//! (`os_status`); the message is what `os_last_error()` returns.

use std::fmt;

/// What went wrong, in the categories the C API reports as `os_status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A bad argument: a NULL or out-of-range value, a wrong handle, an
    /// operation the object's state does not allow.
    InvalidArgument,
    /// No such object (or store).
    NotFound,
    /// The ID names a live object already (or a store that exists).
    AlreadyExists,
    /// The store is full and nothing could be freed or spilled.
    OutOfMemory,
    /// The object is larger than the store could ever hold.
    TooLarge,
    /// A positive timeout ran out.
    Timeout,
    /// The object was created but is not sealed yet.
    NotSealed,
    /// A store file of another layout version.
    Incompatible,
    /// A store file (or spill file) that fails its checks.
    Corrupt,
    /// An operating-system call failed.
    Io,
    /// The caller may not open or create the file.
    PermissionDenied,
    /// Every process slot of the store is taken by a live process.
    TooManyProcesses,
    /// A bug in objstore: a panic caught at the C boundary.
    Panic,
}

impl ErrorKind {
    /// A short, static description of the kind.
    pub fn description(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::NotFound => "not found",
            ErrorKind::AlreadyExists => "already exists",
            ErrorKind::OutOfMemory => "out of memory",
            ErrorKind::TooLarge => "object too large for the store",
            ErrorKind::Timeout => "timed out",
            ErrorKind::NotSealed => "object not sealed",
            ErrorKind::Incompatible => "incompatible store layout version",
            ErrorKind::Corrupt => "corrupt store or spill file",
            ErrorKind::Io => "I/O error",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::TooManyProcesses => "too many processes attached",
            ErrorKind::Panic => "internal error (panic)",
        }
    }
}

/// An error with its kind and a message saying what exactly failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// An error of `kind` with a specific message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error { kind, message: message.into() }
    }

    /// The category of the error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The detailed message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// An error from an OS call, classified by errno.
    pub(crate) fn os(context: impl fmt::Display, err: std::io::Error) -> Error {
        let kind = match err.raw_os_error() {
            Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS) => ErrorKind::PermissionDenied,
            Some(libc::ENOSPC) | Some(libc::ENOMEM) | Some(libc::EDQUOT) => ErrorKind::OutOfMemory,
            Some(libc::ENOENT) => ErrorKind::NotFound,
            Some(libc::EEXIST) => ErrorKind::AlreadyExists,
            _ => ErrorKind::Io,
        };
        Error::new(kind, format!("{context}: {err}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            f.write_str(self.kind.description())
        } else {
            f.write_str(&self.message)
        }
    }
}

impl std::error::Error for Error {}

/// Result of the Rust API.
pub type Result<T> = std::result::Result<T, Error>;

/// Shorthand for building an error in a `return Err(...)`.
macro_rules! err {
    ($kind:ident, $($fmt:tt)+) => {
        $crate::error::Error::new($crate::error::ErrorKind::$kind, format!($($fmt)+))
    };
}
pub(crate) use err;

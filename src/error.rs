//! Errors, and the one table of status codes: each `ErrorKind` is a C
//! status code (`os_status`) with its name in C, its short description and
//! its documentation, all generated from `status_table!` below — the Rust
//! enum here, the `OS_*` constants in `capi`, and the `#define`s of
//! `include/objstore.h` (written by tools/gen-header). Values are never
//! reused: a retired status keeps its number.

use std::fmt;

/// The table of status codes: calls `$callback!` with one entry per kind:
/// `doc; Kind = code, C_NAME, "description";`.
macro_rules! status_table {
    ($callback:ident) => {
        $callback! {
            /// A bad argument: NULL where not allowed, a value out of range, a
            /// handle used from another process, an operation the object's
            /// state does not allow.
            InvalidArgument = 1, OS_INVALID_ARGUMENT, "invalid argument";
            /// No such object (or no such store, with OS_OPEN_ATTACH_ONLY).
            NotFound = 2, OS_NOT_FOUND, "not found";
            /// The ID names a live object (or the store exists, with
            /// OS_OPEN_CREATE_ONLY).
            AlreadyExists = 3, OS_ALREADY_EXISTS, "already exists";
            /// The store is full and nothing could be freed or spilled.
            OutOfMemory = 4, OS_OUT_OF_MEMORY, "out of memory";
            /// The object is larger than the store could ever hold.
            TooLarge = 5, OS_TOO_LARGE, "object too large for the store";
            /// A positive timeout ran out.
            Timeout = 6, OS_TIMEOUT, "timed out";
            /// The object is created but not sealed yet.
            NotSealed = 7, OS_NOT_SEALED, "object not sealed";
            /// A store file of another layout version.
            Incompatible = 8, OS_INCOMPATIBLE, "incompatible store layout version";
            /// A store file (or spill file) that fails its checks.
            Corrupt = 9, OS_CORRUPT, "corrupt store or spill file";
            /// An operating-system call failed.
            Io = 10, OS_IO_ERROR, "I/O error";
            /// The caller may not open or create the file, or the file
            /// belongs to someone it should not trust.
            PermissionDenied = 11, OS_PERMISSION_DENIED, "permission denied";
            /// Every process slot of the store is held by a live process.
            TooManyProcesses = 12, OS_TOO_MANY_PROCESSES, "too many processes attached";
            /// A bug in objstore, caught before it could unwind into the caller.
            Panic = 13, OS_PANIC, "internal error (panic)";
            /// A blocked get, get_many or wait was cancelled from another
            /// thread through its canceller.
            Cancelled = 14, OS_CANCELLED, "cancelled";
        }
    };
}
#[cfg(not(loom))]
pub(crate) use status_table;

macro_rules! define_error_kind {
    ($( $(#[doc = $doc:literal])* $kind:ident = $code:literal, $cname:ident, $text:literal; )*) => {
        /// What went wrong: one kind per C status code (`os_status`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorKind {
            $( $(#[doc = $doc])* $kind, )*
        }

        impl ErrorKind {
            /// Every kind, in the order of their codes.
            pub const ALL: &'static [ErrorKind] = &[$(ErrorKind::$kind),*];

            /// The C status code.
            pub const fn code(self) -> u32 {
                match self { $(ErrorKind::$kind => $code,)* }
            }

            /// The kind of a C status code (None for OS_OK and unknown codes).
            pub const fn from_code(code: u32) -> Option<ErrorKind> {
                match code { $($code => Some(ErrorKind::$kind),)* _ => None }
            }

            /// The name of the status code in C.
            pub const fn c_name(self) -> &'static str {
                match self { $(ErrorKind::$kind => stringify!($cname),)* }
            }

            /// A short, static description of the kind.
            pub const fn description(self) -> &'static str {
                match self { $(ErrorKind::$kind => $text,)* }
            }

            /// The description, NUL-terminated, for C.
            pub(crate) const fn description_c(self) -> &'static std::ffi::CStr {
                match self {
                    $(ErrorKind::$kind => match std::ffi::CStr::from_bytes_with_nul(concat!($text, "\0").as_bytes()) {
                        Ok(s) => s,
                        Err(_) => panic!("a description with a NUL byte"),
                    },)*
                }
            }

            /// What the status means, as documented in the C header.
            pub const fn documentation(self) -> &'static str {
                match self { $(ErrorKind::$kind => concat!($($doc, "\n"),*),)* }
            }
        }
    };
}
status_table!(define_error_kind);

/// An error with its kind and a message saying what exactly failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    detail: Detail,
}

/// What exactly failed. The message of a frequent, expected failure (an
/// object not found) is kept as its parts and written out only when someone
/// reads it: a get of an absent ID builds no string.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Detail {
    Text(String),
    /// "object ID not found".
    ObjectNotFound([u8; 20]),
    /// A wait set's wait that timed out with this many objects left.
    NoneSealed(usize),
}

impl Error {
    /// An error of `kind` with a specific message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error { kind, detail: Detail::Text(message.into()) }
    }

    /// NotFound for the object with these ID bytes.
    #[inline]
    pub(crate) fn object_not_found(id: [u8; 20]) -> Error {
        Error { kind: ErrorKind::NotFound, detail: Detail::ObjectNotFound(id) }
    }

    /// Timeout of a wait set's wait, `remaining` objects not handed out
    /// (a poll with a zero timeout that finds nothing builds no string).
    #[inline]
    pub(crate) fn none_sealed(remaining: usize) -> Error {
        Error { kind: ErrorKind::Timeout, detail: Detail::NoneSealed(remaining) }
    }

    /// The category of the error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The detailed message.
    pub fn message(&self) -> std::borrow::Cow<'_, str> {
        match &self.detail {
            Detail::Text(s) => std::borrow::Cow::Borrowed(s),
            Detail::ObjectNotFound(_) | Detail::NoneSealed(_) => std::borrow::Cow::Owned(self.to_string()),
        }
    }

    /// An error from an OS call, classified by its errno (the one place
    /// where errno values become kinds).
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
        match &self.detail {
            Detail::Text(s) if s.is_empty() => f.write_str(self.kind.description()),
            Detail::Text(s) => f.write_str(s),
            Detail::ObjectNotFound(id) => {
                f.write_str("object ")?;
                for b in id {
                    write!(f, "{b:02x}")?;
                }
                f.write_str(" not found")
            }
            Detail::NoneSealed(n) => write!(f, "none of the {n} objects waited for was sealed in time"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_dense_and_round_trip() {
        for (i, k) in ErrorKind::ALL.iter().enumerate() {
            assert_eq!(k.code(), i as u32 + 1, "{k:?}");
            assert_eq!(ErrorKind::from_code(k.code()), Some(*k));
            assert!(k.c_name().starts_with("OS_"));
            assert_eq!(k.description_c().to_str().unwrap(), k.description());
            assert!(!k.documentation().trim().is_empty());
        }
        assert_eq!(ErrorKind::from_code(0), None);
        assert_eq!(ErrorKind::from_code(ErrorKind::ALL.len() as u32 + 1), None);
    }
}

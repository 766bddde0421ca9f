package objstore

// #include <objstore.h>
import "C"

// The version of objstore this package was compiled against: the
// OS_VERSION_* macros of objstore.h, the same numbers in every language.
const (
	VersionMajor = C.OS_VERSION_MAJOR
	VersionMinor = C.OS_VERSION_MINOR
	VersionPatch = C.OS_VERSION_PATCH
	// VersionNumber is VersionMajor*1000000 + VersionMinor*1000 +
	// VersionPatch (OS_VERSION_NUMBER).
	VersionNumber uint32 = C.OS_VERSION_NUMBER
)

// Version returns the loaded C library's version, e.g. "0.1.0".
func Version() string {
	return C.GoString(C.os_version())
}

// LibraryVersionNumber returns the loaded C library's version as a number
// (os_version_number), comparable with VersionNumber.
func LibraryVersionNumber() uint32 {
	return uint32(C.os_version_number())
}

// CheckVersion reports whether the loaded C library can serve this package
// (os_check_version): an error matching ErrIncompatible if it is older than
// the header the package was compiled against, or of another major version
// (for 0.x, another minor).
func CheckVersion() error {
	var e *C.os_error
	return failure("check version", C.os_check_version_e(C.OS_VERSION_NUMBER, &e), e)
}

//! Gives the shared library its SONAME, as cargo-c does: programs record
//! libobjstore.so.0 and keep working across compatible upgrades.
//!
//! The C header is not written here (a crate built as a dependency should
//! not rewrite its own sources): `make header` runs tools/gen-header, and CI
//! fails if the committed include/objstore.h differs from what it makes.

fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("set by cargo");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libobjstore.so.{major}");
    println!("cargo:rerun-if-changed=build.rs");
}

//! Generates include/objstore.h from the C ABI in src/capi with cbindgen.
//!
//! The header is committed; CI rebuilds and fails if it changed, so the
//! committed header always matches the code. Set OBJSTORE_SKIP_HEADER=1 to
//! skip generation (e.g. when building from a read-only source tree).

use std::path::PathBuf;

fn main() {
    // The shared library's SONAME, as cargo-c sets it: programs record
    // libobjstore.so.0 and keep working across compatible upgrades.
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("set by cargo");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libobjstore.so.{major}");
    println!("cargo:rerun-if-changed=src/capi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-env-changed=OBJSTORE_SKIP_HEADER");
    if std::env::var_os("OBJSTORE_SKIP_HEADER").is_some() {
        return;
    }
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml is valid");
    let header = crate_dir.join("include").join("objstore.h");
    match cbindgen::Builder::new().with_crate(&crate_dir).with_config(config).generate() {
        Ok(bindings) => {
            // write_to_file only rewrites the file when its contents change.
            bindings.write_to_file(&header);
        }
        Err(e) => panic!("cbindgen failed to generate {}: {e}", header.display()),
    }
}

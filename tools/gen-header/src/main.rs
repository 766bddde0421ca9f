//! Writes include/objstore.h from the C ABI in src/capi (with cbindgen and
//! cbindgen.toml) and the status codes of the library's table of them, so
//! that their values, names and descriptions exist once.
//!
//! `gen-header` writes the header; `gen-header --check` writes nothing and
//! fails if the committed header is not what it would write.

use std::path::PathBuf;
use std::process::ExitCode;

use objstore::ErrorKind;

/// The `#define`s of the status codes, with their documentation.
fn status_defines() -> String {
    let mut out = String::from("/**\n * Success.\n */\n#define OS_OK 0\n\n");
    for kind in ErrorKind::ALL {
        out += "/**\n";
        for line in kind.documentation().lines() {
            out += &format!(" *{}\n", line.trim_end());
        }
        out += &format!(" */\n#define {} {}\n\n", kind.c_name(), kind.code());
    }
    out
}

fn main() -> ExitCode {
    let check = std::env::args().any(|a| a == "--check");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut config = match cbindgen::Config::from_file(root.join("cbindgen.toml")) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gen-header: cbindgen.toml: {e}");
            return ExitCode::FAILURE;
        }
    };
    config.after_includes = Some(format!("\n/* Status codes (os_status). */\n\n{}", status_defines().trim_end()));
    let bindings = match cbindgen::Builder::new().with_crate(&root).with_config(config).generate() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("gen-header: cbindgen: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut text = Vec::new();
    bindings.write(&mut text);
    let path = root.join("include/objstore.h");
    let current = std::fs::read(&path).unwrap_or_default();
    if current == text {
        return ExitCode::SUCCESS;
    }
    if check {
        eprintln!("include/objstore.h is out of date: run `make header` and commit it");
        return ExitCode::FAILURE;
    }
    if let Err(e) = std::fs::write(&path, &text) {
        eprintln!("gen-header: cannot write {}: {e}", path.display());
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

//! Writes include/objstore.h from the C ABI in src/capi (with cbindgen and
//! cbindgen.toml), the status codes of the library's table of them, and the
//! version macros from the library's version (Cargo.toml's), so that each
//! exists once.
//!
//! `gen-header` writes the header; `gen-header --check` writes nothing and
//! fails if the committed header is not what it would write.

use std::path::PathBuf;
use std::process::ExitCode;

use objstore::capi::{version_number, VERSION_MAJOR, VERSION_MINOR, VERSION_NUMBER, VERSION_PATCH, VERSION_TEXT};
use objstore::ErrorKind;

/// The version macros: the version this header was made with, for `#if`.
fn version_defines() -> String {
    // The macro and the library's function must agree on what a number is.
    assert_eq!(version_number(1, 2, 3), 1_002_003);
    [
        "/* The version of objstore this header declares (Cargo.toml's). Compare".to_string(),
        " * OS_VERSION_NUMBER with OS_MAKE_VERSION in #if; at run time,".to_string(),
        " * os_check_version(OS_VERSION_NUMBER) checks the loaded library. */".to_string(),
        String::new(),
        format!("#define OS_VERSION_MAJOR {VERSION_MAJOR}"),
        format!("#define OS_VERSION_MINOR {VERSION_MINOR}"),
        format!("#define OS_VERSION_PATCH {VERSION_PATCH}"),
        format!("#define OS_VERSION_STRING \"{VERSION_TEXT}\""),
        String::new(),
        "/**".to_string(),
        " * A version as one number, MAJOR * 1000000 + MINOR * 1000 + PATCH.".to_string(),
        " */".to_string(),
        "#define OS_MAKE_VERSION(major, minor, patch) ((major) * 1000000 + (minor) * 1000 + (patch))".to_string(),
        String::new(),
        "/**".to_string(),
        " * This header's version as one number: OS_MAKE_VERSION(OS_VERSION_MAJOR,".to_string(),
        " * OS_VERSION_MINOR, OS_VERSION_PATCH).".to_string(),
        " */".to_string(),
        format!("#define OS_VERSION_NUMBER {VERSION_NUMBER}"),
    ]
    .join("\n")
}

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
    config.after_includes = Some(format!(
        "\n{}\n\n/* Status codes (os_status). */\n\n{}",
        version_defines().trim_end(),
        status_defines().trim_end()
    ));
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

//! The README's "The API in every language" table against the sources: every
//! function of include/objstore.h has a row (its `_e` twin excepted, which
//! the row of `os_X_e` covers), every row names something in each
//! language, and each name it gives for C++, Go, Python and Rust is defined
//! in that binding's sources (Python's: the package's modules and its
//! native module, bindings/python/rust). No language may say *to come*:
//! every binding has every call.

use std::collections::BTreeSet;
use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every file under `dir` (relative to the repository) whose name ends
/// with one of `exts`, concatenated.
fn sources(dir: &str, exts: &[&str]) -> String {
    let mut out = String::new();
    let mut stack = vec![Path::new(ROOT).join(dir)];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())).flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if exts.iter().any(|x| p.to_string_lossy().ends_with(x)) {
                out.push_str(&std::fs::read_to_string(&p).unwrap_or_default());
                out.push('\n');
            }
        }
    }
    out
}

/// The names of the functions the header declares.
fn header_functions() -> BTreeSet<String> {
    let header = read("include/objstore.h");
    let mut names = BTreeSet::new();
    for line in header.lines().filter(|l| !l.starts_with([' ', '*', '/', '#'])) {
        if let Some(open) = line.find('(') {
            let before = &line[..open];
            if let Some(name) = before.split([' ', '*']).next_back().filter(|n| n.starts_with("os_")) {
                names.insert(name.to_string());
            }
        }
    }
    names
}

/// The table's rows, each a list of its cells.
fn table_rows() -> Vec<Vec<String>> {
    let readme = read("README.md");
    let start = readme.find("## The API in every language").expect("the README's API table section");
    let section = &readme[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    section
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---"))
        .skip(1) // the header row
        .map(|l| l.trim().trim_matches('|').split(" | ").map(|c| c.trim().to_string()).collect())
        .collect()
}

/// The identifiers a cell names in backquotes: `Store.create(size, meta)`
/// gives `create`, `UnsealedObject::seal` gives `seal`, `~Store` gives
/// `Store`.
fn names_in(cell: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, quoted) in cell.split('`').enumerate() {
        if i % 2 == 0 {
            continue;
        }
        let head = quoted.split(['(', '{', '[', ' ']).next().unwrap_or("");
        let last = head.rsplit(['.', ':']).next().unwrap_or("").trim_start_matches('~');
        if !last.is_empty() && last.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_') {
            out.push(last.trim_end_matches("_*").to_string());
        }
    }
    out
}

fn defines(source: &str, name: &str) -> bool {
    source.match_indices(name).any(|(at, _)| {
        let before = source[..at].chars().next_back();
        let after = source[at + name.len()..].chars().next();
        let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !ident(before) && !ident(after)
    })
}

#[test]
fn every_c_function_has_a_row() {
    let rows = table_rows();
    assert!(rows.len() > 20, "too few rows: {rows:?}");
    let mut in_table = BTreeSet::new();
    for row in &rows {
        for name in names_in(&row[0]) {
            in_table.insert(name);
        }
    }
    let missing: Vec<_> =
        header_functions().into_iter().filter(|f| !f.ends_with("_e") && !in_table.contains(f)).collect();
    assert!(missing.is_empty(), "functions of objstore.h missing from the README's API table: {missing:?}");
}

#[test]
fn every_name_in_the_table_is_defined_in_its_language() {
    let langs = [
        ("C++", sources("bindings/cpp/include", &[".hpp"])),
        ("Go", sources("bindings/go", &[".go"])),
        (
            "Python",
            sources("bindings/python/src/objstore", &[".py", ".pyi"]) + &sources("bindings/python/rust", &[".rs"]),
        ),
        ("Rust", sources("src", &[".rs"]) + &read("Cargo.toml")),
    ];
    // Rust names that are the language's, not the crate's.
    let rust_builtin = ["drop"];
    let mut problems = Vec::new();
    for row in table_rows() {
        assert_eq!(row.len(), 5, "a row of five cells: {row:?}");
        for (cell, (lang, src)) in row[1..].iter().zip(&langs) {
            if cell.is_empty() {
                problems.push(format!("{}: nothing for {lang}", row[0]));
            }
            if cell.contains("*to come*") {
                problems.push(format!("{}: {lang} says *to come*", row[0]));
            }
            for name in names_in(cell) {
                if (*lang == "Rust" && rust_builtin.contains(&name.as_str())) || defines(src, &name) {
                    continue;
                }
                problems.push(format!("{}: {lang}'s {name} is not in its sources", row[0]));
            }
        }
    }
    assert!(problems.is_empty(), "the README's API table disagrees with the sources:\n{}", problems.join("\n"));
}

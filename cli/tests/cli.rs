//! The `objstore` command, run as a child process against real stores:
//! every subcommand, its output (JSON parsed field by field), its exit
//! codes and its messages for the error cases.
//!
//! Each test uses its own store name and destroys the store when it ends,
//! pass or fail (`TempStore`'s Drop). The only in-process use of the
//! library is in a forked child (`Holder`), which attaches, pins and
//! creates, and is then SIGKILLed; and `Store::destroy` for cleanup.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{pattern, rand_u64};
use objstore::{ObjectId, Options, Store};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_objstore");
const MIB: u64 = 1 << 20;

// ----- helpers -----------------------------------------------------------------

/// A unique store name, destroyed on drop.
struct TempStore {
    name: String,
}

impl TempStore {
    fn new(tag: &str) -> TempStore {
        TempStore { name: format!("objstore-cli-{tag}-{}-{:x}", std::process::id(), rand_u64()) }
    }

    /// A store created by the command with `capacity` and any extra options.
    fn create(tag: &str, capacity: &str, extra: &[&str]) -> TempStore {
        let t = TempStore::new(tag);
        let mut args = vec!["create", &t.name, "--capacity", capacity];
        args.extend_from_slice(extra);
        ok(&args);
        t
    }

    fn path(&self) -> String {
        format!("/dev/shm/{}", self.name)
    }

    fn n(&self) -> &str {
        &self.name
    }
}

impl Drop for TempStore {
    fn drop(&mut self) {
        let _ = Store::destroy(&self.name);
    }
}

/// A scratch directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("objstore-cli-{tag}-{}-{:x}", std::process::id(), rand_u64()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn now_unix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// The command with no default store: each test names its stores (or sets
/// OBJSTORE_STORE itself).
fn objstore() -> Command {
    let mut c = Command::new(BIN);
    c.env_remove("OBJSTORE_STORE");
    c
}

/// Runs the command with `args` and no stdin.
fn run(args: &[&str]) -> Output {
    objstore().args(args).stdin(Stdio::null()).output().expect("run objstore")
}

/// Runs the command with `input` on stdin.
fn run_with_input(args: &[&str], input: &[u8]) -> Output {
    let mut child = objstore()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run objstore");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    out
}

fn describe(args: &[&str], out: &Output) -> String {
    format!(
        "objstore {}\nexit: {:?}\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs the command, asserts it succeeded, and returns its stdout.
fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(out.status.success(), "{}", describe(args, &out));
    String::from_utf8(out.stdout).unwrap()
}

/// Runs the command, asserts it exited with `code`, and returns its stderr.
fn fails(args: &[&str], code: i32) -> String {
    let out = run(args);
    assert_eq!(out.status.code(), Some(code), "{}", describe(args, &out));
    assert!(out.stdout.is_empty(), "a failure prints nothing on stdout\n{}", describe(args, &out));
    String::from_utf8(out.stderr).unwrap()
}

fn json(args: &[&str]) -> Value {
    let text = ok(args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("objstore {}: not JSON ({e}):\n{text}", args.join(" ")))
}

fn put_bytes(store: &str, data: &[u8], extra: &[&str]) -> String {
    let mut args = vec!["put", store, "-"];
    args.extend_from_slice(extra);
    let out = run_with_input(&args, data);
    assert!(out.status.success(), "{}", describe(&args, &out));
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(id.len(), 40, "put prints a 40-character ID: {id:?}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{id}");
    id
}

fn get_bytes(store: &str, id: &str, extra: &[&str]) -> Vec<u8> {
    let mut args = vec!["get", store, id];
    args.extend_from_slice(extra);
    let out = run(&args);
    assert!(out.status.success(), "{}", describe(&args, &out));
    out.stdout
}

/// The ID a listing shows, sorted.
/// Starts `objstore watch` and waits for its header and first row.
fn start_watch(store: &str, interval: &str) -> (std::process::Child, std::process::ChildStdout) {
    let mut watch = objstore()
        .args(["watch", store, "--interval", interval])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = watch.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while seen.iter().filter(|&&b| b == b'\n').count() < 2 {
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "watch ended early: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    (watch, stdout)
}

fn listed_ids(store: &str) -> Vec<String> {
    ok(&["ls", store, "-q"]).lines().map(str::to_string).collect()
}

// ----- a process that holds pins and an unsealed object ---------------------------

/// A forked child that attaches to a store, pins `pin` (and with
/// `reference` takes a reference to it) and creates (but does not seal)
/// `unsealed`, then waits to be killed. Killed and reaped on
/// drop if the test did not.
struct Holder {
    pid: libc::pid_t,
}

impl Holder {
    fn start(store: &str, pin: ObjectId, unsealed: ObjectId, reference: bool) -> Holder {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe() writes.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let (rd, wr) = (fds[0], fds[1]);
        // SAFETY: the child only uses the library on a store of its own and
        // never returns into the test harness: it ends in _exit or SIGKILL.
        // (No other thread of this test binary uses the library in-process,
        // so no lock of it can be held across the fork.)
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // Drop the descriptors inherited from other tests' threads (their
            // children's pipes), so that this process holds up none of them.
            for fd in 3..1024 {
                if fd != wr {
                    // SAFETY: closing descriptors this process owns a copy of.
                    unsafe { libc::close(fd) };
                }
            }
            let result = std::panic::catch_unwind(|| {
                let s = Store::open(store, &Options { attach_only: true, ..Options::default() }).expect("child open");
                let _pinned = s.get_raw(&pin, Some(Duration::ZERO)).expect("child get");
                if reference {
                    s.add_ref(&pin).expect("child ref");
                }
                let _unsealed = s.create_raw(&unsealed, 4096, b"in progress").expect("child create");
                // Keep the handle, its pin and its unsealed object until killed.
                std::mem::forget(s);
            });
            // SAFETY: plain syscalls on descriptors this process owns.
            unsafe {
                if result.is_ok() {
                    libc::write(wr, b"r".as_ptr().cast(), 1);
                    loop {
                        libc::pause();
                    }
                }
                libc::_exit(1);
            }
        }
        // SAFETY: our copy of the write end; the read end is ours to read.
        unsafe { libc::close(wr) };
        let holder = Holder { pid };
        let mut byte = [0u8; 1];
        let mut pfd = libc::pollfd { fd: rd, events: libc::POLLIN, revents: 0 };
        // A guard against a hang, not a timing assertion: the child needs
        // milliseconds; a minute means it is stuck.
        // SAFETY: one valid pollfd; `byte` has room for the one byte read.
        let ready = unsafe { libc::poll(&mut pfd, 1, 60_000) == 1 && libc::read(rd, byte.as_mut_ptr().cast(), 1) == 1 };
        // SAFETY: closing our read end.
        unsafe { libc::close(rd) };
        assert!(ready, "the holder process did not get ready (it failed or hung)");
        holder
    }

    fn kill(&mut self) {
        if self.pid > 0 {
            // SAFETY: our own child, reaped right after.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                libc::waitpid(self.pid, std::ptr::null_mut(), 0);
            }
            self.pid = 0;
        }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        self.kill();
    }
}

// ----- help, usage, exit codes ------------------------------------------------------

const SUBCOMMANDS: [&str; 13] = [
    "create",
    "destroy",
    "stat",
    "ls",
    "put",
    "get",
    "rm",
    "publish",
    "unpublish",
    "gc",
    "watch",
    "check",
    "completions",
];

#[test]
fn every_subcommand_has_help_with_the_exit_codes() {
    let top = ok(&["--help"]);
    for sub in SUBCOMMANDS {
        assert!(top.contains(&format!("\n  {sub} ")), "top-level help lists {sub}:\n{top}");
        let help = ok(&[sub, "--help"]);
        assert!(help.contains(&format!("Usage: objstore {sub} ")), "{sub} --help:\n{help}");
        for line in ["Exit codes:", "0    success", "2    not found", "3    already exists", "8    permission denied"] {
            assert!(help.contains(line), "{sub} --help lacks {line:?}:\n{help}");
        }
    }
    assert!(ok(&["--version"]).starts_with("objstore "));
}

#[test]
fn usage_errors_exit_1() {
    let err = fails(&[], 1);
    assert!(err.contains("Usage: objstore <COMMAND>"), "{err}");
    let err = fails(&["frobnicate"], 1);
    assert!(err.contains("unrecognized subcommand 'frobnicate'"), "{err}");
    let err = fails(&["stat"], 1);
    assert!(err.contains("<NAME>"), "{err}");
    let err = fails(&["create", "x", "--capacity", "lots"], 1);
    assert!(err.contains("'lots' is not a size"), "{err}");
    let err = fails(&["create", "x", "--capacity", "0"], 1);
    assert!(err.contains("--capacity must be more than 0"), "{err}");
    let err = fails(&["create", "x", "--mode", "0999"], 1);
    assert!(err.contains("not an octal file mode"), "{err}");
    let err = fails(&["get", "x", &"00".repeat(20), "--timeout", "soon"], 1);
    assert!(err.contains("'soon' is not a duration"), "{err}");
    let err = fails(&["ls", "x", "--state", "frozen"], 1);
    assert!(err.contains("invalid value 'frozen'"), "{err}");
}

#[test]
fn a_bad_id_is_a_usage_error_and_touches_nothing() {
    let t = TempStore::create("badid", "8MiB", &[]);
    let id = put_bytes(t.n(), b"keep me", &[]);
    for bad in ["xyz", &"0".repeat(39), &"g".repeat(40), &"0".repeat(41)] {
        let err = fails(&["get", t.n(), bad], 1);
        assert!(err.contains(&format!("bad object ID '{bad}'")), "{err}");
        // One bad ID among good ones: nothing is deleted.
        let err = fails(&["rm", t.n(), &id, bad], 1);
        assert!(err.contains("bad object ID"), "{err}");
        let err = fails(&["put", t.n(), "-", "--id", bad], 1);
        assert!(err.contains("bad object ID"), "{err}");
    }
    assert_eq!(listed_ids(t.n()), vec![id]);
}

// ----- create, stat, destroy ------------------------------------------------------

#[test]
fn create_stat_destroy() {
    let t = TempStore::new("life");
    let out = ok(&[
        "create",
        t.n(),
        "--capacity",
        "16MiB",
        "--max-objects",
        "1000",
        "--max-processes",
        "8",
        "--mode",
        "0640",
    ]);
    assert_eq!(
        out,
        format!(
            "created store '{}' ({}): capacity 16 MiB, 1000 object slots, 8 process slots, mode 0640\n",
            t.n(),
            t.path()
        )
    );
    assert_eq!(std::fs::metadata(t.path()).unwrap().permissions().mode() & 0o7777, 0o640);

    let s = json(&["stat", t.n(), "--json"]);
    assert_eq!(s["name"], t.n());
    assert_eq!(s["path"], t.path());
    assert_eq!(s["capacity_bytes"], 16 * MIB);
    assert_eq!(s["used_bytes"], 0);
    assert_eq!(s["object_count"], 0);
    assert_eq!(s["unsealed_count"], 0);
    assert_eq!(s["pinned_count"], 0);
    assert_eq!(s["spilled_count"], 0);
    assert_eq!(s["spilled_bytes"], 0);
    assert_eq!(s["max_objects"], 1000);
    assert_eq!(s["max_processes"], 8);
    assert_eq!(s["attached_processes"], 0, "the command does not count itself");
    assert_eq!(s["processes"], Value::Array(vec![]));
    assert_eq!(s["reclaimed_processes"], 0);
    for counter in ["spills_total", "restores_total", "references", "referenced_count", "tickets", "evictions_total"] {
        assert_eq!(s[counter], 0, "{counter}");
    }
    assert_eq!(s["spill_dir"], Value::Null);

    let text = ok(&["stat", t.n()]);
    for line in ["capacity:   16 MiB", "used:       0 B (0.0%)", "objects:    0 (of 1000 slots)", "processes:  0 of 8"]
    {
        assert!(text.contains(line), "{line:?} missing:\n{text}");
    }
    assert!(ok(&["stat", t.n(), "--bytes"]).contains("capacity:   16777216\n"));

    let err = fails(&["create", t.n(), "--capacity", "16MiB"], 3);
    assert!(err.contains(&format!("store '{}' already exists", t.n())), "{err}");
    assert!(err.contains("hint: `objstore destroy"), "{err}");
    // The existing store was not touched.
    assert_eq!(json(&["stat", t.n(), "--json"])["max_objects"], 1000);

    assert_eq!(ok(&["destroy", t.n()]), format!("destroyed store '{}' ({})\n", t.n(), t.path()));
    assert!(!Path::new(&t.path()).exists());
    let err = fails(&["destroy", t.n()], 2);
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn create_accepts_paths_sizes_and_a_spill_dir() {
    let dir = TempDir::new("paths");
    let path = dir.file("store");
    let p = path.to_str().unwrap();
    let _cleanup = TempStore { name: p.to_string() };
    let spill = dir.file("spill");
    let out = ok(&["create", p, "--capacity", "1G", "--spill-dir", spill.to_str().unwrap()]);
    assert!(out.contains(&format!("({p}): capacity 1 GiB")), "{out}");
    assert!(out.contains(&format!("spilling to {}", spill.display())), "{out}");
    assert!(spill.is_dir(), "the spill directory is created with the store");
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777, 0o600, "0600 by default");
    let s = json(&["stat", p, "--json"]);
    assert_eq!(s["capacity_bytes"], 1u64 << 30);
    assert_eq!(s["spill_dir"], spill.to_str().unwrap());
    assert!(ok(&["stat", p]).contains(&format!("spill dir:  {}\n", spill.display())));

    for (size, bytes) in [("3MiB", 3 * MIB), ("2000000", 2_031_616), ("4M", 4 * MIB)] {
        let t = TempStore::create("sizes", size, &[]);
        assert_eq!(
            json(&["stat", t.n(), "--json"])["capacity_bytes"],
            bytes,
            "--capacity {size} (rounded up to 64 KiB pages)"
        );
    }
    let err = fails(&["create", "/no/such/dir/store", "--capacity", "1M"], 2);
    assert!(err.contains("cannot create a store in '/no/such/dir'"), "{err}");
    assert!(err.contains("must exist"), "{err}");
}

#[test]
fn a_missing_store_is_reported_and_never_created() {
    let t = TempStore::new("missing");
    let id = "ab".repeat(20);
    let cases: [&[&str]; 8] = [
        &["stat", t.n()],
        &["stat", t.n(), "--json"],
        &["ls", t.n()],
        &["get", t.n(), &id],
        &["rm", t.n(), &id],
        &["gc", t.n()],
        &["watch", t.n(), "--count", "1"],
        &["put", t.n(), "/dev/null"],
    ];
    for args in cases {
        let err = fails(args, 2);
        assert!(err.contains(&format!("objstore: store '{}' does not exist ({})", t.n(), t.path())), "{err}");
        assert!(err.contains(&format!("`objstore create {} --capacity SIZE`", t.n())), "{err}");
        assert!(!Path::new(&t.path()).exists(), "objstore {} created the store", args.join(" "));
    }
    assert!(fails(&["destroy", t.n()], 2).contains("does not exist"));
}

// ----- put, get, ls, rm ---------------------------------------------------------------

#[test]
fn put_then_get_is_byte_identical() {
    let t = TempStore::create("putget", "64MiB", &[]);
    let dir = TempDir::new("putget");
    let data = pattern(1, 3 * MIB as usize + 17);
    let input = dir.file("in.bin");
    std::fs::write(&input, &data).unwrap();

    let id = ok(&["put", t.n(), input.to_str().unwrap(), "--meta", "u8:(3145745,)"]).trim().to_string();
    assert_eq!(id.len(), 40, "{id}");
    let output = dir.file("out.bin");
    assert_eq!(ok(&["get", t.n(), &id, "-o", output.to_str().unwrap()]), "", "get -o prints nothing");
    assert!(std::fs::read(&output).unwrap() == data, "get -o wrote different bytes");
    assert!(get_bytes(t.n(), &id, &[]) == data, "get to stdout wrote different bytes");
    assert_eq!(get_bytes(t.n(), &id, &["--meta"]), b"u8:(3145745,)");
    assert_eq!(get_bytes(t.n(), &id, &["-o", "-"]).len(), data.len());

    // From stdin, with metadata from a file.
    let meta_file = dir.file("meta");
    std::fs::write(&meta_file, b"float32:(2,3)").unwrap();
    let piped = pattern(2, 100_000);
    let id2 = put_bytes(t.n(), &piped, &["--meta-file", meta_file.to_str().unwrap()]);
    assert!(get_bytes(t.n(), &id2, &[]) == piped);
    assert_eq!(get_bytes(t.n(), &id2, &["--meta"]), b"float32:(2,3)");

    // Empty objects, from a file and from stdin.
    let empty = dir.file("empty");
    std::fs::write(&empty, b"").unwrap();
    let id3 = ok(&["put", t.n(), empty.to_str().unwrap()]).trim().to_string();
    assert_eq!(get_bytes(t.n(), &id3, &[]), b"");
    let id4 = put_bytes(t.n(), b"", &[]);
    assert_eq!(get_bytes(t.n(), &id4, &[]), b"");

    let all: Vec<String> = [&id, &id2, &id3, &id4].iter().map(|s| s.to_string()).collect();
    let mut sorted = all.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 4, "fresh IDs are distinct");
    assert_eq!(listed_ids(t.n()), sorted);

    let err = fails(&["put", t.n(), dir.file("nope").to_str().unwrap()], 2);
    assert!(err.contains("cannot open") && err.contains("No such file"), "{err}");
    let err = fails(&["put", t.n(), dir.0.to_str().unwrap()], 1);
    assert!(err.contains("is a directory"), "{err}");
    let err = fails(&["get", t.n(), &id, "-o", dir.file("no/such/dir").to_str().unwrap()], 2);
    assert!(err.contains("cannot create"), "{err}");
}

#[test]
fn put_with_a_chosen_id() {
    let t = TempStore::create("putid", "16MiB", &[]);
    let dir = TempDir::new("putid");
    let file = dir.file("f");
    std::fs::write(&file, pattern(3, 70_000)).unwrap();
    let chosen = "0123456789abcdef0123456789abcdef01234567";
    assert_eq!(ok(&["put", t.n(), file.to_str().unwrap(), "--id", chosen, "--meta", "m"]), format!("{chosen}\n"));
    assert!(get_bytes(t.n(), chosen, &[]) == pattern(3, 70_000));
    // Upper-case input names the same ID; the printed form is lower-case.
    assert_eq!(get_bytes(t.n(), &chosen.to_uppercase(), &["--meta"]), b"m");

    let err = fails(&["put", t.n(), file.to_str().unwrap(), "--id", chosen], 3);
    assert!(err.contains(&format!("object {chosen} already exists")), "{err}");
    assert!(err.contains(&format!("`objstore rm {} {chosen}`", t.n())), "{err}");
    let out = run_with_input(&["put", t.n(), "-", "--id", chosen], b"again");
    assert_eq!(out.status.code(), Some(3), "{}", describe(&["put", "-", "--id"], &out));

    let from_stdin = "ffffffffffffffffffffffffffffffffffffffff";
    assert_eq!(put_bytes(t.n(), b"chosen from stdin", &["--id", from_stdin]), from_stdin);
    assert_eq!(get_bytes(t.n(), from_stdin, &[]), b"chosen from stdin");
}

#[test]
fn ls_json_filters_and_sorting() {
    let t = TempStore::create("ls", "32MiB", &[]);
    // Puts stamp objects from the coarse real-time clock (the last timer
    // tick), which may still read the previous second just after this
    // precise reading crossed into a new one.
    let before = now_unix() - 1;
    let small = put_bytes(t.n(), &pattern(1, 100), &["--meta", "s"]);
    let medium = put_bytes(t.n(), &pattern(2, 5000), &[]);
    let large = put_bytes(t.n(), &pattern(3, 70_000), &["--meta", "large object"]);
    let listing = json(&["ls", t.n(), "--json"]);
    let after = now_unix();

    let rows = listing.as_array().expect("an array");
    assert_eq!(rows.len(), 3);
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let mut expected = vec![small.as_str(), medium.as_str(), large.as_str()];
    expected.sort();
    assert_eq!(ids, expected, "sorted by ID by default");
    for r in rows {
        let (data, meta) = match r["id"].as_str().unwrap() {
            id if id == small => (100, 1),
            id if id == medium => (5000, 0),
            _ => (70_000, 12),
        };
        assert_eq!(r["data_len"], data, "{r}");
        assert_eq!(r["meta_len"], meta, "{r}");
        assert_eq!(r["state"], "sealed", "{r}");
        assert_eq!(r["pinning_processes"], 0, "{r}");
        assert_eq!(r["referencing_processes"], 0, "{r}");
        assert_eq!(r["spilled"], false, "{r}");
        assert_eq!((&r["refcounted"], &r["evictable"]), (&false.into(), &false.into()), "{r}");
        let created = r["created_unix"].as_u64().unwrap();
        assert!((before..=after).contains(&created), "{r} created outside [{before}, {after}]");
        assert!(r["age_seconds"].as_u64().unwrap() <= after - before, "{r}");
        assert_eq!(r.as_object().unwrap().len(), 11, "no unexpected fields: {r}");
    }

    let by_size: Vec<String> = ok(&["ls", t.n(), "-q", "--sort", "size"]).lines().map(str::to_string).collect();
    assert_eq!(by_size, [small.as_str(), medium.as_str(), large.as_str()]);
    let by_size_rev: Vec<String> =
        ok(&["ls", t.n(), "-q", "--sort", "size", "--reverse"]).lines().map(str::to_string).collect();
    assert_eq!(by_size_rev, [large.as_str(), medium.as_str(), small.as_str()]);
    assert_eq!(ok(&["ls", t.n(), "-q", "--sort", "size", "-r", "--limit", "1"]), format!("{large}\n"));
    assert_eq!(ok(&["ls", t.n(), "-q", "--min-size", "1KiB"]).lines().count(), 2);
    assert_eq!(ok(&["ls", t.n(), "-q", "--min-size", "5000", "--max-size", "5000"]), format!("{medium}\n"));
    assert_eq!(ok(&["ls", t.n(), "-q", "--state", "unsealed,deleted,spilled"]), "");
    assert_eq!(ok(&["ls", t.n(), "-q", "--pinned"]), "");

    let table = ok(&["ls", t.n()]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    for word in ["ID", "DATA", "META", "STATE", "PINS", "WHERE", "AGE"] {
        assert!(lines[0].contains(word), "{table}");
    }
    let large_line = lines.iter().find(|l| l.starts_with(&large)).expect("large listed");
    assert!(large_line.contains("68.4 KiB") && large_line.contains("12 B") && large_line.contains("sealed"), "{table}");
    assert!(large_line.contains("memory"), "{table}");
    assert!(ok(&["ls", t.n(), "--bytes"]).contains(" 70000 "));
}

#[test]
fn rm_then_ls() {
    let t = TempStore::create("rm", "16MiB", &[]);
    let a = put_bytes(t.n(), b"a", &[]);
    let b = put_bytes(t.n(), b"b", &[]);
    let c = put_bytes(t.n(), b"c", &[]);
    assert_eq!(ok(&["rm", t.n(), &a, &c]), "");
    assert_eq!(listed_ids(t.n()), vec![b.clone()]);
    assert_eq!(json(&["stat", t.n(), "--json"])["object_count"], 1);

    // A missing object: an error, but the others are still removed.
    let err = fails(&["rm", t.n(), &a, &b], 2);
    assert!(err.contains(&format!("object {a} not found")), "{err}");
    assert_eq!(listed_ids(t.n()), Vec::<String>::new());
    // -f: a missing object is fine. -v: say what was done.
    assert_eq!(ok(&["rm", "-f", t.n(), &a]), "");
    let d = put_bytes(t.n(), b"d", &[]);
    assert_eq!(ok(&["rm", "-v", t.n(), &d]), format!("removed {d}\n"));
    // The ID of a removed object may be used again.
    assert_eq!(put_bytes(t.n(), b"d again", &["--id", &d]), d);
    assert_eq!(get_bytes(t.n(), &d, &[]), b"d again");
    let err = fails(&["get", t.n(), &a, "--timeout", "0"], 2);
    assert!(err.contains(&format!("object {a} not found in store '{}'", t.n())), "{err}");
    assert_eq!(json(&["stat", t.n(), "--json"])["object_count"], 1);
}

#[test]
fn full_and_too_large() {
    let t = TempStore::create("full", "1MiB", &[]);
    let dir = TempDir::new("full");
    let big = dir.file("big");
    std::fs::write(&big, pattern(4, 2 * MIB as usize)).unwrap();
    let err = fails(&["put", t.n(), big.to_str().unwrap()], 5);
    assert!(err.contains("cannot fit"), "{err}");

    let chunk = dir.file("chunk");
    std::fs::write(&chunk, pattern(5, 300 << 10)).unwrap();
    let mut puts = 0;
    let err = loop {
        let out = run(&["put", t.n(), chunk.to_str().unwrap()]);
        if out.status.success() {
            puts += 1;
            assert!(puts < 8, "a 1 MiB store took {puts} objects of 300 KiB");
            continue;
        }
        assert_eq!(out.status.code(), Some(4), "{}", describe(&["put"], &out));
        break String::from_utf8(out.stderr).unwrap();
    };
    assert!(puts >= 1, "not even one object of 300 KiB fit a 1 MiB store");
    assert!(err.contains("the store is full"), "{err}");
    // Nothing half-made is left behind.
    let s = json(&["stat", t.n(), "--json"]);
    assert_eq!(s["object_count"], puts);
    assert_eq!(s["unsealed_count"], 0);
}

#[test]
fn get_waits_for_a_seal() {
    let t = TempStore::create("wait", "16MiB", &[]);
    let id = "5eed".repeat(10);
    let err = fails(&["get", t.n(), &id, "--timeout", "200ms"], 6);
    assert!(err.contains(&format!("object {id} was not sealed within 200ms")), "{err}");

    // A consumer waiting (generously: it returns as soon as the object is
    // there) and a producer putting the object under the awaited ID.
    let consumer = objstore()
        .args(["get", t.n(), &id, "--timeout", "60s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert_eq!(put_bytes(t.n(), b"worth the wait", &["--id", &id]), id);
    let out = consumer.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", describe(&["get", "--timeout", "60s"], &out));
    assert_eq!(out.stdout, b"worth the wait");

    // No --timeout: the get waits for the seal, as every binding's get does
    // when given no timeout (README: "Defaults").
    let later = "1a7e".repeat(10);
    let consumer =
        objstore().args(["get", t.n(), &later]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(200)); // most likely waiting by now
    assert_eq!(put_bytes(t.n(), b"no timeout given", &["--id", &later]), later);
    let out = consumer.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", describe(&["get", "(no timeout)"], &out));
    assert_eq!(out.stdout, b"no timeout given");
}

#[test]
fn ctrl_c_ends_watch_and_get_cleanly() {
    let t = TempStore::create("sigint", "16MiB", &[]);
    // watch runs until interrupted; get --timeout forever waits until interrupted.
    // Once its first row is out, it is attached and looping.
    let (mut watch, _stdout) = start_watch(t.n(), "50ms"); // (kept open until the end)
    let getter = objstore()
        .args(["get", t.n(), &"77".repeat(20), "--timeout", "forever"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Both attached: watch's store view shows it (and the getter) as processes.
    let mut attached = 0;
    for _ in 0..600 {
        attached = json(&["stat", t.n(), "--json"])["attached_processes"].as_u64().unwrap();
        if attached == 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(attached, 2, "watch and get did not both attach");
    // SAFETY: signalling our own children.
    unsafe {
        libc::kill(watch.id() as libc::pid_t, libc::SIGINT);
        libc::kill(getter.id() as libc::pid_t, libc::SIGINT);
    }
    let status = watch.wait().unwrap();
    assert_eq!(status.code(), Some(0), "Ctrl-C is how watch ends");
    let out = getter.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", describe(&["get", "--timeout", "forever"], &out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted"));
    // They detached: nobody is attached, and neither counted as a dead process.
    let s = json(&["stat", t.n(), "--json"]);
    assert_eq!(s["attached_processes"], 0, "{s}");
    assert_eq!(s["reclaimed_processes"], 0, "{s}");
}

#[test]
fn watch_counts_refreshes() {
    let t = TempStore::create("watch", "16MiB", &[]);
    put_bytes(t.n(), &pattern(6, 1000), &[]);
    let out = ok(&["watch", t.n(), "--count", "3", "--interval", "20ms", "--bytes"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "a header and 3 rows:\n{out}");
    let titles: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        titles,
        ["TIME", "USED", "%USED", "OBJECTS", "UNSEALED", "PINNED", "SPILLED", "PROCS", "RECLAIMED"],
        "{out}"
    );
    for row in &lines[1..] {
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells.len(), titles.len(), "{out}");
        assert!(cells[1].parse::<u64>().unwrap() >= 1000, "USED holds the object: {out}");
        assert_eq!(&cells[3..], ["1", "0", "0", "0", "0", "0"], "{out}");
    }

    let out = ok(&["watch", t.n(), "--count", "2", "--interval", "20ms", "--json"]);
    let ticks: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(ticks.len(), 2);
    for tick in &ticks {
        assert_eq!(tick["object_count"], 1, "{tick}");
        assert_eq!(tick["capacity_bytes"], 16 * MIB, "{tick}");
        assert!(tick["time_unix"].as_u64().unwrap() >= now_unix() - 3600, "{tick}");
    }
}

#[test]
fn watch_notices_a_destroyed_store() {
    let t = TempStore::create("watchgone", "16MiB", &[]);
    // Once its first row is out, it is attached and looping.
    let (watch, mut stdout) = start_watch(t.n(), "20ms");
    ok(&["destroy", t.n()]);
    std::io::copy(&mut stdout, &mut std::io::sink()).unwrap();
    let out = watch.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&["watch"], &out));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("store '{}' was destroyed", t.n())));
}

// ----- crashed processes: stat, ls, get, rm while they live; gc after ----------------

#[test]
fn a_killed_holder_is_seen_then_reclaimed_by_gc() {
    let t = TempStore::create("gc", "16MiB", &[]);
    let pinned = put_bytes(t.n(), &pattern(7, 10_000), &[]);
    let doomed = put_bytes(t.n(), b"deleted while pinned", &[]);
    let unsealed = ObjectId([0x42; 20]);
    let mut holder = Holder::start(t.n(), ObjectId::from_hex(&pinned).unwrap(), unsealed, true);
    // A second pin, on an object deleted while pinned.
    let mut holder2 = Holder::start(t.n(), ObjectId::from_hex(&doomed).unwrap(), ObjectId([0x43; 20]), false);
    assert_eq!(ok(&["rm", t.n(), &doomed]), "");

    // While they live: stat shows them and their pids, ls their pins.
    let s = json(&["stat", t.n(), "--json"]);
    assert_eq!(s["attached_processes"], 2, "{s}");
    let mut pids: Vec<u64> = s["processes"].as_array().unwrap().iter().map(|p| p["pid"].as_u64().unwrap()).collect();
    pids.sort();
    let mut expected = vec![holder.pid as u64, holder2.pid as u64];
    expected.sort();
    assert_eq!(pids, expected, "{s}");
    assert_eq!(s["unsealed_count"], 2, "{s}");
    assert_eq!(s["pinned_count"], 2, "{s}");
    assert!(ok(&["stat", t.n()]).contains(&format!("pid {}", holder.pid)));

    let rows = json(&["ls", t.n(), "--json"]);
    let row = |id: &str| rows.as_array().unwrap().iter().find(|r| r["id"] == id).cloned().unwrap_or(Value::Null);
    assert_eq!(row(&pinned)["pinning_processes"], 1, "{rows}");
    assert_eq!(row(&pinned)["state"], "sealed", "{rows}");
    assert_eq!(row(&doomed)["state"], "deleted", "{rows}");
    assert_eq!(row(&doomed)["pinning_processes"], 1, "{rows}");
    assert_eq!(row(&unsealed.to_hex())["state"], "unsealed", "{rows}");
    assert_eq!(row(&unsealed.to_hex())["data_len"], 4096, "{rows}");
    assert_eq!(row(&unsealed.to_hex())["meta_len"], 11, "{rows}");
    assert_eq!(ok(&["ls", t.n(), "-q", "--pinned", "--state", "sealed"]), format!("{pinned}\n"));
    assert_eq!(row(&pinned)["referencing_processes"], 1, "{rows}");
    assert!(row(&pinned).get("pin_holders").is_none(), "holders only when asked: {rows}");
    assert_eq!(ok(&["ls", t.n(), "-q", "--referenced"]), format!("{pinned}\n"));

    // --holders names them: pids of the pins and references of each object.
    let rows = json(&["ls", t.n(), "--json", "--holders"]);
    let row = |id: &str| rows.as_array().unwrap().iter().find(|r| r["id"] == id).cloned().unwrap_or(Value::Null);
    assert_eq!(row(&pinned)["pin_holders"], serde_json::json!([holder.pid]), "{rows}");
    assert_eq!(row(&pinned)["ref_holders"], serde_json::json!([holder.pid]), "{rows}");
    assert_eq!(row(&doomed)["pin_holders"], serde_json::json!([holder2.pid]), "{rows}");
    assert_eq!(row(&unsealed.to_hex())["pin_holders"], serde_json::json!([]), "{rows}");
    let table = ok(&["ls", t.n(), "--holders"]);
    let line = table.lines().find(|l| l.starts_with(&pinned)).unwrap_or_default();
    assert!(
        table.lines().next().unwrap_or_default().trim_end().ends_with("HOLDERS")
            && line.trim_end().ends_with(&format!("pins {0} refs {0}", holder.pid)),
        "{table}"
    );

    // An unsealed object cannot be read or removed yet; a deleted one is gone.
    let err = fails(&["get", t.n(), &unsealed.to_hex(), "--timeout", "0"], 7);
    assert!(err.contains("is not sealed yet") && err.contains("--timeout"), "{err}");
    let err = fails(&["rm", t.n(), &unsealed.to_hex()], 7);
    assert!(err.contains("not sealed"), "{err}");
    let err = fails(&["get", t.n(), &doomed, "--timeout", "0"], 2);
    assert!(err.contains("was deleted"), "{err}");
    let err = fails(&["put", t.n(), "-", "--id", &doomed], 3);
    assert!(err.contains("already exists"), "the ID of a pinned deleted object stays reserved: {err}");
    // Nothing to reclaim while they live.
    let g = json(&["gc", t.n(), "--json"]);
    assert_eq!(g["processes"], 0, "{g}");
    assert_eq!(g["reclaimed_processes_total"], 0, "{g}");

    holder.kill();
    holder2.kill();

    let g = json(&["gc", t.n(), "--json"]);
    // gc reports what its own attach reclaimed plus what its collect did.
    assert_eq!(g["reclaimed_processes_total"], 2, "{g}");
    assert_eq!(g["processes"], 2, "{g}");
    assert!(g["pins"].as_u64().unwrap() >= 2, "{g}");
    assert_eq!(g["unsealed_objects"], 2, "{g}");
    assert_eq!(g["deleted_objects_freed"], 1, "{g}");
    for field in ["interrupted_steps", "pages"] {
        assert!(g[field].is_u64(), "gc --json has {field}: {g}");
    }
    let text = ok(&["gc", t.n()]);
    assert!(text.contains("no dead process to reclaim"), "{text}");
    assert!(text.contains("dead processes reclaimed since the store was created: 2"), "{text}");

    // What they held is released: pins, the unsealed objects, the deleted object.
    let s = json(&["stat", t.n(), "--json"]);
    assert_eq!(s["attached_processes"], 0, "{s}");
    assert_eq!(s["processes"], Value::Array(vec![]), "{s}");
    assert_eq!(s["unsealed_count"], 0, "{s}");
    assert_eq!(s["pinned_count"], 0, "{s}");
    let rows = json(&["ls", t.n(), "--json", "--holders"]);
    let row = |id: &str| rows.as_array().unwrap().iter().find(|r| r["id"] == id).cloned().unwrap_or(Value::Null);
    assert_eq!(
        (&row(&pinned)["pin_holders"], &row(&pinned)["ref_holders"]),
        (&serde_json::json!([]), &serde_json::json!([]))
    );
    assert_eq!(row(&pinned)["referencing_processes"], 0, "{rows}");
    assert_eq!(s["object_count"], 1, "{s}");
    assert_eq!(s["reclaimed_processes"], 2, "{s}");
    assert_eq!(listed_ids(t.n()), vec![pinned.clone()]);
    assert_eq!(json(&["ls", t.n(), "--json"])[0]["pinning_processes"], 0);
    assert!(get_bytes(t.n(), &pinned, &[]) == pattern(7, 10_000), "the pinned object survived intact");
    // The freed IDs may be used again.
    assert_eq!(put_bytes(t.n(), b"reborn", &["--id", &doomed]), doomed);
    assert_eq!(put_bytes(t.n(), b"sealed at last", &["--id", &unsealed.to_hex()]), unsealed.to_hex());
}

// ----- permissions ------------------------------------------------------------------

/// Runs the command as user `nobody` (when this test runs as root) so that
/// the kernel really refuses a store file created 0600 by root.
#[test]
fn permission_denied_is_exit_8_with_a_hint() {
    let t = TempStore::create("perm", "8MiB", &[]);
    // SAFETY: geteuid cannot fail and touches no memory.
    let is_root = unsafe { libc::geteuid() } == 0;
    let out = if is_root {
        use std::os::unix::process::CommandExt;
        // A copy of the binary where `nobody` may run it (the build tree
        // may be in a directory closed to other users).
        let dir = TempDir::new("perm");
        std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).unwrap();
        // Copied by `cp`, not by this process: a file this process had open
        // for writing could be inherited by a concurrent fork (a `Holder`),
        // and executing it would then fail with ETXTBSY.
        let bin = dir.file("objstore");
        assert!(Command::new("cp").arg(BIN).arg(&bin).status().unwrap().success());
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = Command::new(&bin).args(["stat", t.n()]).uid(65534).gid(65534).stdin(Stdio::null()).output().unwrap();
        // And creating a store in a directory nobody may write to.
        let ro = dir.file("ro");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
        let target = ro.join("store");
        let created = Command::new(&bin)
            .args(["create", target.to_str().unwrap(), "--capacity", "1MiB"])
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap();
        assert_eq!(created.status.code(), Some(8), "{}", describe(&["create", "(as nobody)"], &created));
        assert!(String::from_utf8_lossy(&created.stderr).contains("Permission denied"));
        assert!(!target.exists());
        out
    } else {
        // Not root: the owner is refused a file it made unreadable.
        std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o000)).unwrap();
        run(&["stat", t.n()])
    };
    assert_eq!(out.status.code(), Some(8), "{}", describe(&["stat", "(refused)"], &out));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains(&format!("cannot open store '{}': Permission denied", t.path())), "{err}");
    assert!(err.contains("hint:") && err.contains(&format!("{} belongs to uid", t.path())), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn a_damaged_store_file_is_refused_and_can_be_destroyed() {
    let dir = TempDir::new("corrupt");
    let path = dir.file("store");
    let p = path.to_str().unwrap();
    let _cleanup = TempStore { name: p.to_string() };
    ok(&["create", p, "--capacity", "1MiB"]);
    // Damage the header's fixed fields (their checksum no longer matches).
    let mut bytes = std::fs::read(&path).unwrap();
    for b in &mut bytes[8..64] {
        *b ^= 0x5a;
    }
    std::fs::write(&path, &bytes).unwrap();
    let out = run(&["stat", p]);
    assert!(
        matches!(out.status.code(), Some(9) | Some(10)),
        "incompatible or corrupt: {}",
        describe(&["stat", p], &out)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("hint:"), "{}", describe(&["stat", p], &out));
    std::fs::write(&path, b"short").unwrap();
    let err = fails(&["stat", p], 10);
    assert!(err.contains("destroy"), "{err}");
    ok(&["destroy", p]);
    assert!(!path.exists());
}

// ----- ls without a store, check, completions, the default store ----------------

/// The rows of `ls` (no store) in JSON, from the directories given with
/// --dir (none: /dev/shm).
fn store_rows(dirs: &[&Path]) -> Vec<Value> {
    let mut args = vec!["ls", "--json"];
    for d in dirs {
        args.extend(["--dir", d.to_str().unwrap()]);
    }
    let v = json(&args);
    v.as_array().unwrap_or_else(|| panic!("not an array: {v}")).clone()
}

fn row_named<'a>(rows: &'a [Value], name: &str) -> Option<&'a Value> {
    rows.iter().find(|r| r["name"] == name)
}

#[test]
fn ls_without_a_store_lists_the_stores_in_dev_shm() {
    let t = TempStore::create("lsstores", "8MiB", &[]);
    put_bytes(t.n(), b"one", &[]);
    put_bytes(t.n(), b"two", &[]);
    let rows = store_rows(&[]);
    let r = row_named(&rows, t.n()).unwrap_or_else(|| panic!("{} not listed: {rows:?}", t.n()));
    assert_eq!(r["path"], t.path());
    assert_eq!(r["status"], "ok", "{r}");
    assert_eq!(r["capacity_bytes"], 8 << 20, "{r}");
    assert_eq!(r["object_count"], 2, "{r}");
    assert!(r["used_bytes"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(r["attached_processes"], 0, "the listing leaves itself out: {r}");
    assert_eq!(r["max_processes"], 256, "{r}");
    assert_eq!(r["mode"], "0600", "{r}");
    assert_eq!(r["uid"], unsafe { libc::geteuid() }, "{r}");

    // A process attached is counted.
    let (mut watch, _stdout) = start_watch(t.n(), "1s");
    let rows = store_rows(&[]);
    assert_eq!(row_named(&rows, t.n()).unwrap()["attached_processes"], 1);
    watch.kill().unwrap();
    watch.wait().unwrap();

    // The table has the store on a line of its own, and -q names only.
    let table = ok(&["ls"]);
    let header = table.lines().next().unwrap();
    for col in ["NAME", "OWNER", "MODE", "SIZE", "USED", "USE%", "OBJECTS", "PROCS", "STATUS"] {
        assert!(header.contains(col), "{header}");
    }
    let line = table.lines().find(|l| l.starts_with(&format!("{} ", t.n()))).unwrap_or_else(|| panic!("{table}"));
    assert!(line.contains("8 MiB") && line.ends_with("ok"), "{line}");
    assert!(ok(&["ls", "-q"]).lines().any(|l| l == t.n()));
    // Object filters make no sense for stores.
    assert!(fails(&["ls", "--pinned"], 1).contains("name a store"));
}

#[test]
fn ls_dir_lists_the_stores_of_a_directory_and_what_it_can_of_others() {
    let dir = TempDir::new("lsdir");
    let good = dir.file("good");
    let _cleanup = TempStore { name: good.to_str().unwrap().to_string() };
    ok(&["create", good.to_str().unwrap(), "--capacity", "1MiB", "--mode", "0640"]);
    // Not stores: a text file, a short file, a directory.
    std::fs::write(dir.file("notes.txt"), "not a store").unwrap();
    std::fs::write(dir.file("tiny"), "OBJ").unwrap();
    std::fs::create_dir(dir.file("subdir")).unwrap();
    // A store whose header was damaged.
    let broken = dir.file("broken");
    let _cleanup2 = TempStore { name: broken.to_str().unwrap().to_string() };
    ok(&["create", broken.to_str().unwrap(), "--capacity", "1MiB"]);
    let mut bytes = std::fs::read(&broken).unwrap();
    bytes[30] ^= 0xff;
    std::fs::write(&broken, &bytes).unwrap();

    let rows = store_rows(&[&dir.0]);
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec![broken.to_str().unwrap(), good.to_str().unwrap()], "only the stores, by name");
    let g = row_named(&rows, good.to_str().unwrap()).unwrap();
    assert_eq!(
        (g["status"].as_str(), g["mode"].as_str(), g["capacity_bytes"].as_u64()),
        (Some("ok"), Some("0640"), Some(1 << 20))
    );
    let b = row_named(&rows, broken.to_str().unwrap()).unwrap();
    assert_eq!(b["status"], "corrupt", "{b}");
    assert!(b["capacity_bytes"].is_null() && b["detail"].as_str().unwrap().contains("checksum"), "{b}");

    // A store of another user: described from its header, not attached.
    // SAFETY: geteuid cannot fail and touches no memory.
    if unsafe { libc::geteuid() } == 0 {
        let c = std::ffi::CString::new(good.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::chown(c.as_ptr(), 65534, 65534) }, 0);
        let rows = store_rows(&[&dir.0]);
        let g = row_named(&rows, good.to_str().unwrap()).unwrap();
        assert_eq!(g["status"], "header only", "{g}");
        assert_eq!(g["uid"], 65534, "{g}");
        assert_eq!(g["capacity_bytes"], 1 << 20, "what the header says is known: {g}");
        assert!(g["used_bytes"].is_null() && g["attached_processes"].is_null(), "{g}");
        assert!(g["detail"].as_str().unwrap().contains("belongs to"), "{g}");
    } else {
        // Not root: a store this user may not read is left out, with a note.
        std::fs::set_permissions(&good, std::fs::Permissions::from_mode(0o000)).unwrap();
        let out = run(&["ls", "--dir", dir.0.to_str().unwrap(), "--json"]);
        assert!(out.status.success(), "{}", describe(&["ls", "--dir"], &out));
        assert!(String::from_utf8_lossy(&out.stderr).contains("1 file in"), "{}", describe(&["ls", "--dir"], &out));
        std::fs::set_permissions(&good, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    // A missing directory is "not found".
    let err = fails(&["ls", "--dir", dir.file("nope").to_str().unwrap()], 2);
    assert!(err.contains("cannot list"), "{err}");
    // Nothing was created by looking.
    assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 5);
}

#[test]
fn check_reports_problems_with_its_exit_status() {
    let spill = TempDir::new("checkspill");
    let t = TempStore::create("check", "1MiB", &["--spill-dir", spill.0.to_str().unwrap()]);
    let out = ok(&["check", t.n()]);
    assert_eq!(out, format!("store '{}' ({}): no problems found\n", t.n(), t.path()));
    let j = json(&["check", t.n(), "--json"]);
    assert_eq!((j["ok"].as_bool(), j["passes"].as_u64()), (Some(true), Some(1)), "{j}");

    // Fill the store until objects spill, then remove their spill files.
    let block = vec![7u8; 300 << 10];
    for _ in 0..8 {
        put_bytes(t.n(), &block, &[]);
    }
    let spilled = json(&["stat", t.n(), "--json"])["spilled_count"].as_u64().unwrap();
    assert!(spilled > 0, "nothing spilled");
    assert_eq!(ok(&["check", t.n()]).lines().count(), 1, "a sound store with spilled objects");
    for f in std::fs::read_dir(&spill.0).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }

    let out = run(&["check", t.n(), "--passes", "2"]);
    assert_eq!(out.status.code(), Some(10), "{}", describe(&["check"], &out));
    let report = String::from_utf8(out.stdout).unwrap();
    assert!(report.starts_with(&format!("store '{}' ({}): {spilled} problem", t.n(), t.path())), "{report}");
    assert_eq!(report.lines().filter(|l| l.contains("has no spill file")).count() as u64, spilled, "{report}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains(&format!("store '{}' has {spilled} problem", t.n())) && err.contains("hint:"), "{err}");

    let out = run(&["check", t.n(), "--json"]);
    assert_eq!(out.status.code(), Some(10));
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((j["ok"].as_bool(), j["passes"].as_u64()), (Some(false), Some(3)), "{j}");
    assert_eq!(j["problems"].as_array().unwrap().len() as u64, spilled, "{j}");
    // A store that is not there is "not found", as for every command.
    fails(&["check", "objstore-cli-check-no-such-store"], 2);
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    let bash = ok(&["completions", "bash"]);
    // Complete `objstore st<TAB>` and `objstore check --p<TAB>` in bash.
    let dir = TempDir::new("completions");
    let script = dir.file("objstore.bash");
    std::fs::write(&script, &bash).unwrap();
    let probe = format!(
        "source {}\n\
         COMP_WORDS=(objstore st); COMP_CWORD=1; _objstore objstore st objstore; echo \"1:${{COMPREPLY[*]}}\"\n\
         COMP_WORDS=(objstore check --pa); COMP_CWORD=2; _objstore objstore --pa check; echo \"2:${{COMPREPLY[*]}}\"\n\
         COMP_WORDS=(objstore completions ''); COMP_CWORD=2; _objstore objstore '' completions; echo \"3:${{COMPREPLY[*]}}\"\n",
        script.display()
    );
    let out = Command::new("bash").arg("-c").arg(&probe).output().expect("bash");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "bash: {}{}", text, String::from_utf8_lossy(&out.stderr));
    let line = |n: &str| text.lines().find(|l| l.starts_with(n)).unwrap_or_default().to_string();
    assert!(line("1:").contains("stat") && line("1:").contains("sta"), "{text}");
    assert!(!line("1:").contains("create"), "only what matches 'st': {text}");
    assert!(line("2:").contains("--passes"), "{text}");
    assert!(line("3:").contains("bash") && line("3:").contains("zsh") && line("3:").contains("fish"), "{text}");

    let zsh = ok(&["completions", "zsh"]);
    assert!(zsh.starts_with("#compdef objstore"), "{zsh}");
    let fish = ok(&["completions", "fish"]);
    assert!(fish.contains("complete -c objstore"), "{fish}");
    for sub in SUBCOMMANDS {
        assert!(zsh.contains(sub) && fish.contains(sub), "{sub} missing from a completion script");
    }
    // Where the shells are installed, their scripts must parse.
    for (shell, text) in [("zsh", &zsh), ("fish", &fish)] {
        let path = dir.file(shell);
        std::fs::write(&path, text).unwrap();
        if let Ok(out) = Command::new(shell).arg("-n").arg(&path).output() {
            assert!(out.status.success(), "{shell} -n: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
    assert!(fails(&["completions", "tcsh"], 1).contains("invalid value 'tcsh'"));
}

/// Runs the command with OBJSTORE_STORE set to `store`.
fn run_in(store: &str, args: &[&str], input: &[u8]) -> Output {
    let mut child = objstore()
        .env("OBJSTORE_STORE", store)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run objstore");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}

#[test]
fn objstore_store_names_the_default_store() {
    let t = TempStore::create("envdefault", "8MiB", &[]);
    let other = TempStore::create("envother", "8MiB", &[]);
    let ok_in = |args: &[&str], input: &[u8]| {
        let out = run_in(t.n(), args, input);
        assert!(out.status.success(), "{}", describe(args, &out));
        out.stdout
    };
    let id = String::from_utf8(ok_in(&["put", "-"], b"from the default")).unwrap().trim().to_string();
    assert_eq!(ok_in(&["get", &id], b""), b"from the default");
    assert_eq!(ok_in(&["get", &id, "--timeout", "0"], b""), b"from the default");
    let st: Value = serde_json::from_slice(&ok_in(&["stat", "--json"], b"")).unwrap();
    assert_eq!((st["name"].as_str(), st["object_count"].as_u64()), (Some(t.n()), Some(1)));
    assert_eq!(String::from_utf8(ok_in(&["ls", "-q"], b"")).unwrap(), format!("{id}\n"), "ls lists its objects");
    assert!(String::from_utf8(ok_in(&["check"], b"")).unwrap().contains("no problems found"));
    ok_in(&["gc"], b"");
    ok_in(&["watch", "--count", "1"], b"");
    // A named store wins over the default.
    let in_other = String::from_utf8(ok_in(&["put", other.n(), "-"], b"named")).unwrap().trim().to_string();
    assert_eq!(get_bytes(other.n(), &in_other, &[]), b"named");
    assert_eq!(json(&["stat", t.n(), "--json"])["object_count"], 1);
    // --stores lists the stores even with a default store.
    let rows: Value = serde_json::from_slice(&ok_in(&["ls", "--stores", "--json"], b"")).unwrap();
    assert!(rows.as_array().unwrap().iter().any(|r| r["name"] == other.n()), "{rows}");
    // rm: IDs alone delete from the default store; a store name first, from that store.
    ok_in(&["rm", &id], b"");
    ok_in(&["rm", other.n(), &in_other], b"");
    assert_eq!(json(&["stat", t.n(), "--json"])["object_count"], 0);
    assert_eq!(json(&["stat", other.n(), "--json"])["object_count"], 0);
    // create and destroy never take the default: the name is required.
    let out = run_in(t.n(), &["destroy"], b"");
    assert_eq!(out.status.code(), Some(1), "{}", describe(&["destroy"], &out));
    assert!(Path::new(&t.path()).exists());

    // Without OBJSTORE_STORE, a command that needs a store says so.
    let err = fails(&["get", &"ab".repeat(20)], 1);
    assert!(err.contains("OBJSTORE_STORE"), "{err}");
    assert!(fails(&["stat"], 1).contains("OBJSTORE_STORE"));
    assert!(fails(&["rm", &"ab".repeat(20)], 1).contains("OBJSTORE_STORE"));
}

// ----- the remote tier ----------------------------------------------------------------

/// Without the remote tier, a store with a remote is refused, saying why.
#[cfg(not(feature = "remote"))]
#[test]
fn create_with_a_remote_needs_the_remote_tier() {
    let t = TempStore::new("noremote");
    let err = fails(&["create", t.n(), "--capacity", "1MiB", "--remote", "s3://bucket/prefix"], 1);
    assert!(err.contains("feature `remote`"), "{err}");
}

/// Two "machines" (two stores) sharing a file:// remote: put and publish
/// on one, get on the other fetches it.
#[cfg(feature = "remote")]
#[test]
fn publish_on_one_store_and_get_on_another() {
    let dir = TempDir::new("remote");
    let url = format!("file://{}", dir.0.display());
    let a = TempStore::create("remote-a", "16MiB", &["--remote", &url]);
    let b = TempStore::create("remote-b", "16MiB", &["--remote", &url]);
    let plain = TempStore::create("remote-plain", "1MiB", &[]);
    let data = pattern(7, 3 << 20);
    let id = put_bytes(a.n(), &data, &[]);
    let id = id.trim();
    assert!(ok(&["publish", "-v", a.n(), id]).contains(&format!("published {id}")));
    let out = run(&["get", b.n(), id, "--timeout", "10s"]);
    assert!(out.status.success(), "{}", describe(&["get"], &out));
    assert!(out.stdout == data, "the fetched object differs");
    // stat shows the remote and its traffic, in text and JSON.
    let text = ok(&["stat", b.n()]);
    assert!(text.contains(&format!("remote:     {url}\n")), "{text}");
    assert!(text.contains("published 0 objects (0 B), fetched 1 object (3 MiB) since creation"), "{text}");
    let s = json(&["stat", a.n(), "--json"]);
    assert_eq!(s["remote_url"], url.as_str());
    assert_eq!(s["spill_dir"], Value::Null);
    assert!(s["publishes_total"].as_u64().unwrap() >= 1 && s["published_bytes"].as_u64().unwrap() > 3 << 20, "{s}");
    assert_eq!(json(&["stat", b.n(), "--json"])["fetched_bytes"], 3u64 << 20);
    let s = json(&["stat", plain.n(), "--json"]);
    assert_eq!(s["remote_url"], Value::Null);
    assert!(ok(&["stat", plain.n()]).contains("remote:     none\n"));
    // Unpublish removes it; a store without a remote cannot publish.
    ok(&["unpublish", a.n(), id]);
    let err = fails(&["unpublish", a.n(), id], 2);
    assert!(err.contains("not found"), "{err}");
    let err = fails(&["publish", plain.n(), id], 1);
    assert!(err.contains("has no remote") && err.contains("--remote"), "{err}");
}

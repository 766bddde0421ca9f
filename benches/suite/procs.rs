//! Real processes for the multi-process figures, and the clean-up of
//! everything the suite creates.
//!
//! Workers are this same binary re-run with `--worker KIND ARGS...`. A
//! worker asks the kernel to kill it when the parent dies (PR_SET_PDEATHSIG),
//! so a suite killed by a signal leaves no worker behind; the parent kills
//! and reaps its workers when their guard drops, so a panicking suite
//! leaves none either. Stores and scratch files are removed by guards on
//! drop; a suite killed by SIGKILL leaves its files, and the next run
//! removes those of every suite process that no longer exists.
//!
//! Protocol: a worker sets up (attaches, puts what it needs), prints
//! `ready`, reads `go START` (a CLOCK_MONOTONIC time in ns, the same clock
//! in every process), spins until then, runs, prints one result line and
//! exits. Every figure is computed by the parent.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU32, AtomicU64};

use objstore::Store;

/// Prefix of every file the suite creates in /dev/shm.
pub const PREFIX: &str = "objstore-suite-";

/// CLOCK_MONOTONIC in ns: comparable between processes, unlike `Instant`.
pub fn mono_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Spins until `mono_ns() >= at` (sleeping first while far away).
pub fn wait_until(at: u64) {
    loop {
        let now = mono_ns();
        if now >= at {
            return;
        }
        if at - now > 2_000_000 {
            std::thread::sleep(std::time::Duration::from_nanos((at - now) / 2));
        } else {
            std::hint::spin_loop();
        }
    }
}

/// A store name unique to this run, destroyed on drop.
pub struct TempStore {
    pub name: String,
}

impl TempStore {
    pub fn new(tag: &str) -> TempStore {
        let name = format!("{PREFIX}{}-{tag}", std::process::id());
        let _ = Store::destroy(&name);
        TempStore { name }
    }

    pub fn path(&self) -> String {
        format!("{}/{}", objstore::SHM_DIR, self.name)
    }
}

impl Drop for TempStore {
    fn drop(&mut self) {
        let _ = Store::destroy(&self.name);
    }
}

/// A small shared-memory file of atomic words (for the baselines: private
/// and shared counters, a futex), removed on drop.
pub struct SharedWords {
    pub path: String,
    base: *mut u8,
    len: usize,
    _file: File,
}

impl SharedWords {
    /// Creates the file (parent) or maps an existing one (worker).
    pub fn open(path: &str, len: usize, create: bool) -> SharedWords {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(create)
            .open(path)
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
        if create {
            file.set_len(len as u64).expect("size the shared file");
        }
        // SAFETY: a fresh shared mapping of `len` bytes of our file; it is
        // unmapped in Drop and only accessed through atomics.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        assert!(base != libc::MAP_FAILED, "mmap {path}");
        SharedWords { path: path.to_string(), base: base.cast(), len, _file: file }
    }

    /// The 64-bit word at byte `offset` (8-aligned).
    pub fn u64(&self, offset: usize) -> &AtomicU64 {
        assert!(offset.is_multiple_of(8) && offset + 8 <= self.len);
        // SAFETY: in bounds and aligned (checked); the mapping lives as long
        // as `self`; every access to it is atomic.
        unsafe { &*self.base.add(offset).cast::<AtomicU64>() }
    }

    /// The 32-bit word at byte `offset` (4-aligned), e.g. a futex.
    pub fn u32(&self, offset: usize) -> &AtomicU32 {
        assert!(offset.is_multiple_of(4) && offset + 4 <= self.len);
        // SAFETY: as for `u64`.
        unsafe { &*self.base.add(offset).cast::<AtomicU32>() }
    }
}

impl Drop for SharedWords {
    fn drop(&mut self) {
        // SAFETY: our own mapping; the references handed out borrowed `self`.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

/// Removes the shared file when the parent is done with it.
pub struct RemoveOnDrop(pub String);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Removes the stores and files of suite runs whose process is gone.
pub fn remove_stale_files() {
    let Ok(dir) = std::fs::read_dir(objstore::SHM_DIR) else { return };
    for e in dir.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(PREFIX) else { continue };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { continue };
        // A zombie still has its /proc entry: its files go at the next run.
        let gone = pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists();
        if gone && Store::destroy(&name).is_err() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Sleeps while `word` holds `expected`, for at most `timeout` (None: no
/// limit).
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<&libc::timespec>) {
    let timeout = timeout.map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: a futex wait on a word of a shared mapping; the kernel only
    // reads it, and the timeout (null or a live timespec). No
    // FUTEX_PRIVATE_FLAG: the waker is another process.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAIT, expected, timeout);
    }
}

pub fn futex_wake(word: &AtomicU32) {
    // SAFETY: as above; wakes at most one waiter.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, 1);
    }
}

/// A worker process, killed and reaped when dropped.
pub struct Worker {
    child: Child,
    pub stdin: ChildStdin,
    pub stdout: BufReader<ChildStdout>,
}

impl Worker {
    pub fn spawn(args: &[String]) -> Worker {
        let exe = std::env::current_exe().expect("own executable");
        let mut child = Command::new(exe)
            .arg("--worker")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn a worker process");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Worker { child, stdin, stdout }
    }

    /// The worker's next line; panics (killing every worker) if it died.
    pub fn line(&mut self) -> String {
        let mut s = String::new();
        let n = self.stdout.read_line(&mut s).expect("read from a worker");
        assert!(n > 0, "a worker exited early (see its message above)");
        s.trim_end().to_string()
    }

    pub fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("write to a worker");
        self.stdin.flush().expect("flush to a worker");
    }

    /// Waits for the worker to exit and checks it succeeded.
    pub fn finish(mut self) {
        let st = self.child.wait().expect("wait for a worker");
        assert!(st.success(), "a worker failed: {st}");
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Starts every worker together: waits for each to say `ready`, then tells
/// all of them a start time a few milliseconds ahead.
pub fn start_together(workers: &mut [Worker]) {
    for w in workers.iter_mut() {
        let l = w.line();
        assert_eq!(l, "ready", "worker handshake");
    }
    let start = mono_ns() + 5_000_000 + 1_000_000 * workers.len() as u64;
    for w in workers.iter_mut() {
        w.send(&format!("go {start}"));
    }
}

// ----- worker side -------------------------------------------------------------

/// Worker set-up common to every kind: die with the parent.
pub fn worker_init() {
    // SAFETY: prctl with PR_SET_PDEATHSIG only sets a flag on this process.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    // The parent may have died before the flag was set.
    // SAFETY: getppid cannot fail.
    if unsafe { libc::getppid() } == 1 {
        std::process::exit(1);
    }
}

/// Worker side of `start_together`: says ready, returns the start time.
pub fn worker_ready() -> u64 {
    println!("ready");
    std::io::stdout().flush().unwrap();
    let mut l = String::new();
    std::io::stdin().read_line(&mut l).expect("read go");
    l.trim().strip_prefix("go ").and_then(|s| s.parse().ok()).expect("a go line")
}

//! Child processes for the multi-process tests.
//!
//! A test binary re-runs itself as a child: `child_command(role, args)`
//! starts it with `--ignored --exact child_entry`, and the `child_entry`
//! test of that binary (ignored in normal runs) calls `run_child()`, which
//! plays the role named in OBJSTORE_CHILD. Children report to the parent on
//! stdout, one event per line starting with '@'; a child started with
//! `spawn_child_with_stdin` also reads lines the parent sends to its stdin
//! (`ChildGuard::send_line`, `stdin_lines`). Children are killed and
//! reaped when their `ChildGuard` drops, so a failing test leaves none.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use objstore::{ErrorKind, ObjectId, Options, Store};

use super::pattern;

/// The ID of object `n` of child `child`.
pub fn derived_id(child: u32, n: u64) -> ObjectId {
    let mut id = ObjectId([0; 20]);
    id.0[0..4].copy_from_slice(&child.to_le_bytes());
    id.0[4..12].copy_from_slice(&n.to_le_bytes());
    id.0[12..20].copy_from_slice(&(n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ child as u64).to_le_bytes());
    id
}

/// The bytes object `id` must hold: its length and content follow from the
/// ID, so anyone can check any object.
pub fn content_for(id: &ObjectId) -> Vec<u8> {
    const LENS: [usize; 8] = [0, 10, 100, 1000, 5000, 70_000, 300_000, 1_100_000];
    let seed = u64::from_le_bytes(id.0[12..20].try_into().unwrap());
    let len = LENS[(seed % 8) as usize] + (seed as usize >> 8) % 64;
    pattern(seed, len)
}

/// Checks an object read from the store against `content_for`.
pub fn check_content(id: &ObjectId, data: &[u8]) -> bool {
    data == content_for(id).as_slice()
}

/// A running child, killed and reaped on drop.
pub struct ChildGuard {
    pub child: Child,
    pub events: mpsc::Receiver<String>,
}

impl ChildGuard {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(self.pid(), sig) };
    }

    /// Stops the child and waits until the kernel reports it stopped (a
    /// loaded machine may not run it for a while after the signal, and
    /// until then a system call of its may still be finishing).
    pub fn stop(&self) {
        self.signal(libc::SIGSTOP);
        let stat = format!("/proc/{}/stat", self.pid());
        for _ in 0..10_000 {
            match std::fs::read_to_string(&stat) {
                // The state follows the command name in parentheses.
                Ok(s) if s.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('T')) => return,
                Ok(_) => std::thread::sleep(Duration::from_micros(200)),
                Err(_) => return,
            }
        }
        panic!("child {} did not stop", self.pid());
    }

    /// The next event, waiting at most `timeout`.
    pub fn next_event(&self, timeout: Duration) -> Option<String> {
        self.events.recv_timeout(timeout).ok()
    }

    /// Waits for an event equal to `want`, returning the events before it.
    pub fn wait_for(&self, want: &str, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut seen = vec![];
        while Instant::now() < deadline {
            match self.events.recv_timeout(deadline - Instant::now()) {
                Ok(e) if e == want => return seen,
                Ok(e) => seen.push(e),
                Err(_) => break,
            }
        }
        panic!("child {} did not report '{want}' in {timeout:?}; saw {seen:?}", self.pid());
    }

    /// Waits for exit at most `timeout`; kills it after that.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            if Instant::now() > deadline {
                // Show where it is stuck (gdb is optional: best effort).
                let trace = Command::new("gdb")
                    .args(["-p", &self.pid().to_string(), "-batch", "-ex", "thread apply all bt"])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default();
                let _ = self.child.kill();
                panic!("child {} did not exit within {timeout:?}\n{trace}", self.pid());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Writes one line to the stdin of a child started with
    /// `spawn_child_with_stdin`, without waiting: false if the child cannot
    /// take it now (it exited, or it is stopped and its pipe is full). A
    /// line of up to 4 KiB goes whole or not at all (PIPE_BUF).
    pub fn send_line(&mut self, line: &str) -> bool {
        let Some(stdin) = self.child.stdin.as_mut() else { return false };
        let mut buf = line.as_bytes().to_vec();
        buf.push(b'\n');
        assert!(buf.len() <= 4096, "a line too long for one pipe write");
        matches!(stdin.write(&buf), Ok(n) if n == buf.len())
    }

    /// Every remaining event (after the child exited or was killed).
    pub fn drain(&self) -> Vec<String> {
        let mut out = vec![];
        while let Ok(e) = self.events.recv_timeout(Duration::from_secs(5)) {
            out.push(e);
        }
        out
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        // SIGCONT first, in case a test left it stopped.
        self.signal(libc::SIGCONT);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn forward_events(out: ChildStdout, tx: mpsc::Sender<String>) {
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if let Some(ev) = line.strip_prefix('@') {
                if tx.send(ev.to_string()).is_err() {
                    break;
                }
            }
        }
    });
}

/// Starts this test binary as a child playing `role`.
pub fn spawn_child(role: &str, args: &[String]) -> ChildGuard {
    spawn_with(role, args, false)
}

/// `spawn_child`, with a pipe to the child's stdin: the parent writes lines
/// with `ChildGuard::send_line` (never blocking on it), the child reads
/// them with `stdin_lines`.
pub fn spawn_child_with_stdin(role: &str, args: &[String]) -> ChildGuard {
    spawn_with(role, args, true)
}

fn spawn_with(role: &str, args: &[String], stdin: bool) -> ChildGuard {
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = Command::new(exe)
        .args(["--ignored", "--exact", "child_entry", "--nocapture", "--test-threads=1", "-q"])
        .env("OBJSTORE_CHILD", role)
        .env("OBJSTORE_CHILD_ARGS", args.join(" "))
        .stdin(if stdin { Stdio::piped() } else { Stdio::inherit() })
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child");
    if let Some(w) = &child.stdin {
        // SAFETY: sets a flag on the pipe's write end, which we own.
        let fd = w.as_raw_fd();
        let rc = unsafe { libc::fcntl(fd, libc::F_SETFL, libc::fcntl(fd, libc::F_GETFL) | libc::O_NONBLOCK) };
        assert_eq!(rc, 0, "O_NONBLOCK on the child's stdin");
    }
    let (tx, rx) = mpsc::channel();
    forward_events(child.stdout.take().expect("piped"), tx);
    ChildGuard { child, events: rx }
}

fn emit(event: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "@{event}");
    let _ = out.flush();
}

/// The lines the parent sends to this child's stdin, read by a thread of
/// their own (a child started with `spawn_child_with_stdin`).
pub fn stdin_lines() -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn attach(name: &str) -> Store {
    Store::open(name, &Options { attach_only: true, ..Options::default() }).expect("child attaches")
}

/// A small deterministic generator for the children's random choices.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Plays the role given in the environment; a no-op when not a child.
pub fn run_child() {
    let Ok(role) = std::env::var("OBJSTORE_CHILD") else { return };
    let args: Vec<String> =
        std::env::var("OBJSTORE_CHILD_ARGS").unwrap_or_default().split_whitespace().map(String::from).collect();
    match role.as_str() {
        "churn" => churn(&args[0], args[1].parse().unwrap(), args[2].parse().unwrap()),
        "hold" => hold(&args[0], &args[1..]),
        "ref_hold" => ref_hold(&args[0], &args[1..]),
        "give" => give(&args[0], args[1].parse().unwrap()),
        "fresh_giver" => fresh_giver(&args[0], args[1].parse().unwrap()),
        "give_and_detach" => give_and_detach(&args[0], args[1].parse().unwrap()),
        "wait" => wait(&args[0], &args[1], args[2].parse().unwrap()),
        "putget" => putget(&args[0], args[1].parse().unwrap(), args[2].parse().unwrap(), args[3].parse().unwrap()),
        "stats" => {
            let s = attach(&args[0]);
            let st = s.stats().unwrap();
            emit(format!(
                "stats {} {} {} {}",
                st.pinned_count, st.unsealed_count, st.object_count, st.attached_processes
            ));
        }
        "attach" => match Store::open(&args[0], &Options { attach_only: true, ..Options::default() }) {
            Ok(_s) => emit("attached"),
            Err(e) => emit(format!("error {:?}", e.kind())),
        },
        "abuse" => abuse(&args[0], args[1].parse().unwrap()),
        "spill_churn" => spill_churn(&args[0], args[1].parse().unwrap(), args[2].parse().unwrap()),
        "put_as_nobody" => put_as_nobody(&args[0], &args[1..]),
        "strict_spill_putter" => strict_spill_putter(&args[0], args[1].parse().unwrap(), args[2].parse().unwrap()),
        "random_getter" => {
            random_getter(&args[0], args[1].parse().unwrap(), args[2].parse().unwrap(), args[3].parse().unwrap())
        }
        "soak_worker" => soak_worker(&args[0], args[1].parse().unwrap(), args[2].parse().unwrap()),
        "ref_soak_worker" => {
            ref_soak_worker(&args[0], args[1].parse().unwrap(), args[2].parse().unwrap(), args[3].parse().unwrap())
        }
        "attach_once" => attach_once(&args[0], args[1].parse().unwrap()),
        "big_spiller" => big_spiller(&args[0], args[1].parse().unwrap()),
        "collector" => collector(&args[0], args[1].parse().unwrap(), args[2].parse().unwrap()),
        "attach_put_detach" => attach_put_detach(&args[0], args[1].parse().unwrap(), args[2].parse().unwrap()),
        "put_in_turn" => put_in_turn(&args[0], args[1].parse().unwrap(), args[2].parse().unwrap()),
        "put_and_delete" => put_and_delete(&args[0], &args[1..]),
        "wait_set" => wait_set(&args[0], args[1].parse().unwrap()),
        "wait_set_add" => wait_set_add(&args[0], args[1].parse().unwrap()),
        other => panic!("unknown child role {other}"),
    }
}

/// Random puts, gets (some pins held across operations), deletes and
/// create/seal/abort, forever. Reports "+ID" after a put returned and "-ID"
/// before a delete starts.
fn churn(name: &str, child: u32, seed: u64) {
    let s = attach(name);
    let mut rng = Rng(seed | 1);
    let mut live: Vec<ObjectId> = vec![];
    let mut held: Vec<ObjectId> = vec![];
    let mut n = 0u64;
    emit("ready");
    loop {
        match rng.below(10) {
            0..=3 => {
                let id = derived_id(child, n);
                n += 1;
                let data = content_for(&id);
                let r = if rng.below(2) == 0 {
                    s.put_as(&id, &data, b"churn")
                } else {
                    s.create(&id, data.len(), b"churn").and_then(|mut c| {
                        let half = data.len() / 2;
                        c.data_mut()[..half].copy_from_slice(&data[..half]);
                        c.data_mut()[half..].copy_from_slice(&data[half..]);
                        c.seal()
                    })
                };
                match r {
                    Ok(()) => {
                        emit(format!("+{id}"));
                        live.push(id);
                    }
                    Err(e) if e.kind() == ErrorKind::OutOfMemory => {}
                    Err(e) => panic!("put failed: {e}"),
                }
            }
            4..=6 if !live.is_empty() => {
                let id = live[rng.below(live.len() as u64) as usize];
                let obj = s.get_raw(&id, Some(Duration::ZERO)).expect("own object present");
                // SAFETY: pinned until released below.
                let data = unsafe { std::slice::from_raw_parts(obj.data, obj.data_len) };
                assert!(check_content(&id, data), "object {id} corrupted");
                held.push(id);
                if held.len() > 3 || rng.below(2) == 0 {
                    let r = held.remove(0);
                    s.release(&r).unwrap();
                }
            }
            7..=8 if !live.is_empty() => {
                let id = live.swap_remove(rng.below(live.len() as u64) as usize);
                emit(format!("-{id}"));
                s.delete(&id).unwrap();
            }
            _ => {
                let id = derived_id(child, n);
                n += 1;
                if let Ok(mut c) = s.create(&id, 1000, b"aborted") {
                    c.data_mut()[0] = 1;
                    c.abort().unwrap();
                }
            }
        }
    }
}

/// Pins the given objects, creates an unsealed one, reports "ready", and
/// holds everything until killed.
fn hold(name: &str, ids: &[String]) {
    let s = attach(name);
    for h in ids {
        let id: ObjectId = h.parse().unwrap();
        s.get_raw(&id, Some(Duration::from_secs(10))).expect("object to pin");
    }
    let unsealed = ObjectId([0xa5; 20]);
    let p = s.create_raw(&unsealed, 200_000, b"half").expect("create");
    // SAFETY: 200_000 writable bytes until seal/abort.
    unsafe { std::ptr::write_bytes(p, 7, 100_000) };
    emit("ready");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Takes a reference to each object, then waits to be killed.
fn ref_hold(name: &str, ids: &[String]) {
    let s = attach(name);
    for h in ids {
        let id: ObjectId = h.parse().unwrap();
        s.add_ref(&id).expect("a reference");
    }
    emit("ready");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Puts `count` REFCOUNTED objects and gives a ticket for each (its only
/// reference), reporting "ticket ID TICKET", then waits to be killed.
fn give(name: &str, count: u64) {
    let s = attach(name);
    for n in 0..count {
        let id = derived_id(9, n);
        s.put_as_ex(&id, &content_for(&id), b"", objstore::OBJECT_REFCOUNTED).expect("put");
        let ticket = s.give_ref(&id).expect("a ticket");
        emit(format!("ticket {} {ticket}", id.to_hex()));
    }
    emit("ready");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// The bytes of an object a `fresh_giver` put with tag `tag` (its
/// metadata): its ID is fresh, known only once it is put, so the content
/// follows from the tag, which the metadata carries.
pub fn fresh_content(tag: u64) -> Vec<u8> {
    pattern(tag, 64 + (tag % 3000) as usize)
}

/// Whether `data` and `meta` are the content and tag of a `fresh_giver`'s
/// object.
pub fn check_fresh(data: &[u8], meta: &[u8]) -> bool {
    meta.len() == 8 && data == fresh_content(u64::from_le_bytes(meta.try_into().unwrap())).as_slice()
}

/// Puts REFCOUNTED objects with fresh IDs until killed (its first
/// references are kept apart from its counts, see `object::creator_refs`):
/// drops some at once, refs and unrefs some, keeps some (dropping the
/// oldest beyond 64), and gives the rest away, reporting "ticket ID T".
/// Reports "ready" first.
fn fresh_giver(name: &str, seed: u64) {
    let s = attach(name);
    let mut rng = Rng(seed | 1);
    let mut kept: Vec<ObjectId> = Vec::new();
    emit("ready");
    loop {
        let tag = rng.next();
        let id = s.put_ex(&fresh_content(tag), &tag.to_le_bytes(), objstore::OBJECT_REFCOUNTED).expect("put");
        match rng.below(4) {
            0 => {
                s.unref(&id).expect("unref of a fresh put");
                // Nobody else knew the ID: its last reference went.
                assert!(!s.contains(&id).unwrap(), "object {id} outlived its only reference");
            }
            1 => match s.give_ref(&id) {
                Ok(ticket) => emit(format!("ticket {} {ticket}", id.to_hex())),
                Err(e) if e.kind() == ErrorKind::OutOfMemory => kept.push(id),
                Err(e) => panic!("give of {id}: {e}"),
            },
            2 => {
                s.add_ref(&id).expect("ref of a fresh put");
                assert_eq!(s.references(&id), 2);
                s.unref(&id).expect("unref");
                kept.push(id);
            }
            _ => kept.push(id),
        }
        if kept.len() > 64 {
            let id = kept.remove(0);
            let obj = s.get(&id, Some(Duration::ZERO)).expect("a kept object");
            assert!(check_fresh(obj.data(), obj.meta()), "object {id} read back wrong");
            drop(obj);
            s.unref(&id).expect("unref of a kept object");
            assert!(!s.contains(&id).unwrap(), "kept object {id} outlived its only reference");
        }
        if rng.below(16) == 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

/// Puts one REFCOUNTED object, gives a ticket for it ("ticket ID T"),
/// drops its own reference and detaches with a ticket linger of
/// `linger_ms` ("detaching" before, "detached" after), then exits.
fn give_and_detach(name: &str, linger_ms: u64) {
    let opts = Options { attach_only: true, ticket_linger: Duration::from_millis(linger_ms), ..Options::default() };
    let s = Store::open(name, &opts).expect("child attaches");
    let id = derived_id(10, 0);
    s.put_as_ex(&id, &content_for(&id), b"", objstore::OBJECT_REFCOUNTED).expect("put");
    let ticket = s.give_ref(&id).expect("a ticket");
    assert_eq!(s.tickets_outstanding().unwrap(), 1);
    emit(format!("ticket {} {ticket}", id.to_hex()));
    emit("detaching");
    drop(s);
    emit("detached");
}

/// Waits for one object and reports what it got.
fn wait(name: &str, hex: &str, timeout_ms: u64) {
    let s = attach(name);
    let id: ObjectId = hex.parse().unwrap();
    emit("waiting");
    match s.get(&id, Some(Duration::from_millis(timeout_ms))) {
        Ok(obj) => emit(format!("got {}", obj.data().len())),
        Err(e) => emit(format!("error {:?}", e.kind())),
    };
}

/// Makes a wait set of `derived_id(5, 0..n)` and reports each object it
/// hands out ("sealed N"), until killed.
fn wait_set(name: &str, n: u64) {
    let s = attach(name);
    let ids: Vec<ObjectId> = (0..n).map(|k| derived_id(5, k)).collect();
    let mut set = s.wait_set(&ids).unwrap();
    emit("made");
    loop {
        for i in set.next(ids.len(), None, None).unwrap() {
            emit(format!("sealed {i}"));
        }
    }
}

/// A wait set of `n` IDs (`derived_id(5, k)`) that, once the first is
/// handed out, grows by `n` more (`derived_id(6, k)`, indices `n + k`):
/// "made", "sealed I" for each handed out, "added" after the add.
fn wait_set_add(name: &str, n: u64) {
    let s = attach(name);
    let ids: Vec<ObjectId> = (0..n).map(|k| derived_id(5, k)).collect();
    let mut set = s.wait_set(&ids).unwrap();
    emit("made");
    for i in set.next(1, None, None).unwrap() {
        emit(format!("sealed {i}"));
    }
    let more: Vec<ObjectId> = (0..n).map(|k| derived_id(6, k)).collect();
    set.add(&more).unwrap();
    emit("added");
    loop {
        for i in set.next(set.ids().len(), None, None).unwrap() {
            emit(format!("sealed {i}"));
        }
    }
}

/// Puts `count` objects, then gets and checks every object of every child.
fn putget(name: &str, child: u32, children: u32, count: u64) {
    let s = attach(name);
    for n in 0..count {
        let id = derived_id(child, n);
        s.put_as(&id, &content_for(&id), b"").unwrap();
    }
    for other in 0..children {
        for n in 0..count {
            let id = derived_id(other, n);
            let obj = s.get(&id, Some(Duration::from_secs(60))).unwrap_or_else(|e| panic!("get {id}: {e}"));
            assert!(check_content(&id, obj.data()), "object {id} corrupted");
        }
    }
    emit("done");
}

/// Uses a possibly damaged store every way it can; errors are fine, a
/// crash, a panic or a hang is not.
fn abuse(name: &str, seed: u64) {
    let mut rng = Rng(seed | 1);
    let s = match Store::open(name, &Options { attach_only: true, ..Options::default() }) {
        Ok(s) => s,
        Err(e) => {
            emit(format!("open {:?}", e.kind()));
            return;
        }
    };
    let _ = s.stats();
    let listed = s.list().unwrap_or_default();
    for info in &listed {
        if let Ok(obj) = s.get(&info.id, Some(Duration::ZERO)) {
            let _ = obj.data().iter().map(|&b| b as u64).sum::<u64>();
            let _ = obj.meta().len();
        }
    }
    for i in 0..200u64 {
        let id = derived_id(9999, i);
        let _ = s.put_as(&id, &content_for(&id), b"m");
        if rng.below(3) == 0 {
            let _ = s.delete(&id);
        }
        let _ = s.get(&derived_id(0, rng.below(100)), Some(Duration::ZERO));
    }
    for info in listed.iter().take(20) {
        let _ = s.delete(&info.id);
    }
    let _ = s.collect();
    let _ = s.audit();
    emit("survived");
}

/// Puts objects into a small store with a spill directory (forcing spills
/// and restores) and reads earlier ones back, forever. Reports "+ID" after a
/// put returned.
pub fn spill_churn(name: &str, child: u32, seed: u64) {
    let s = attach(name);
    let mut rng = Rng(seed | 1);
    let mut mine: Vec<ObjectId> = vec![];
    let mut n = 0u64;
    emit("ready");
    loop {
        if mine.is_empty() || rng.below(3) != 0 {
            let id = derived_id(child, n);
            n += 1;
            match s.put_as(&id, &content_for(&id), b"spill") {
                Ok(()) => {
                    emit(format!("+{id}"));
                    mine.push(id);
                }
                Err(e) if e.kind() == ErrorKind::OutOfMemory => {}
                Err(e) => panic!("put failed: {e}"),
            }
        } else {
            let id = mine[rng.below(mine.len() as u64) as usize];
            match s.get(&id, Some(Duration::ZERO)) {
                Ok(obj) => assert!(check_content(&id, obj.data()), "object {id} corrupted"),
                Err(e) if e.kind() == ErrorKind::OutOfMemory => {}
                Err(e) => panic!("get {id} failed: {e}"),
            }
        }
    }
}

/// Drops root privileges, then puts 1 MiB objects until a put fails, and
/// reports the failure and whether the given objects still read back.
fn put_as_nobody(name: &str, ids: &[String]) {
    // SAFETY: plain syscalls changing this process's credentials.
    if unsafe { libc::setgid(65534) } != 0 || unsafe { libc::setuid(65534) } != 0 {
        emit("error cannot drop privileges");
        return;
    }
    let s = attach(name);
    let mut n = 0u64;
    loop {
        let id = derived_id(77, n);
        n += 1;
        if let Err(e) = s.put_as(&id, &super::pattern(n, 1 << 20), b"") {
            emit(format!("error {:?} {}", e.kind(), e.message()));
            break;
        }
        if n > 100 {
            emit("error none");
            break;
        }
    }
    let intact = ids
        .iter()
        .filter(|h| {
            let id: ObjectId = h.parse().unwrap();
            s.get(&id, Some(Duration::ZERO)).is_ok_and(|o| check_content(&id, o.data()))
        })
        .count();
    emit(format!("intact {intact}"));
}

/// Rounds of a stress test: `default`, or OBJSTORE_STRESS_ROUNDS for soak runs.
pub fn stress_rounds(default: u32) -> u32 {
    std::env::var("OBJSTORE_STRESS_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One round of a kill test: starts `count` children playing `role` (with
/// the store name, child numbers from `first_child`, and fresh seeds from
/// `rng`), lets them run for `min_ms` plus up to `spread_ms` once all are
/// ready, SIGKILLs them all, and returns every event they reported.
pub fn kill_round(
    role: &str,
    store: &str,
    first_child: u32,
    count: u32,
    rng: &mut u64,
    min_ms: u64,
    spread_ms: u64,
) -> Vec<String> {
    let mut next = || {
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        *rng
    };
    let kids: Vec<ChildGuard> = (0..count)
        .map(|c| spawn_child(role, &[store.to_string(), (first_child + c).to_string(), next().to_string()]))
        .collect();
    for k in &kids {
        k.wait_for("ready", Duration::from_secs(60));
    }
    std::thread::sleep(Duration::from_millis(min_ms + next() % spread_ms.max(1)));
    for k in &kids {
        k.signal(libc::SIGKILL);
    }
    let mut events = vec![];
    for mut k in kids {
        k.wait_exit(Duration::from_secs(60));
        events.extend(k.drain());
    }
    events
}

/// Reports a failed call as "!what: kind message" (the tests that use the
/// strict roles below allow no failure at all).
fn report_failure(what: impl std::fmt::Display, e: &objstore::Error) {
    emit(format!("!{what}: {:?} {}", e.kind(), e.message()));
}

/// Puts `count` objects of 64 B to 4 MiB into a spilling store, reading
/// one back now and then and releasing it at once (so this process never
/// pins more than one object), then reports "done". Every failure is
/// reported.
fn strict_spill_putter(name: &str, child: u32, count: u64) {
    const LENS: [usize; 10] = [64, 900, 5000, 70_000, 150_000, 300_000, 700_000, 1_500_000, 2_500_000, 4_000_000];
    let s = attach(name);
    let mut rng = Rng(((child as u64 + 1) * 0x9e37_79b9) | 1);
    let mut mine: Vec<(ObjectId, u64, usize)> = vec![];
    for n in 0..count {
        let seed = (child as u64) << 32 | n;
        let len = LENS[rng.below(LENS.len() as u64) as usize];
        match s.put_with_meta(&pattern(seed, len), b"strict") {
            Ok(id) => mine.push((id, seed, len)),
            Err(e) => report_failure(format_args!("put of {len} bytes"), &e),
        }
        if !mine.is_empty() && rng.below(3) == 0 {
            let (id, seed, len) = mine[rng.below(mine.len() as u64) as usize];
            match s.get(&id, Some(Duration::ZERO)) {
                Ok(obj) => {
                    if obj.data() != &pattern(seed, len)[..] {
                        emit(format!("!object {id} corrupted"));
                    }
                }
                Err(e) => report_failure(format_args!("get of {id} ({len} bytes)"), &e),
            }
        }
    }
    emit("done");
}

/// Gets `gets` random objects among `derived_id(0, 0..count)` (each
/// `pattern(n, 512 KiB)`), checking and releasing each at once.
fn random_getter(name: &str, child: u32, count: u64, gets: u64) {
    let s = attach(name);
    let mut rng = Rng(((child as u64 + 7) * 0x2545_f491) | 1);
    for _ in 0..gets {
        let n = rng.below(count);
        let id = derived_id(0, n);
        match s.get(&id, Some(Duration::ZERO)) {
            Ok(obj) => {
                if obj.data() != &pattern(n, 512 << 10)[..] {
                    emit(format!("!object {id} corrupted"));
                }
            }
            Err(e) => report_failure(format_args!("get of {id}"), &e),
        }
    }
    emit("done");
}

/// Collects every `min_ms` to `max_ms` milliseconds until killed.
fn collector(name: &str, min_ms: u64, max_ms: u64) {
    let s = attach(name);
    let mut rng = Rng(0x51f1 | 1);
    emit("ready");
    loop {
        if let Err(e) = s.collect() {
            report_failure("collect", &e);
        }
        std::thread::sleep(Duration::from_millis(min_ms + rng.below(max_ms - min_ms + 1)));
    }
}

/// `rounds` times: attaches, puts objects enough to make the store spill,
/// reads one back, deletes what it put, detaches. Every failure is reported.
/// Puts an object of each size in `sizes`, deletes them all (the slab blocks
/// of the small ones stay with their free descriptors, for this process's
/// next puts), says "deleted", then stays until killed or told "exit".
/// Puts objects 0..count of child 0's IDs (`derived_id`), each with its
/// `content_for`, starting at a random one and going round, one every
/// millisecond; those present already are passed over. Reports "done".
fn put_in_turn(name: &str, count: u64, seed: u64) {
    let s = attach(name);
    let start = Rng(seed | 1).next() % count;
    for k in 0..count {
        let id = derived_id(0, (start + k) % count);
        match s.put_as(&id, &content_for(&id), b"") {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => report_failure(format_args!("put of {id}"), &e),
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    emit("done");
}

fn put_and_delete(name: &str, sizes: &[String]) {
    let s = attach(name);
    let ids: Vec<ObjectId> = sizes.iter().map(|n| s.put(&vec![5u8; n.parse().unwrap()]).unwrap()).collect();
    for id in &ids {
        s.delete(id).unwrap();
    }
    emit("deleted");
    let lines = stdin_lines();
    while let Ok(line) = lines.recv() {
        if line == "exit" {
            break;
        }
    }
}

fn attach_put_detach(name: &str, child: u32, rounds: u64) {
    for round in 0..rounds {
        let s = attach(name);
        let mut ids = vec![];
        for k in 0..12u64 {
            let seed = (child as u64) << 40 | round << 8 | k;
            let len = [1000usize, 80_000, 400_000, 1_000_000][(k % 4) as usize];
            match s.put(&pattern(seed, len)) {
                Ok(id) => ids.push((id, seed, len)),
                Err(e) => report_failure(format_args!("put of {len} bytes"), &e),
            }
        }
        if let Some(&(id, seed, len)) = ids.first() {
            match s.get(&id, Some(Duration::ZERO)) {
                Ok(obj) => {
                    if obj.data() != &pattern(seed, len)[..] {
                        emit(format!("!object {id} corrupted"));
                    }
                }
                Err(e) => report_failure(format_args!("get of {id}"), &e),
            }
        }
        for (id, _, _) in ids {
            if let Err(e) = s.delete(&id) {
                report_failure(format_args!("delete of {id}"), &e);
            }
        }
    }
    emit("done");
}

/// Puts 3 MiB objects into a small spilling store forever (so that it is
/// nearly always writing a spill file), keeping the last 8 and deleting
/// older ones. Every failure is reported.
fn big_spiller(name: &str, child: u32) {
    let s = attach(name);
    let mut live = std::collections::VecDeque::new();
    emit("ready");
    for n in 0u64.. {
        let seed = (child as u64) << 40 | n;
        match s.put(&pattern(seed, 3 << 20)) {
            Ok(id) => live.push_back(id),
            Err(e) => report_failure("put of 3 MiB", &e),
        }
        if live.len() > 8 {
            let id = live.pop_front().expect("non-empty");
            if let Err(e) = s.delete(&id) {
                report_failure(format_args!("delete of {id}"), &e);
            }
        }
    }
}

/// Attaches once, puts an object, reads it back and deletes it, detaches.
/// Reports "full" when every process slot is taken, "ok" when done, and
/// any failure.
fn attach_once(name: &str, child: u32) {
    let s = match Store::open(name, &Options { attach_only: true, ..Options::default() }) {
        Ok(s) => s,
        Err(e) if e.kind() == ErrorKind::TooManyProcesses => {
            emit("full");
            return;
        }
        Err(e) => {
            report_failure("attach", &e);
            return;
        }
    };
    let data = pattern(child as u64, 1000 + child as usize % 5000);
    let outcome = s.put(&data).and_then(|id| {
        let same = s.get(&id, Some(Duration::ZERO))?.data() == &data[..];
        s.delete(&id)?;
        Ok(same)
    });
    match outcome {
        Ok(true) => emit("ok"),
        Ok(false) => emit("!object read back wrong"),
        Err(e) => report_failure("put/get/delete", &e),
    }
}

/// The bytes soak object `id` holds: length and content follow from the ID
/// (64 B to 2 MiB, small sizes more often), so anyone can check it.
pub fn soak_content_for(id: &ObjectId) -> Vec<u8> {
    const LENS: [usize; 10] = [0, 64, 700, 5000, 40_000, 70_000, 300_000, 600_000, 1_100_000, 2_000_000];
    let seed = u64::from_le_bytes(id.0[12..20].try_into().unwrap());
    let len = LENS[(seed % 10) as usize].saturating_sub((seed as usize >> 8) % 64);
    pattern(seed, len)
}

/// Soak workers number their cache entries (EVICTABLE objects) from here:
/// their IDs are never among those another worker's gets look for.
const CACHE_ENTRIES: u64 = 1 << 40;

/// Status counts of a soak worker: "operation:status" -> count.
#[derive(Default)]
struct Tally(std::collections::BTreeMap<String, u64>);

impl Tally {
    fn add(&mut self, op: &str, status: &str) {
        *self.0.entry(format!("{op}:{status}")).or_default() += 1;
    }
    /// Reports the counts since the last report ("#op:status=n,...").
    fn flush(&mut self) {
        if !self.0.is_empty() {
            let line: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
            emit(format!("#{}", line.join(",")));
            self.0.clear();
        }
    }
}

/// A soak worker: random operations forever, each checked against the
/// statuses the documentation allows in its situation; anything else is
/// reported as a failure ("!..."). Reports "+ID" once a put or seal of its
/// object returned, "-ID" before a delete starts, "#..." status counts.
/// Holds at most one pin across operations (and a few for a moment), and
/// at most one unsealed object, so that memory never runs short for good.
fn soak_worker(name: &str, child: u32, seed: u64) {
    let s = attach(name);
    let mut rng = Rng(seed | 1);
    let mut tally = Tally::default();
    let mut live: Vec<ObjectId> = vec![];
    let mut deleted: Vec<ObjectId> = vec![];
    let mut held: Option<ObjectId> = None;
    let mut n = 0u64;
    let kind = |r: &objstore::Result<()>| match r {
        Ok(()) => "ok".to_string(),
        Err(e) => format!("{:?}", e.kind()),
    };
    let fail = |what: String| emit(format!("!{what}"));
    emit("ready");
    for step in 0u64.. {
        if step % 50 == 49 {
            tally.flush();
        }
        let choice = rng.below(100);
        match choice {
            // put of a cache entry (EVICTABLE), read back at once: intact,
            // or evicted already by another worker's allocation
            0..=4 => {
                let id = derived_id(child, CACHE_ENTRIES + n);
                n += 1;
                let r = s.put_as_ex(&id, &soak_content_for(&id), b"soak", objstore::OBJECT_EVICTABLE);
                tally.add("put cache entry", &kind(&r));
                if let Err(e) = r {
                    fail(format!("put of cache entry {id}: {:?} {}", e.kind(), e.message()));
                }
                match s.get(&id, Some(Duration::ZERO)) {
                    Ok(obj) if obj.data() != soak_content_for(&id).as_slice() => {
                        fail(format!("cache entry {id} read back wrong"))
                    }
                    Ok(_) => tally.add("get cache entry", "ok"),
                    Err(e) if e.kind() == ErrorKind::NotFound => tally.add("get cache entry", "NotFound"),
                    Err(e) => fail(format!("get of cache entry {id}: {:?} {}", e.kind(), e.message())),
                }
            }
            // put of a fresh ID
            5..=19 => {
                let id = derived_id(child, n);
                n += 1;
                let r = s.put_as(&id, &soak_content_for(&id), b"soak");
                tally.add("put", &kind(&r));
                match r {
                    Ok(()) => {
                        emit(format!("+{id}"));
                        live.push(id);
                    }
                    Err(e) => fail(format!(
                        "put of {id} ({} bytes): {:?} {}",
                        soak_content_for(&id).len(),
                        e.kind(),
                        e.message()
                    )),
                }
            }
            // create, fill in two halves, seal (or abort)
            20..=29 => {
                let id = derived_id(child, n);
                n += 1;
                let data = soak_content_for(&id);
                let abort = rng.below(4) == 0;
                let r = s.create(&id, data.len(), b"soak").and_then(|mut c| {
                    let half = data.len() / 2;
                    c.data_mut()[..half].copy_from_slice(&data[..half]);
                    c.data_mut()[half..].copy_from_slice(&data[half..]);
                    if abort {
                        c.abort()
                    } else {
                        c.seal()
                    }
                });
                tally.add(if abort { "create+abort" } else { "create+seal" }, &kind(&r));
                match r {
                    Ok(()) if !abort => {
                        emit(format!("+{id}"));
                        live.push(id);
                    }
                    Ok(()) => {}
                    Err(e) => fail(format!("create of {id}: {:?} {}", e.kind(), e.message())),
                }
            }
            // get of an own object: present, intact
            30..=49 if !live.is_empty() => {
                let id = live[rng.below(live.len() as u64) as usize];
                match s.get_raw(&id, Some(Duration::ZERO)) {
                    Ok(obj) => {
                        tally.add("get own", "ok");
                        // SAFETY: pinned until the release below.
                        let data = unsafe { std::slice::from_raw_parts(obj.data, obj.data_len) };
                        if data != soak_content_for(&id).as_slice() {
                            fail(format!("object {id} read back wrong"));
                        }
                        if let Some(old) = held.replace(id) {
                            if let Err(e) = s.release(&old) {
                                fail(format!("release of {old}: {:?} {}", e.kind(), e.message()));
                            }
                        }
                        if rng.below(2) == 0 {
                            let h = held.take().expect("just held");
                            if let Err(e) = s.release(&h) {
                                fail(format!("release of {h}: {:?} {}", e.kind(), e.message()));
                            }
                        }
                    }
                    Err(e) => {
                        tally.add("get own", &format!("{:?}", e.kind()));
                        fail(format!("get of own {id}: {:?} {}", e.kind(), e.message()));
                    }
                }
            }
            // get of an object another worker may have put: intact or absent
            50..=59 => {
                let other = 1 + rng.below(child as u64 + 8) as u32;
                let id = derived_id(other, rng.below(300));
                match s.get(&id, Some(Duration::ZERO)) {
                    Ok(obj) => {
                        tally.add("get other", "ok");
                        if obj.data() != soak_content_for(&id).as_slice() {
                            fail(format!("object {id} read back wrong"));
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::NotFound => tally.add("get other", "NotFound"),
                    Err(e) => {
                        tally.add("get other", &format!("{:?}", e.kind()));
                        fail(format!("get of {id}: {:?} {}", e.kind(), e.message()));
                    }
                }
            }
            // get_many of own objects and one absent: NotFound, the rest pinned
            60..=64 if live.len() >= 3 => {
                let mut ids: Vec<ObjectId> = (0..3).map(|_| live[rng.below(live.len() as u64) as usize]).collect();
                ids.push(derived_id(child, u64::MAX - rng.below(1000)));
                let mut out = vec![None; ids.len()];
                let r = s.get_many_raw(&ids, Some(Duration::ZERO), &mut out);
                tally.add("get_many", &kind(&r));
                match r {
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    other => fail(format!("get_many with one absent ID: {other:?}")),
                }
                for (id, o) in ids.iter().zip(&out) {
                    match o {
                        Some(obj) => {
                            // SAFETY: pinned until the release below.
                            let data = unsafe { std::slice::from_raw_parts(obj.data, obj.data_len) };
                            if data != soak_content_for(id).as_slice() {
                                fail(format!("object {id} read back wrong (get_many)"));
                            }
                            if let Err(e) = s.release(id) {
                                fail(format!("release of {id}: {:?} {}", e.kind(), e.message()));
                            }
                        }
                        None if live.contains(id) => fail(format!("get_many missed own {id}")),
                        None => {}
                    }
                }
            }
            // a short wait for an ID nobody puts: Timeout
            65..=66 => {
                let id = derived_id(child, u64::MAX - 5000 - rng.below(1000));
                let r = s.get(&id, Some(Duration::from_millis(3))).map(|_| ());
                tally.add("get wait", &kind(&r));
                if !matches!(&r, Err(e) if e.kind() == ErrorKind::Timeout) {
                    fail(format!("get of an ID nobody puts: {:?}", r.err()));
                }
            }
            // delete of an own object (perhaps pinned by us): then invisible
            67..=81 if !live.is_empty() => {
                let id = live.swap_remove(rng.below(live.len() as u64) as usize);
                emit(format!("-{id}"));
                let r = s.delete(&id);
                tally.add("delete", &kind(&r));
                if let Err(e) = r {
                    fail(format!("delete of {id}: {:?} {}", e.kind(), e.message()));
                }
                if s.contains(&id).unwrap_or(true) {
                    fail(format!("deleted {id} still visible"));
                }
                deleted.push(id);
                if deleted.len() > 50 {
                    deleted.remove(0);
                }
            }
            // calls that must fail, and say so
            82..=85 => {
                if let Some(&id) = deleted.last() {
                    let r = s.delete(&id);
                    tally.add("delete again", &kind(&r));
                    // The pin this worker may hold keeps the ID reserved, but
                    // the object is gone for a delete either way.
                    if !matches!(&r, Err(e) if e.kind() == ErrorKind::NotFound) {
                        fail(format!("second delete of {id}: {r:?}"));
                    }
                    let r = s.get(&id, Some(Duration::ZERO)).map(|_| ());
                    if !matches!(&r, Err(e) if e.kind() == ErrorKind::NotFound) {
                        fail(format!("get of deleted {id}: {r:?}"));
                    }
                }
                let id = derived_id(child, u64::MAX - 9000);
                let r = s.release(&id);
                tally.add("release unpinned", &kind(&r));
                if !matches!(&r, Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::InvalidArgument)) {
                    fail(format!("release without a pin: {r:?}"));
                }
                if let Some(&id) = live.first() {
                    let r = s.put_as(&id, b"again", b"");
                    tally.add("put existing", &kind(&r));
                    if !matches!(&r, Err(e) if e.kind() == ErrorKind::AlreadyExists) {
                        fail(format!("put of existing {id}: {r:?}"));
                    }
                }
            }
            86..=88 => {
                let r = s.collect().map(|_| ());
                tally.add("collect", &kind(&r));
                if let Err(e) = r {
                    fail(format!("collect: {:?} {}", e.kind(), e.message()));
                }
            }
            89..=90 => match s.stats() {
                Ok(st) => {
                    tally.add("stats", "ok");
                    if st.used_bytes > st.capacity_bytes {
                        fail(format!("stats: {st:?}"));
                    }
                }
                Err(e) => fail(format!("stats: {:?} {}", e.kind(), e.message())),
            },
            _ => {
                if let Some(h) = held.take() {
                    let r = s.release(&h);
                    tally.add("release", &kind(&r));
                    if let Err(e) = r {
                        fail(format!("release of {h}: {:?} {}", e.kind(), e.message()));
                    }
                }
            }
        }
        // Keep this worker's share of the store bounded, so that every
        // process's puts keep spilling instead of filling the disk.
        while live.len() > 40 {
            let id = live.remove(0);
            emit(format!("-{id}"));
            let r = s.delete(&id);
            tally.add("delete", &kind(&r));
            if let Err(e) = r {
                fail(format!("delete of {id}: {:?} {}", e.kind(), e.message()));
            }
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Object numbers at and above this are a reference soak worker's private
/// objects, which no other worker looks up: their last unref frees them
/// at once, which the worker checks.
const PRIVATE_OBJECTS: u64 = 1 << 40;

/// A reference soak worker (tests/soak_refs.rs): random operations on
/// REFCOUNTED objects forever, each call checked against the statuses the
/// documentation allows in its situation, anything else reported as a
/// failure ("!..."); every object read is checked byte for byte against
/// `soak_content_for`. It puts objects (holding their first reference),
/// gets, adds and drops references, and gives references away as tickets:
/// "gave ID TICKET" asks the parent to pass the ticket on, which it does
/// by writing "ID TICKET GIVER" to another worker's stdin. A ticket
/// received is taken (`take_ref`); NotFound is right only if its
/// giver was killed, which the parent checks from "lost GIVER ID TICKET".
/// Some tickets (at most `MAX_UNSENT`) are given and never sent: they go
/// with their giver.
/// Reports "#..." status counts as `soak_worker`. Holds at most 16
/// references, one pin across operations and one more for a moment. Calls
/// collect now and then until `collect_until` (milliseconds since the Unix
/// epoch), none after it: a collect also removes spill files no object
/// owns, which would hide one that a freed object left behind.
fn ref_soak_worker(name: &str, child: u32, seed: u64, collect_until: u64) {
    use objstore::OBJECT_REFCOUNTED;
    let s = attach(name);
    let inbox = stdin_lines();
    let mut rng = Rng(seed | 1);
    let mut tally = Tally::default();
    // This handle's references, an ID once per reference.
    let mut held: Vec<ObjectId> = vec![];
    // The pin held across operations.
    let mut pinned: Option<ObjectId> = None;
    // The last ticket taken, to take again (NotFound).
    let mut taken: Option<(ObjectId, u64)> = None;
    let mut n = 0u64;
    let mut private = PRIVATE_OBJECTS;
    // Tickets given and never sent, which stay until this process dies:
    // many (the store's table of tickets then holds hundreds, at times
    // more than a thousand), but not so many that a worker not killed for
    // a while fills it on its own.
    const MAX_UNSENT: u32 = 256;
    let mut unsent = 0u32;
    let mut wait_set: Option<objstore::WaitSet> = None;
    let kind = |r: &objstore::Result<()>| match r {
        Ok(()) => "ok".to_string(),
        Err(e) => format!("{:?}", e.kind()),
    };
    let fail = |what: String| emit(format!("!{what}"));
    let not_found = |r: &objstore::Result<()>| matches!(r, Err(e) if e.kind() == ErrorKind::NotFound);
    // Reads an object this handle references or pins: present and intact.
    let check = |id: &ObjectId, what: &str, tally: &mut Tally| match s.get(id, Some(Duration::ZERO)) {
        Ok(obj) => {
            tally.add(what, "ok");
            if obj.data() != soak_content_for(id).as_slice() {
                fail(format!("{what}: object {id} read back wrong ({} bytes)", obj.data().len()));
            }
        }
        Err(e) => {
            tally.add(what, &format!("{:?}", e.kind()));
            fail(format!("{what} of held {id}: {:?} {}", e.kind(), e.message()));
        }
    };
    // Gives one of this handle's references to `id` away; sends the ticket
    // to the parent unless `send` is false.
    let give = |id: &ObjectId, send: bool, tally: &mut Tally| -> bool {
        match s.give_ref(id) {
            Ok(ticket) => {
                tally.add(if send { "give" } else { "give unsent" }, "ok");
                if send {
                    emit(format!("gave {id} {ticket}"));
                }
                true
            }
            // No room in the store's table of tickets near the ID: with up
            // to MAX_UNSENT tickets a worker, and those in flight, in a
            // table of 2048, it may be this situation. The reference stays.
            Err(e) if e.kind() == ErrorKind::OutOfMemory => {
                tally.add("give", "OutOfMemory");
                false
            }
            Err(e) => {
                tally.add("give", &format!("{:?}", e.kind()));
                fail(format!("give of held {id}: {:?} {}", e.kind(), e.message()));
                false
            }
        }
    };
    let unref = |id: &ObjectId, what: &str, tally: &mut Tally| {
        let r = s.unref(id);
        tally.add(what, &kind(&r));
        if let Err(e) = r {
            fail(format!("{what} of held {id}: {:?} {}", e.kind(), e.message()));
        }
    };
    emit("ready");
    for step in 0u64.. {
        if step % 50 == 49 {
            tally.flush();
        }
        // Tickets from other workers, a few at a time.
        for _ in 0..2 {
            let Ok(line) = inbox.try_recv() else { break };
            let f: Vec<&str> = line.split(' ').collect();
            let (id, ticket, giver): (ObjectId, u64, u32) =
                (f[0].parse().unwrap(), f[1].parse().unwrap(), f[2].parse().unwrap());
            let r = s.take_ref(&id, ticket);
            tally.add("take", &kind(&r));
            match r {
                Ok(()) => {
                    held.push(id);
                    taken = Some((id, ticket));
                    check(&id, "get taken", &mut tally);
                    match rng.below(10) {
                        0..=2 => {
                            held.pop();
                            unref(&id, "unref taken", &mut tally);
                        }
                        // Passed on as it came.
                        3..=4 if give(&id, true, &mut tally) => {
                            held.pop();
                        }
                        5..=6 => {
                            // Passed on, and kept too.
                            let r = s.add_ref(&id);
                            tally.add("add_ref taken", &kind(&r));
                            match r {
                                Ok(()) if give(&id, true, &mut tally) => {}
                                Ok(()) => held.push(id),
                                Err(e) => fail(format!("add_ref of taken {id}: {:?} {}", e.kind(), e.message())),
                            }
                        }
                        _ => {}
                    }
                }
                Err(e) if e.kind() == ErrorKind::NotFound => emit(format!("lost {giver} {id} {ticket}")),
                Err(e) => fail(format!("take of {id} ticket {ticket:#x} from {giver}: {:?} {}", e.kind(), e.message())),
            }
        }
        match rng.below(100) {
            // put of a fresh ID: this handle holds its first reference
            0..=19 => {
                let id = derived_id(child, n);
                n += 1;
                let data = soak_content_for(&id);
                let r = s.put_as_ex(&id, &data, b"refsoak", OBJECT_REFCOUNTED);
                tally.add("put", &kind(&r));
                if let Err(e) = r {
                    fail(format!("put of {id} ({} bytes): {:?} {}", data.len(), e.kind(), e.message()));
                    continue;
                }
                match rng.below(10) {
                    0 => unref(&id, "unref new", &mut tally),
                    1..=2 => {
                        if !give(&id, true, &mut tally) {
                            held.push(id);
                        }
                    }
                    3 if unsent < MAX_UNSENT => {
                        if give(&id, false, &mut tally) {
                            unsent += 1;
                        } else {
                            held.push(id);
                        }
                    }
                    _ => held.push(id),
                }
            }
            // create, fill in two halves, seal (or abort: the reference goes)
            20..=24 => {
                let id = derived_id(child, n);
                n += 1;
                let data = soak_content_for(&id);
                let abort = rng.below(4) == 0;
                let r = s.create_ex_raw(Some(&id), data.len(), b"refsoak", OBJECT_REFCOUNTED).and_then(|(_, p)| {
                    let half = data.len() / 2;
                    // SAFETY: data.len() writable bytes until seal or abort.
                    unsafe {
                        std::ptr::copy_nonoverlapping(data.as_ptr(), p, half);
                        std::ptr::copy_nonoverlapping(data.as_ptr().add(half), p.add(half), data.len() - half);
                    }
                    if abort {
                        s.abort(&id)
                    } else {
                        s.seal(&id)
                    }
                });
                tally.add(if abort { "create+abort" } else { "create+seal" }, &kind(&r));
                match r {
                    Ok(()) if abort => {
                        if s.references(&id) != 0 {
                            fail(format!("aborted {id} still referenced by its creator"));
                        }
                    }
                    Ok(()) => held.push(id),
                    Err(e) => fail(format!("create of {id}: {:?} {}", e.kind(), e.message())),
                }
            }
            // get of a held object (the pin kept a while, or not)
            25..=39 if !held.is_empty() => {
                let id = held[rng.below(held.len() as u64) as usize];
                match s.get_raw(&id, Some(Duration::ZERO)) {
                    Ok(obj) => {
                        tally.add("get held", "ok");
                        // SAFETY: pinned until the release below.
                        let data = unsafe { std::slice::from_raw_parts(obj.data, obj.data_len) };
                        if data != soak_content_for(&id).as_slice() {
                            fail(format!("get held: object {id} read back wrong ({} bytes)", data.len()));
                        }
                        let keep = rng.below(2) == 0;
                        for old in [if keep { pinned.replace(id) } else { Some(id) }].into_iter().flatten() {
                            let r = s.release(&old);
                            tally.add("release", &kind(&r));
                            if let Err(e) = r {
                                fail(format!("release of {old}: {:?} {}", e.kind(), e.message()));
                            }
                        }
                    }
                    Err(e) => {
                        tally.add("get held", &format!("{:?}", e.kind()));
                        fail(format!("get of held {id}: {:?} {}", e.kind(), e.message()));
                    }
                }
            }
            // unref of a held object
            40..=49 if !held.is_empty() => {
                let id = held.swap_remove(rng.below(held.len() as u64) as usize);
                unref(&id, "unref", &mut tally);
            }
            // give of a held object, the ticket sent to another worker
            50..=59 if !held.is_empty() => {
                let i = rng.below(held.len() as u64) as usize;
                if give(&held[i], true, &mut tally) {
                    held.swap_remove(i);
                }
            }
            // give, and the ticket never sent: it goes with this process
            60..=61 if !held.is_empty() && unsent < MAX_UNSENT => {
                let i = rng.below(held.len() as u64) as usize;
                if give(&held[i], false, &mut tally) {
                    held.swap_remove(i);
                    unsent += 1;
                }
            }
            // one more reference to a held object
            62..=66 if !held.is_empty() => {
                let id = held[rng.below(held.len() as u64) as usize];
                let r = s.add_ref(&id);
                tally.add("add_ref", &kind(&r));
                match r {
                    Ok(()) => held.push(id),
                    Err(e) => fail(format!("add_ref of held {id}: {:?} {}", e.kind(), e.message())),
                }
            }
            // get of an object some worker may have put (this one, or one
            // started shortly before or after it): intact or absent
            67..=74 => {
                let other = (child as u64).saturating_sub(8).max(1) + rng.below(16);
                let id = derived_id(other as u32, rng.below(n.max(16) + 16));
                match s.get(&id, Some(Duration::ZERO)) {
                    Ok(obj) => {
                        tally.add("get other", "ok");
                        if obj.data() != soak_content_for(&id).as_slice() {
                            fail(format!("get other: object {id} read back wrong ({} bytes)", obj.data().len()));
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::NotFound => tally.add("get other", "NotFound"),
                    Err(e) => {
                        tally.add("get other", &format!("{:?}", e.kind()));
                        fail(format!("get of {id}: {:?} {}", e.kind(), e.message()));
                    }
                }
            }
            // a private object: its last unref frees it at once
            75..=79 => {
                let id = derived_id(child, private);
                private += 1;
                let r = s.put_as_ex(&id, &soak_content_for(&id), b"private", OBJECT_REFCOUNTED);
                tally.add("put private", &kind(&r));
                if let Err(e) = r {
                    fail(format!("put of private {id}: {:?} {}", e.kind(), e.message()));
                    continue;
                }
                let extra = rng.below(3) == 0;
                if extra {
                    let r = s.add_ref(&id);
                    tally.add("add_ref private", &kind(&r));
                    if let Err(e) = r {
                        fail(format!("add_ref of private {id}: {:?} {}", e.kind(), e.message()));
                        continue;
                    }
                }
                check(&id, "get private", &mut tally);
                unref(&id, "unref private", &mut tally);
                if extra {
                    if !s.contains(&id).unwrap_or(false) {
                        fail(format!("private {id} gone with a reference left"));
                    }
                    unref(&id, "unref private", &mut tally);
                }
                if s.contains(&id).unwrap_or(true) {
                    // What holds it, for the report.
                    let info = s.list().ok().and_then(|l| l.into_iter().find(|o| o.id == id));
                    let pins = s.pin_holders(&id).map(|v| v.iter().map(|p| p.slot).collect::<Vec<_>>());
                    let refs = s.ref_holders(&id).map(|v| v.iter().map(|p| p.slot).collect::<Vec<_>>());
                    fail(format!(
                        "private {id} still there after its last unref: {:?}, pinned by slots {pins:?}, \
                         referenced by slots {refs:?}, still there now: {:?}",
                        info.map(|o| o.state),
                        s.contains(&id)
                    ));
                }
                let r = s.add_ref(&id);
                tally.add("add_ref freed", &kind(&r));
                if !not_found(&r) {
                    fail(format!("add_ref of freed private {id}: {r:?}"));
                }
                let r = s.get(&id, Some(Duration::ZERO)).map(|_| ());
                tally.add("get freed", &kind(&r));
                if !not_found(&r) {
                    fail(format!("get of freed private {id}: {r:?}"));
                }
            }
            // calls that must fail, and say so
            80..=84 => {
                let never = derived_id(child, u64::MAX - rng.below(1000));
                let r = s.unref(&never);
                tally.add("unref unheld", &kind(&r));
                if !not_found(&r) {
                    fail(format!("unref of an unheld {never}: {r:?}"));
                }
                let r = s.give_ref(&never).map(|_| ());
                tally.add("give unheld", &kind(&r));
                if !not_found(&r) {
                    fail(format!("give of an unheld {never}: {r:?}"));
                }
                if let Some((id, ticket)) = taken {
                    let r = s.take_ref(&id, ticket);
                    tally.add("take again", &kind(&r));
                    if !not_found(&r) {
                        fail(format!("second take of {id} ticket {ticket:#x}: {r:?}"));
                    }
                }
                if !held.is_empty() {
                    let id = held[rng.below(held.len() as u64) as usize];
                    let before = s.references(&id);
                    let r = s.take_ref(&id, rng.next());
                    tally.add("take wrong ticket", &kind(&r));
                    if !not_found(&r) {
                        fail(format!("take of {id} with a made-up ticket: {r:?}"));
                    }
                    if s.references(&id) != before {
                        fail(format!("a refused take changed the references to {id}"));
                    }
                }
            }
            85..=86 if unix_ms() < collect_until => {
                let r = s.collect().map(|_| ());
                tally.add("collect", &kind(&r));
                if let Err(e) = r {
                    fail(format!("collect: {:?} {}", e.kind(), e.message()));
                }
            }
            87..=88 => match s.stats() {
                Ok(st) => {
                    tally.add("stats", "ok");
                    if st.used_bytes > st.capacity_bytes {
                        fail(format!("stats: {st:?}"));
                    }
                }
                Err(e) => fail(format!("stats: {:?} {}", e.kind(), e.message())),
            },
            // the last reference dropped while pinned: readable until the release
            89..=91 if !held.is_empty() => {
                let i = rng.below(held.len() as u64) as usize;
                let id = held[i];
                match s.get_raw(&id, Some(Duration::ZERO)) {
                    Ok(obj) => {
                        tally.add("get held", "ok");
                        held.swap_remove(i);
                        unref(&id, "unref pinned", &mut tally);
                        // SAFETY: pinned until the release below.
                        let data = unsafe { std::slice::from_raw_parts(obj.data, obj.data_len) };
                        if data != soak_content_for(&id).as_slice() {
                            fail(format!("unref pinned: object {id} read back wrong ({} bytes)", data.len()));
                        }
                        let r = s.release(&id);
                        tally.add("release", &kind(&r));
                        if let Err(e) = r {
                            fail(format!("release of {id}: {:?} {}", e.kind(), e.message()));
                        }
                    }
                    Err(e) => {
                        tally.add("get held", &format!("{:?}", e.kind()));
                        fail(format!("get of held {id}: {:?} {}", e.kind(), e.message()));
                    }
                }
            }
            // a wait set over IDs that this worker and its neighbours put
            // or will put: what it hands out was sealed, and reads back
            // intact if it is still there; a set made anew now and then
            // (the store counts the sets of a killed worker out at reclaim)
            92..=94 => {
                if wait_set.is_none() || rng.below(8) == 0 {
                    let other = (child as u64).saturating_sub(4).max(1) + rng.below(8);
                    let from = n.saturating_sub(8);
                    let ids: Vec<ObjectId> = (from..from + 64).map(|k| derived_id(other as u32, k)).collect();
                    match s.wait_set(&ids) {
                        Ok(set) => {
                            tally.add("wait set", "ok");
                            wait_set = Some(set);
                        }
                        Err(e) => fail(format!("wait set: {:?} {}", e.kind(), e.message())),
                    }
                }
                let Some(set) = wait_set.as_mut() else { continue };
                match set.next(4, Some(Duration::from_millis(rng.below(2))), None) {
                    Ok(got) => {
                        tally.add("wait set next", if got.is_empty() { "all handed out" } else { "ok" });
                        for i in got {
                            let id = set.ids()[i];
                            match s.get(&id, Some(Duration::ZERO)) {
                                Ok(obj) if obj.data() != soak_content_for(&id).as_slice() => {
                                    fail(format!("wait set: object {id} read back wrong ({} bytes)", obj.data().len()))
                                }
                                Ok(_) => tally.add("get handed out", "ok"),
                                Err(e) if e.kind() == ErrorKind::NotFound => tally.add("get handed out", "NotFound"),
                                Err(e) => fail(format!("get of handed out {id}: {:?} {}", e.kind(), e.message())),
                            }
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::Timeout => tally.add("wait set next", "Timeout"),
                    Err(e) => fail(format!("wait set next: {:?} {}", e.kind(), e.message())),
                }
            }
            _ => {
                if let Some(id) = pinned.take() {
                    let r = s.release(&id);
                    tally.add("release", &kind(&r));
                    if let Err(e) = r {
                        fail(format!("release of {id}: {:?} {}", e.kind(), e.message()));
                    }
                }
            }
        }
        // A bounded share of the store per worker.
        while held.len() > 16 {
            let id = held.remove(0);
            unref(&id, "unref", &mut tally);
        }
    }
}

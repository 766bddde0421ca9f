//! Child processes for the multi-process tests.
//!
//! A test binary re-runs itself as a child: `child_command(role, args)`
//! starts it with `--ignored --exact child_entry`, and the `child_entry`
//! test of that binary (ignored in normal runs) calls `run_child()`, which
//! plays the role named in OBJSTORE_CHILD. Children report to the parent on
//! stdout, one event per line starting with '@'. Children are killed and
//! reaped when their `ChildGuard` drops, so a failing test leaves none.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
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
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = Command::new(exe)
        .args(["--ignored", "--exact", "child_entry", "--nocapture", "--test-threads=1", "-q"])
        .env("OBJSTORE_CHILD", role)
        .env("OBJSTORE_CHILD_ARGS", args.join(" "))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child");
    let (tx, rx) = mpsc::channel();
    forward_events(child.stdout.take().expect("piped"), tx);
    ChildGuard { child, events: rx }
}

fn emit(event: impl std::fmt::Display) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "@{event}");
    let _ = out.flush();
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
        "attach_once" => attach_once(&args[0], args[1].parse().unwrap()),
        "big_spiller" => big_spiller(&args[0], args[1].parse().unwrap()),
        "collector" => collector(&args[0], args[1].parse().unwrap(), args[2].parse().unwrap()),
        "attach_put_detach" => attach_put_detach(&args[0], args[1].parse().unwrap(), args[2].parse().unwrap()),
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
            // put of a fresh ID
            0..=19 => {
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

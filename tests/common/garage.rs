//! Garage (an S3-compatible object store server) on loopback, for the
//! tests of the remote tier.
//!
//! Include it from an integration test, an example or a bench with
//!
//! ```ignore
//! #[path = "common/garage.rs"]   // "../tests/common/garage.rs" from examples/ or benches/
//! mod garage;
//! ```
//!
//! and start a server:
//!
//! ```ignore
//! let Some(g) = garage::single() else { return };   // skipped (with a message) when Garage is missing
//! let env = g.env();                                // AWS_ENDPOINT, AWS_ACCESS_KEY_ID, ... for a client
//! // object_store, without touching the process environment:
//! let mut b = object_store::aws::AmazonS3Builder::new();
//! for (k, v) in &env {
//!     b = b.with_config(k.to_ascii_lowercase().parse().unwrap(), v);
//! }
//! let store = b.build().unwrap();
//! // or a child process: garage::apply_env(&mut cmd, &env) (it also clears other AWS_* variables)
//! ```
//!
//! The endpoint takes path-style requests (`http://127.0.0.1:<port>/<bucket>/<key>`,
//! object_store's default); virtual-hosted-style ones are not set up. Set
//! a client's `with_client_options` before the `with_config` pairs (it
//! replaces the options that AWS_ALLOW_HTTP lands in).
//!
//! - [`single`] starts one node (replication factor 1) on 127.0.0.1;
//! - [`cluster3`] starts three nodes on 127.0.0.1, 127.0.0.2 and 127.0.0.3
//!   (replication factor 3, so reads and writes go on with one node down),
//!   connected, with a layout holding all three; [`Garage::kill`] SIGKILLs a
//!   node and [`Garage::restart`] starts it again on the same data.
//!
//! Each comes with a bucket ([`Garage::bucket`]), a key with read, write and
//! owner rights on it ([`Garage::key`]), a key that exists but has no right
//! on it ([`Garage::no_access_key`]) and a made-up key that the server has
//! never seen ([`Garage::unknown_key`]). [`Garage::env`] and its variants give
//! the AWS environment a client reads.
//!
//! Every node runs in a fresh temporary directory (config, metadata on LMDB,
//! data, log) with its own random free ports and RPC secret. On drop the
//! processes are SIGKILLed and reaped and the directory removed, also when
//! the test panics (then the end of each node's log is printed first). If
//! the test process itself dies, the kernel kills the nodes (they are
//! started with PR_SET_PDEATHSIG from a thread that lives as long as the
//! process), and the next harness to start removes directories left by dead
//! processes.
//!
//! The server binary: `$OBJSTORE_GARAGE_BIN` if set, else the copy that
//! `.ci/garage.sh install` builds into the tools cache
//! (`$OBJSTORE_TOOLS_DIR`, default `$XDG_CACHE_HOME/objstore-tools` or
//! `~/.cache/objstore-tools`, then `garage/bin/garage`). When it is missing,
//! [`single`] and [`cluster3`] print how to install it and return `None`,
//! unless Garage is required (`CI` set, or `OBJSTORE_REQUIRE_GARAGE=1`; `=0`
//! turns the requirement off): then they panic. A binary that is there but
//! does not start always panics. `OBJSTORE_KEEP_GARAGE=1` keeps the
//! directories (and says where they are) for a post-mortem;
//! `OBJSTORE_GARAGE_LOG` sets the nodes' RUST_LOG (keep `garage_net`,
//! `garage_api_common` at info at least: start-up reads their lines).
#![allow(dead_code)]

use std::fs;
use std::io::{self, Read};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The S3 region the nodes serve (any name works; the client must use the same).
pub const REGION: &str = "garage";
/// The bucket made at start.
pub const BUCKET: &str = "objstore-test";
/// The Garage version `.ci/garage.sh install` builds and this harness is written for.
pub const VERSION: &str = "2.5.0";

/// How long a node may take to start (it takes about 0.1 s; the margin is
/// for a loaded CI machine).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one `garage` admin command may take before it is killed.
const CLI_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the cluster may take to become healthy.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the S3 and admin ports may take to answer HTTP once Garage
/// has logged that they listen.
const PORT_ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
const ADDR_IN_USE: &str = "Address already in use";
const NOT_ANSWERING: &str = "a port it logged as listening does not answer HTTP: taken by another process?";
/// The nodes' RUST_LOG, unless `OBJSTORE_GARAGE_LOG` gives another. The
/// start-up check reads the "listening" lines these levels keep.
const DEFAULT_LOG: &str = "warn,garage=info,garage_net=info,garage_api_common=info,garage_rpc=info";
/// How many times a node is started on fresh ports when its ports were
/// taken between choosing them and binding them.
const PORT_ATTEMPTS: usize = 5;

/// An S3 access key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    pub id: String,
    pub secret: String,
}

impl Key {
    /// A new random key in Garage's format (`GK` and 24 hex digits; a
    /// secret of 64 hex digits). Not known to any server until imported.
    pub fn random() -> Key {
        Key { id: format!("GK{}", random_hex(12)), secret: random_hex(32) }
    }
}

/// Settings of the nodes beyond the defaults.
#[derive(Clone, Debug, Default)]
pub struct Setup {
    /// TOML lines added at the top level of every node's garage.toml, e.g.
    /// `compression_level = "none"` or `block_size = "4MiB"`.
    pub extra_config: String,
}

/// One node: its directory, addresses and process.
struct Node {
    ip: Ipv4Addr,
    dir: PathBuf,
    rpc_port: u16,
    s3_port: u16,
    admin_port: u16,
    /// `<hex public key>@<ip>:<rpc port>`.
    id: String,
    child: Option<Child>,
}

impl Node {
    fn config(&self) -> PathBuf {
        self.dir.join("garage.toml")
    }
    fn log(&self) -> PathBuf {
        self.dir.join("garage.log")
    }
}

/// A running Garage node or cluster, torn down on drop.
pub struct Garage {
    bin: PathBuf,
    root: PathBuf,
    nodes: Vec<Node>,
    admin_token: String,
    /// The bucket made at start ([`BUCKET`]).
    pub bucket: String,
    /// The S3 region ([`REGION`]).
    pub region: String,
    /// A key with read, write and owner rights on the bucket.
    pub key: Key,
    /// A key the server knows, with no right on the bucket.
    pub no_access_key: Key,
    /// A key the server has never seen.
    pub unknown_key: Key,
}

/// One node on 127.0.0.1 (replication factor 1), with the bucket and keys.
/// `None` (after printing why) when Garage is not installed and not required.
pub fn single() -> Option<Garage> {
    single_with(&Setup::default())
}

/// [`single`] with extra settings.
pub fn single_with(setup: &Setup) -> Option<Garage> {
    let bin = binary_or_skip("garage::single")?;
    Some(Garage::start(bin, 1, setup))
}

/// Three nodes on 127.0.0.1, 127.0.0.2 and 127.0.0.3 (replication factor 3),
/// connected, with the bucket and keys. `None` as for [`single`].
pub fn cluster3() -> Option<Garage> {
    cluster3_with(&Setup::default())
}

/// [`cluster3`] with extra settings.
pub fn cluster3_with(setup: &Setup) -> Option<Garage> {
    let bin = binary_or_skip("garage::cluster3")?;
    Some(Garage::start(bin, 3, setup))
}

/// Whether a missing Garage fails the test rather than skipping it.
pub fn required() -> bool {
    match std::env::var("OBJSTORE_REQUIRE_GARAGE") {
        Ok(v) if v == "0" => false,
        Ok(v) if !v.is_empty() => true,
        _ => std::env::var("CI").map(|v| !v.is_empty() && v != "false" && v != "0").unwrap_or(false),
    }
}

/// The tools cache: `$OBJSTORE_TOOLS_DIR`, else `$XDG_CACHE_HOME/objstore-tools`,
/// else `~/.cache/objstore-tools` (the same rule as `.ci/garage.sh`).
pub fn tools_dir() -> PathBuf {
    let non_empty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(d) = non_empty("OBJSTORE_TOOLS_DIR") {
        return d;
    }
    let cache = non_empty("XDG_CACHE_HOME")
        .unwrap_or_else(|| non_empty("HOME").unwrap_or_else(|| PathBuf::from("/root")).join(".cache"));
    cache.join("objstore-tools")
}

/// Where the server binary is looked for: `$OBJSTORE_GARAGE_BIN`, else
/// `<tools dir>/garage/bin/garage`.
pub fn binary_path() -> PathBuf {
    match std::env::var_os("OBJSTORE_GARAGE_BIN").filter(|v| !v.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => tools_dir().join("garage/bin/garage"),
    }
}

/// The server binary if it is there; otherwise panics when Garage is
/// [`required`], else prints how to install it and returns `None`.
pub fn binary_or_skip(what: &str) -> Option<PathBuf> {
    let bin = binary_path();
    if bin.is_file() {
        return Some(bin);
    }
    let how = format!(
        "Garage {VERSION} is not installed at {}: `.ci/garage.sh install` builds it there \
         (cargo install, about five minutes), or point OBJSTORE_GARAGE_BIN at a garage binary",
        bin.display()
    );
    if required() {
        panic!("{what}: {how} (required because CI or OBJSTORE_REQUIRE_GARAGE is set)");
    }
    eprintln!("{what}: skipped: {how}");
    None
}

impl Garage {
    fn start(bin: PathBuf, n: usize, setup: &Setup) -> Garage {
        remove_stale_dirs();
        let root = std::env::temp_dir().join(format!("objstore-garage-{}-{}", std::process::id(), random_hex(6)));
        fs::create_dir_all(&root).unwrap_or_else(|e| panic!("garage: cannot create {}: {e}", root.display()));
        let rpc_secret = random_hex(32);
        let admin_token = random_hex(16);
        let mut g = Garage {
            bin,
            root,
            nodes: vec![],
            admin_token,
            bucket: BUCKET.to_string(),
            region: REGION.to_string(),
            key: Key::random(),
            no_access_key: Key::random(),
            unknown_key: Key::random(),
        };
        // From here on a panic drops `g`, which kills what was started.
        for i in 0..n {
            let ip = Ipv4Addr::new(127, 0, 0, 1 + i as u8);
            let dir = g.root.join(format!("node{i}"));
            for sub in ["meta", "data"] {
                fs::create_dir_all(dir.join(sub)).unwrap();
            }
            g.nodes.push(Node { ip, dir, rpc_port: 0, s3_port: 0, admin_port: 0, id: String::new(), child: None });
            g.start_node_on_fresh_ports(i, n, &rpc_secret, setup);
        }
        for i in 0..n {
            let id = g.cli_on(i, &["node", "id", "-q"]);
            g.nodes[i].id = id.trim().to_string();
        }
        // Every pair, rather than waiting for the peers to gossip each other's addresses.
        for i in 0..n {
            for j in i + 1..n {
                let id = g.nodes[j].id.clone();
                g.cli_on(i, &["node", "connect", &id]);
            }
        }
        let ids: Vec<String> = g.nodes.iter().map(|n| n.id.split('@').next().unwrap().to_string()).collect();
        let mut assign = vec!["layout", "assign", "-z", "dc1", "-c", "10G"];
        assign.extend(ids.iter().map(String::as_str));
        g.cli(&assign);
        g.cli(&["layout", "apply", "--version", "1"]);
        g.wait_healthy(HEALTH_TIMEOUT);
        g.cli(&["bucket", "create", BUCKET]);
        let (key, no_access) = (g.key.clone(), g.no_access_key.clone());
        g.cli(&["key", "import", "--yes", "-n", "objstore-test", &key.id, &key.secret]);
        g.cli(&["key", "import", "--yes", "-n", "objstore-no-access", &no_access.id, &no_access.secret]);
        g.cli(&["bucket", "allow", "--read", "--write", "--owner", BUCKET, "--key", &key.id]);
        g
    }

    /// Chooses free ports for node `i`, writes its config and starts it;
    /// chooses again when a port was taken in between.
    fn start_node_on_fresh_ports(&mut self, i: usize, n: usize, rpc_secret: &str, setup: &Setup) {
        for attempt in 1..=PORT_ATTEMPTS {
            let ip = self.nodes[i].ip;
            let [rpc, s3, admin] = free_ports(ip);
            let node = &mut self.nodes[i];
            (node.rpc_port, node.s3_port, node.admin_port) = (rpc, s3, admin);
            let config = format!(
                "# Written by tests/common/garage.rs\n\
                 metadata_dir = \"{meta}\"\n\
                 data_dir = \"{data}\"\n\
                 db_engine = \"lmdb\"\n\
                 lmdb_map_size = \"1GiB\"\n\
                 replication_factor = {n}\n\
                 rpc_bind_addr = \"{ip}:{rpc}\"\n\
                 rpc_public_addr = \"{ip}:{rpc}\"\n\
                 rpc_secret = \"{rpc_secret}\"\n\
                 {extra}\n\
                 [s3_api]\n\
                 s3_region = \"{REGION}\"\n\
                 api_bind_addr = \"{ip}:{s3}\"\n\
                 \n\
                 [admin]\n\
                 api_bind_addr = \"{ip}:{admin}\"\n\
                 admin_token = \"{token}\"\n",
                meta = node.dir.join("meta").display(),
                data = node.dir.join("data").display(),
                extra = setup.extra_config,
                token = self.admin_token,
            );
            fs::write(node.config(), config).unwrap();
            match self.spawn_node(i) {
                Ok(()) => return,
                Err(log) if attempt < PORT_ATTEMPTS && (log.contains(ADDR_IN_USE) || log.contains(NOT_ANSWERING)) => {
                    eprintln!("garage: node {i}: a port was taken before Garage bound it; trying others");
                    continue;
                }
                Err(log) => panic!(
                    "garage: node {i} ({}) did not start; the end of {}:\n{}",
                    self.nodes[i].ip,
                    self.nodes[i].log().display(),
                    tail(&log, 40)
                ),
            }
        }
    }

    /// Starts node `i` with its config and waits until its RPC, S3 and
    /// admin servers listen. On failure, the node's log since this start.
    fn spawn_node(&mut self, i: usize) -> Result<(), String> {
        let node = &self.nodes[i];
        let log_path = node.log();
        let log_start = fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
        let log = fs::OpenOptions::new().create(true).append(true).open(&log_path).unwrap();
        let mut cmd = Command::new(&self.bin);
        clean_env(&mut cmd);
        cmd.arg("-c")
            .arg(node.config())
            .arg("server")
            .env("RUST_LOG", std::env::var("OBJSTORE_GARAGE_LOG").unwrap_or_else(|_| DEFAULT_LOG.to_string()))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let child =
            spawn_tied_to_process(cmd).unwrap_or_else(|e| panic!("garage: cannot run {}: {e}", self.bin.display()));
        self.nodes[i].child = Some(child);
        let node = &mut self.nodes[i];
        let want = [
            format!("Listening on {}:{}", node.ip, node.rpc_port),
            format!("S3 API server listening on http://{}:{}", node.ip, node.s3_port),
            format!("Admin API server listening on http://{}:{}", node.ip, node.admin_port),
        ];
        // Garage logs "S3 API server listening" (and the admin API's) just
        // before it binds. When the S3 API then cannot bind, Garage logs
        // "... server exited with error: ... Address already in use" and runs
        // on without it; when the admin API cannot, it logs nothing. So both
        // ports must also answer HTTP (a socket held by another process does
        // not), and a port that does not is taken as a clash.
        let deadline = Instant::now() + START_TIMEOUT;
        let mut logged_at: Option<Instant> = None;
        let fail = |node: &mut Node, text: String, why: &str| {
            let mut child = node.child.take().unwrap();
            let _ = child.kill();
            let _ = child.wait();
            Err(format!("{text}\n({why}; killed)"))
        };
        loop {
            let text = read_from(&log_path, log_start);
            if let Some(status) = node.child.as_mut().unwrap().try_wait().unwrap() {
                node.child = None;
                return Err(format!("{text}\n(garage exited: {status})"));
            }
            if text.contains("exited with error") || text.contains(ADDR_IN_USE) {
                return fail(node, text, "failed");
            }
            if want.iter().all(|w| text.contains(w.as_str())) {
                let since = *logged_at.get_or_insert_with(Instant::now);
                if http_answers(node.ip, node.s3_port) && http_answers(node.ip, node.admin_port) {
                    let text = read_from(&log_path, log_start);
                    if !text.contains("exited with error") {
                        return Ok(());
                    }
                    return fail(node, text, "failed");
                }
                if since.elapsed() > PORT_ANSWER_TIMEOUT {
                    return fail(node, text, NOT_ANSWERING);
                }
            }
            if Instant::now() > deadline {
                return fail(node, text, &format!("not listening after {START_TIMEOUT:?}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// How many nodes (running or not).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether node `i` is running (not killed).
    pub fn is_running(&self, i: usize) -> bool {
        self.nodes[i].child.is_some()
    }

    /// The process ids of the running nodes.
    pub fn pids(&self) -> Vec<u32> {
        self.nodes.iter().filter_map(|n| n.child.as_ref().map(Child::id)).collect()
    }

    /// The S3 endpoint of the first running node, e.g. `http://127.0.0.1:40123`.
    pub fn endpoint(&self) -> String {
        self.endpoint_of(self.first_running())
    }

    /// The S3 endpoint of node `i` (running or not).
    pub fn endpoint_of(&self, i: usize) -> String {
        format!("http://{}:{}", self.nodes[i].ip, self.nodes[i].s3_port)
    }

    /// The S3 endpoints of all nodes.
    pub fn endpoints(&self) -> Vec<String> {
        (0..self.nodes.len()).map(|i| self.endpoint_of(i)).collect()
    }

    /// The admin API endpoint of node `i` (bearer token: [`Garage::admin_token`]).
    pub fn admin_endpoint_of(&self, i: usize) -> String {
        format!("http://{}:{}", self.nodes[i].ip, self.nodes[i].admin_port)
    }

    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// The directory holding every node's files (`node<i>/garage.toml`,
    /// `garage.log`, `meta/`, `data/`).
    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// Node `i`'s log so far.
    pub fn log(&self, i: usize) -> String {
        read_from(&self.nodes[i].log(), 0)
    }

    /// The AWS environment of a client with [`Garage::key`] on
    /// [`Garage::endpoint`]: AWS_ENDPOINT (and AWS_ENDPOINT_URL, the same),
    /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION,
    /// AWS_ALLOW_HTTP=true and AWS_BUCKET.
    pub fn env(&self) -> Vec<(String, String)> {
        env_for(&self.endpoint(), &self.key, &self.region, &self.bucket)
    }

    /// [`Garage::env`] with node `i`'s endpoint.
    pub fn env_of(&self, i: usize) -> Vec<(String, String)> {
        env_for(&self.endpoint_of(i), &self.key, &self.region, &self.bucket)
    }

    /// [`Garage::env`] with a key that exists but has no right on the bucket
    /// (requests fail with 403 AccessDenied).
    pub fn env_no_access(&self) -> Vec<(String, String)> {
        env_for(&self.endpoint(), &self.no_access_key, &self.region, &self.bucket)
    }

    /// [`Garage::env`] with a key the server does not know (requests fail
    /// with 403 InvalidAccessKeyId).
    pub fn env_unknown_key(&self) -> Vec<(String, String)> {
        env_for(&self.endpoint(), &self.unknown_key, &self.region, &self.bucket)
    }

    /// [`Garage::env`] with the right key id and a wrong secret (requests
    /// fail with 403 SignatureDoesNotMatch).
    pub fn env_wrong_secret(&self) -> Vec<(String, String)> {
        let key = Key { id: self.key.id.clone(), secret: random_hex(32) };
        env_for(&self.endpoint(), &key, &self.region, &self.bucket)
    }

    /// A new key with no rights yet (see [`Garage::allow`]).
    pub fn create_key(&self, name: &str) -> Key {
        let key = Key::random();
        self.cli(&["key", "import", "--yes", "-n", name, &key.id, &key.secret]);
        key
    }

    /// Creates another bucket.
    pub fn create_bucket(&self, name: &str) {
        self.cli(&["bucket", "create", name]);
    }

    /// Gives `key` the rights named in `rights` ("read", "write", "owner")
    /// on `bucket`.
    pub fn allow(&self, bucket: &str, key: &Key, rights: &[&str]) {
        let flags: Vec<String> = rights.iter().map(|r| format!("--{r}")).collect();
        let mut args = vec!["bucket", "allow"];
        args.extend(flags.iter().map(String::as_str));
        args.extend([bucket, "--key", &key.id]);
        self.cli(&args);
    }

    /// Takes `rights` away from `key` on `bucket`.
    pub fn deny(&self, bucket: &str, key: &Key, rights: &[&str]) {
        let flags: Vec<String> = rights.iter().map(|r| format!("--{r}")).collect();
        let mut args = vec!["bucket", "deny"];
        args.extend(flags.iter().map(String::as_str));
        args.extend([bucket, "--key", &key.id]);
        self.cli(&args);
    }

    /// Runs a `garage` admin command against the first running node and
    /// returns its standard output; panics if it fails.
    pub fn cli(&self, args: &[&str]) -> String {
        self.cli_on(self.first_running(), args)
    }

    /// Runs a `garage` admin command against node `i`; panics if it fails.
    pub fn cli_on(&self, i: usize, args: &[&str]) -> String {
        self.try_cli_on(i, args)
            .unwrap_or_else(|e| panic!("garage: `garage {}` on node {i} failed: {e}", args.join(" ")))
    }

    /// Runs a `garage` admin command against node `i`: its standard output,
    /// or what went wrong.
    pub fn try_cli_on(&self, i: usize, args: &[&str]) -> Result<String, String> {
        let mut cmd = Command::new(&self.bin);
        clean_env(&mut cmd);
        cmd.arg("-c").arg(self.nodes[i].config()).args(args);
        run_bounded(cmd, CLI_TIMEOUT)
    }

    /// The admin API's cluster health as node `i` sees it (the JSON of
    /// `GetClusterHealth`: status, connectedNodes, storageNodesUp, ...).
    pub fn health_on(&self, i: usize) -> Result<serde_json::Value, String> {
        let out = self.try_cli_on(i, &["json-api", "GetClusterHealth"])?;
        serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))
    }

    /// Waits until every running node sees every running node connected
    /// and the layout's partitions at full strength among them.
    pub fn wait_healthy(&self, timeout: Duration) {
        let up = self.running().count();
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        loop {
            let mut ok = true;
            for i in self.running() {
                match self.health_on(i) {
                    Ok(h) => {
                        let connected = h["connectedNodes"].as_u64() == Some(up as u64);
                        let storage = h["storageNodesUp"].as_u64() == Some(up as u64);
                        let quorum = h["partitions"].as_u64().is_some() && h["partitions"] == h["partitionsQuorum"];
                        if !(connected && storage && quorum) {
                            ok = false;
                            last = format!("node {i}: {h}");
                        }
                    }
                    Err(e) => {
                        ok = false;
                        last = format!("node {i}: {e}");
                    }
                }
            }
            if ok {
                return;
            }
            if Instant::now() > deadline {
                panic!("garage: the cluster is not healthy after {timeout:?}; last seen: {last}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILLs node `i` and reaps it. Requests go on as long as a quorum
    /// (two of three) is up, but until the others notice the death, a
    /// request that waits on the dead node can stall: Garage 2.5.0 sees the
    /// connection closed only when its next message on it fails, which can
    /// take up to about 10 s (its status exchange interval) when nothing
    /// else is sent. [`Garage::wait_noticed_down`] waits for that.
    pub fn kill(&mut self, i: usize) {
        let mut child = self.nodes[i].child.take().unwrap_or_else(|| panic!("garage: node {i} is not running"));
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Waits until every running node sees node `i` as down (after [`Garage::kill`]).
    pub fn wait_noticed_down(&self, i: usize, timeout: Duration) {
        assert!(!self.is_running(i), "garage: node {i} is running");
        let up = self.running().count() as u64;
        let deadline = Instant::now() + timeout;
        loop {
            let seen: Vec<Option<u64>> =
                self.running().map(|j| self.health_on(j).ok().and_then(|h| h["connectedNodes"].as_u64())).collect();
            if seen.iter().all(|c| *c == Some(up)) {
                return;
            }
            if Instant::now() > deadline {
                panic!("garage: node {i}'s death not noticed after {timeout:?}: connected nodes seen {seen:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts killed node `i` again on its data and ports, and waits until
    /// the cluster is healthy with it.
    pub fn restart(&mut self, i: usize) {
        assert!(!self.is_running(i), "garage: node {i} is running");
        if let Err(log) = self.spawn_node(i) {
            panic!("garage: node {i} did not restart; its log since the restart:\n{}", tail(&log, 40));
        }
        // The others retry a lost peer only every 30 s (and the restarted
        // node rediscovers its peers on a slow timer too): connect both ways now.
        let others: Vec<usize> = self.running().filter(|&j| j != i).collect();
        for j in others {
            let (id_i, id_j) = (self.nodes[i].id.clone(), self.nodes[j].id.clone());
            self.cli_on(i, &["node", "connect", &id_j]);
            self.cli_on(j, &["node", "connect", &id_i]);
        }
        self.wait_healthy(HEALTH_TIMEOUT);
    }

    fn running(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.nodes.len()).filter(|&i| self.is_running(i))
    }

    fn first_running(&self) -> usize {
        self.running().next().expect("garage: no node is running")
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if std::thread::panicking() {
            for (i, node) in self.nodes.iter().enumerate() {
                eprintln!("--- garage node {i} ({}), end of {}:", node.ip, node.log().display());
                eprintln!("{}", tail(&read_from(&node.log(), 0), 30));
            }
        }
        if std::env::var_os("OBJSTORE_KEEP_GARAGE").is_some_and(|v| !v.is_empty() && v != "0") {
            // The mark keeps it from remove_stale_dirs too.
            let _ = fs::write(self.root.join(KEPT_MARK), "");
            eprintln!("garage: kept {}", self.root.display());
        } else {
            let _ = fs::remove_dir_all(&self.root);
        }
    }
}

/// The AWS environment of a client of `endpoint` with `key`.
pub fn env_for(endpoint: &str, key: &Key, region: &str, bucket: &str) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT", endpoint),
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", &key.id),
        ("AWS_SECRET_ACCESS_KEY", &key.secret),
        ("AWS_REGION", region),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_BUCKET", bucket),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Gives a child process exactly this AWS environment: removes every other
/// `AWS_*` variable it would inherit (a profile, a session token, ...) and
/// sets `env`.
pub fn apply_env(cmd: &mut Command, env: &[(String, String)]) {
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(&k);
        }
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
}

/// Removes the variables through which the `garage` command would take its
/// config, secrets or target node from the caller's environment.
fn clean_env(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("GARAGE_") {
            cmd.env_remove(&k);
        }
    }
}

/// Three ports free on `ip` now (each bound, then released together).
fn free_ports(ip: Ipv4Addr) -> [u16; 3] {
    let ls: Vec<TcpListener> = (0..3)
        .map(|_| TcpListener::bind((ip, 0)).unwrap_or_else(|e| panic!("garage: cannot bind {ip}: {e}")))
        .collect();
    [0, 1, 2].map(|i| ls[i].local_addr().unwrap().port())
}

/// Whether an HTTP server answers at `ip:port` (any status) within a second or two.
fn http_answers(ip: Ipv4Addr, port: u16) -> bool {
    use std::io::Write;
    let Ok(mut c) = std::net::TcpStream::connect_timeout(&(ip, port).into(), Duration::from_secs(1)) else {
        return false;
    };
    let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = c.set_write_timeout(Some(Duration::from_secs(2)));
    if c.write_all(format!("GET /health HTTP/1.1\r\nHost: {ip}:{port}\r\nConnection: close\r\n\r\n").as_bytes())
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 7];
    c.read_exact(&mut head).is_ok() && &head == b"HTTP/1."
}

/// Runs `cmd` to completion within `timeout` (killed after it); its
/// standard output if it exits 0.
fn run_bounded(mut cmd: Command, timeout: Duration) -> Result<String, String> {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("cannot run: {e}"))?;
    // Read both pipes in threads so that a chatty command cannot block.
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out_pipe.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            break Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let out = out_reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    match status {
        Some(st) if st.success() => Ok(out),
        Some(st) => Err(format!("{st}\n{}{}", out.trim_end(), err.trim_end())),
        None => Err(format!("killed after {timeout:?}\n{}{}", out.trim_end(), err.trim_end())),
    }
}

type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns `cmd` with PR_SET_PDEATHSIG = SIGKILL, from a thread that lives as
/// long as the process: the kernel delivers that signal when the thread
/// that forked the child ends, so forking from a test's own thread would
/// kill the node when that test ends even if the Garage is kept (in a
/// static, say).
fn spawn_tied_to_process(mut cmd: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: prctl, getppid and raise are async-signal-safe, and the
    // closure allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before the prctl.
            if libc::getppid() != parent {
                libc::raise(libc::SIGKILL);
            }
            Ok(())
        });
    }
    let tx = SPAWNER
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel::<SpawnRequest>();
            std::thread::Builder::new()
                .name("garage-spawner".into())
                .spawn(move || {
                    for (mut cmd, reply) in rx {
                        let _ = reply.send(cmd.spawn());
                    }
                })
                .expect("spawn the garage-spawner thread");
            Mutex::new(tx)
        })
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let (reply_tx, reply_rx) = mpsc::channel();
    tx.send((cmd, reply_tx)).expect("garage-spawner thread gone");
    reply_rx.recv().expect("garage-spawner thread gone")
}

/// The file that marks a directory kept by `OBJSTORE_KEEP_GARAGE`.
const KEPT_MARK: &str = "KEPT";

/// Removes `objstore-garage-<pid>-*` directories of processes that are gone
/// (a test process killed before its Garage dropped), except kept ones.
fn remove_stale_dirs() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("objstore-garage-") else { continue };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { continue };
        let dead = pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists();
        if dead && !e.path().join(KEPT_MARK).exists() {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// The file from byte `offset` on ("" if unreadable).
fn read_from(path: &Path, offset: u64) -> String {
    use std::io::{Seek, SeekFrom};
    let mut s = Vec::new();
    if let Ok(mut f) = fs::File::open(path) {
        if f.seek(SeekFrom::Start(offset)).is_ok() {
            let _ = f.read_to_end(&mut s);
        }
    }
    String::from_utf8_lossy(&s).into_owned()
}

fn tail(text: &str, lines: usize) -> String {
    let v: Vec<&str> = text.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

/// `bytes` random bytes from the kernel, as lowercase hex.
fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf)).expect("read /dev/urandom");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

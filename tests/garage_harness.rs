//! Tests of the Garage harness (tests/common/garage.rs) that the remote
//! tier's tests run against: a single node and a three-node cluster come up,
//! serve S3 requests through object_store, survive a SIGKILLed node, refuse
//! wrong keys, and leave nothing behind. Skipped with a message when Garage
//! is not installed (`.ci/garage.sh install`), failed when it is required
//! (`CI` set or `OBJSTORE_REQUIRE_GARAGE=1`).
#![cfg(not(any(loom, miri)))] // as its dev-dependencies in Cargo.toml

#[path = "common/garage.rs"]
mod garage;

use std::sync::Arc;
use std::time::{Duration, Instant};

use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjPath;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig};

/// A blocking S3 client over object_store, built from the harness's
/// AWS environment pairs.
struct S3 {
    rt: tokio::runtime::Runtime,
    store: Arc<dyn ObjectStore>,
}

impl S3 {
    fn new(env: &[(String, String)]) -> S3 {
        S3::with_options(env, ClientOptions::new(), RetryConfig::default())
    }

    fn with_options(env: &[(String, String)], client: ClientOptions, retry: RetryConfig) -> S3 {
        // TLS by rustls on ring (the provider the remote tier installs too).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        // Client options first: the AWS_ALLOW_HTTP pair lands in them.
        let mut b = AmazonS3Builder::new().with_client_options(client).with_retry(retry);
        for (k, v) in env {
            b = b.with_config(k.to_ascii_lowercase().parse().unwrap(), v);
        }
        S3 { rt, store: Arc::new(b.build().expect("build S3 client")) }
    }

    fn put(&self, key: &str, data: &[u8]) -> object_store::Result<()> {
        self.rt.block_on(self.store.put(&ObjPath::from(key), data.to_vec().into())).map(|_| ())
    }

    fn get(&self, key: &str) -> object_store::Result<Vec<u8>> {
        self.rt.block_on(async { Ok(self.store.get(&ObjPath::from(key)).await?.bytes().await?.to_vec()) })
    }
}

fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn is_denied(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. })
}

#[test]
fn single_node_put_get_head_list_delete() {
    let Some(g) = garage::single() else { return };
    let env = g.env();
    let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
    for want in ["AWS_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_ALLOW_HTTP"] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    assert!(g.endpoint().starts_with("http://127.0.0.1:"), "{}", g.endpoint());

    let s3 = S3::new(&env);
    let small = pattern(1, 1000);
    let big = pattern(2, 3 << 20);
    s3.put("dir/small", &small).unwrap();
    s3.put("dir/big", &big).unwrap();
    assert_eq!(s3.get("dir/small").unwrap(), small);
    assert_eq!(s3.get("dir/big").unwrap(), big);
    s3.put("dir/small", b"replaced").unwrap();
    assert_eq!(s3.get("dir/small").unwrap(), b"replaced");

    s3.rt.block_on(async {
        let st = &s3.store;
        assert_eq!(st.head(&ObjPath::from("dir/big")).await.unwrap().size, big.len() as u64);
        assert_eq!(st.get_range(&ObjPath::from("dir/big"), 1000..2000).await.unwrap().as_ref(), &big[1000..2000]);
        let listed = st.list_with_delimiter(Some(&ObjPath::from("dir"))).await.unwrap();
        let mut keys: Vec<String> = listed.objects.iter().map(|o| o.location.to_string()).collect();
        keys.sort();
        assert_eq!(keys, ["dir/big", "dir/small"]);
        st.delete(&ObjPath::from("dir/small")).await.unwrap();
    });
    assert!(matches!(s3.get("dir/small"), Err(object_store::Error::NotFound { .. })));
}

#[test]
fn multipart_put_of_a_large_object() {
    let Some(g) = garage::single() else { return };
    let s3 = S3::new(&g.env());
    let data = pattern(3, 20 << 20);
    s3.rt.block_on(async {
        let path = ObjPath::from("multi");
        let upload = s3.store.put_multipart(&path).await.unwrap();
        let mut w = object_store::WriteMultipart::new_with_chunk_size(upload, 5 << 20);
        for chunk in data.chunks(1 << 20) {
            w.wait_for_capacity(4).await.unwrap();
            w.write(chunk);
        }
        w.finish().await.unwrap();
    });
    assert_eq!(s3.get("multi").unwrap(), data);
}

#[test]
fn wrong_keys_are_denied() {
    let Some(g) = garage::single() else { return };
    S3::new(&g.env()).put("there", b"data").unwrap();
    for (what, env) in [
        ("no-access key", g.env_no_access()),
        ("unknown key", g.env_unknown_key()),
        ("wrong secret", g.env_wrong_secret()),
    ] {
        let s3 = S3::new(&env);
        let e = s3.get("there").expect_err(what);
        assert!(is_denied(&e), "{what}: get: {e:?}");
        let e = s3.put("other", b"x").expect_err(what);
        assert!(is_denied(&e), "{what}: put: {e:?}");
    }

    // A key given read only can read and not write; given write too, it can.
    let reader = g.create_key("reader");
    let env = garage::env_for(&g.endpoint(), &reader, &g.region, &g.bucket);
    assert!(is_denied(&S3::new(&env).get("there").unwrap_err()));
    g.allow(&g.bucket, &reader, &["read"]);
    let s3 = S3::new(&env);
    assert_eq!(s3.get("there").unwrap(), b"data");
    assert!(is_denied(&s3.put("other", b"x").unwrap_err()));
    g.allow(&g.bucket, &reader, &["write"]);
    s3.put("other", b"x").unwrap();
    g.deny(&g.bucket, &reader, &["read", "write"]);
    assert!(is_denied(&s3.get("there").unwrap_err()));
}

/// A client of an endpoint where nothing answers fails within a bounded
/// time (with the timeouts and retries the test sets), whether the port
/// refuses connections or accepts them and then never responds.
#[test]
fn unreachable_endpoint_errors_in_bounded_time() {
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap(); // never accepts: the backlog holds the connection
    let silent_port = silent.local_addr().unwrap().port();
    let key = garage::Key::random();
    for (what, port) in [("refused", refused), ("silent", silent_port)] {
        let env = garage::env_for(&format!("http://127.0.0.1:{port}"), &key, garage::REGION, garage::BUCKET);
        let client =
            ClientOptions::new().with_timeout(Duration::from_secs(2)).with_connect_timeout(Duration::from_secs(1));
        let retry = RetryConfig { max_retries: 1, retry_timeout: Duration::from_secs(5), ..RetryConfig::default() };
        let s3 = S3::with_options(&env, client, retry);
        let t = Instant::now();
        let e = s3.get("x").expect_err(what);
        let took = t.elapsed();
        assert!(took < Duration::from_secs(15), "{what}: took {took:?}: {e}");
        eprintln!("{what}: failed after {took:?}: {e}");
    }
    drop(silent);
}

#[test]
fn cluster_of_three_survives_a_killed_node() {
    let Some(mut g) = garage::cluster3() else { return };
    assert_eq!(g.len(), 3);
    let eps = g.endpoints();
    assert_eq!(eps.len(), 3);
    for (i, ip) in ["127.0.0.1", "127.0.0.2", "127.0.0.3"].iter().enumerate() {
        assert!(eps[i].starts_with(&format!("http://{ip}:")), "{eps:?}");
    }
    let before = pattern(10, 2 << 20);
    let s3: Vec<S3> = (0..3).map(|i| S3::new(&g.env_of(i))).collect();
    s3[0].put("before", &before).unwrap();
    // Every node serves it (reads go to a quorum of two).
    for c in &s3 {
        assert_eq!(c.get("before").unwrap(), before);
    }

    g.kill(2);
    assert!(!g.is_running(2));
    // At once, before the others have noticed: the old object reads, a new
    // one writes (the first request may stall some seconds: see Garage::kill).
    assert_eq!(s3[0].get("before").unwrap(), before);
    let after = pattern(11, 2 << 20);
    s3[0].put("after", &after).unwrap();
    assert_eq!(s3[1].get("after").unwrap(), after);
    // The dead node's own endpoint refuses at once.
    let dead = S3::with_options(
        &g.env_of(2),
        ClientOptions::new().with_connect_timeout(Duration::from_secs(1)),
        RetryConfig { max_retries: 0, ..RetryConfig::default() },
    );
    let t = Instant::now();
    dead.get("before").expect_err("node 2 is dead");
    assert!(t.elapsed() < Duration::from_secs(5));
    drop(dead);

    // Once the others know it is down, the same.
    g.wait_noticed_down(2, Duration::from_secs(60));
    assert_eq!(s3[1].get("before").unwrap(), before);
    s3[1].put("after2", b"while node 2 is down").unwrap();

    // Back on its data, it serves everything, including what was written without it.
    g.restart(2);
    assert!(g.is_running(2));
    let s3_2 = S3::new(&g.env_of(2));
    assert_eq!(s3_2.get("before").unwrap(), before);
    assert_eq!(s3_2.get("after").unwrap(), after);
    assert_eq!(s3_2.get("after2").unwrap(), b"while node 2 is down");
    s3_2.put("restarted", b"ok").unwrap();
    assert_eq!(s3[0].get("restarted").unwrap(), b"ok");
}

/// Dropping the harness kills the nodes and removes their files, also when
/// the test panics.
#[test]
fn teardown_on_drop_and_on_panic() {
    if garage::binary_or_skip("teardown_on_drop_and_on_panic").is_none() {
        return;
    }
    let alive = |pid: u32| std::path::Path::new(&format!("/proc/{pid}")).exists();

    let g = garage::single().unwrap();
    let (dir, pids) = (g.dir().to_path_buf(), g.pids());
    assert!(dir.is_dir() && pids.len() == 1 && pids.iter().all(|&p| alive(p)));
    drop(g);
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(!pids.iter().any(|&p| alive(p)), "a node outlived its harness");

    let (tx, rx) = std::sync::mpsc::channel();
    let r = std::thread::spawn(move || {
        let g = garage::cluster3().unwrap();
        tx.send((g.dir().to_path_buf(), g.pids())).unwrap();
        panic!("a test failing with a cluster up");
    })
    .join();
    assert!(r.is_err());
    let (dir, pids) = rx.recv().unwrap();
    assert_eq!(pids.len(), 3);
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(!pids.iter().any(|&p| alive(p)), "a node outlived its harness");
}

/// The child of `missing_garage_skips_or_fails`: asks for a Garage that is
/// not there.
#[test]
#[ignore]
fn missing_garage_child() {
    if std::env::var_os("OBJSTORE_GARAGE_HARNESS_CHILD").is_none() {
        return;
    }
    assert!(garage::single().is_none());
}

/// Without the server, the harness skips with how to install it; in CI, or
/// when required, it fails the test saying the same.
#[test]
fn missing_garage_skips_or_fails() {
    let run = |extra: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.args(["--ignored", "--exact", "missing_garage_child", "--nocapture", "--test-threads=1"])
            .env("OBJSTORE_GARAGE_HARNESS_CHILD", "1")
            .env("OBJSTORE_GARAGE_BIN", "/nonexistent/garage")
            .env_remove("CI")
            .env_remove("OBJSTORE_REQUIRE_GARAGE");
        cmd.envs(extra.iter().copied());
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = run(&[]);
    assert!(ok && out.contains("skipped") && out.contains(".ci/garage.sh install"), "{out}");
    for env in [[("CI", "true")], [("OBJSTORE_REQUIRE_GARAGE", "1")]] {
        let (ok, out) = run(&env);
        assert!(!ok && out.contains("required") && out.contains(".ci/garage.sh install"), "{env:?}: {out}");
    }
    let (ok, out) = run(&[("CI", "true"), ("OBJSTORE_REQUIRE_GARAGE", "0")]);
    assert!(ok && out.contains("skipped"), "{out}");
}

//! The remote tier against a real S3 server: Garage on loopback
//! (tests/common/garage.rs). Put and publish in one store, get in another
//! (a second store stands for a second machine) from 0 B to 64 MiB, and
//! 1 GiB in a test of its own; refused credentials; damaged objects on the
//! server; a downloader and a publisher SIGKILLed midway; a three-node
//! cluster losing a node while objects go up and down. Skipped with a
//! message when Garage is not installed; failed when it is required (CI).

mod common;

#[cfg(feature = "remote")]
#[test]
#[ignore = "entry point of child processes, run by the other tests"]
fn child_entry() {
    with_remote::child_main();
}

#[cfg(feature = "remote")]
#[path = "common/garage.rs"]
mod garage;

#[cfg(feature = "remote")]
mod with_remote {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use object_store::aws::AmazonS3Builder;
    use object_store::path::Path as ObjPath;
    use object_store::{Attribute, Attributes, ObjectStore, ObjectStoreExt, PutOptions};

    use super::common::child::{spawn_child, ChildGuard};
    use super::common::{pattern, TempStore};
    use super::garage::{self, Garage};
    use objstore::remote_format::{Header, Placement, HEADER_LEN, METADATA_KEY};
    use objstore::{ErrorKind, ObjectId, Options, RemoteConfig, Store};

    const MIB: usize = 1 << 20;
    const LONG: Option<Duration> = Some(Duration::from_secs(120));
    const PREFIX: &str = "objects";

    fn url(g: &Garage) -> String {
        format!("s3://{}/{PREFIX}", g.bucket)
    }

    fn config(env: &[(String, String)]) -> RemoteConfig {
        env.iter().cloned().collect()
    }

    fn open(t: &TempStore, g: &Garage, env: &[(String, String)], capacity: u64) -> Store {
        let opts = Options { remote_url: Some(url(g)), remote_config: config(env), ..TempStore::options(capacity) };
        Store::open(&t.name, &opts).expect("open a store with a Garage remote")
    }

    /// A plain S3 client of the bucket, to look at and change what the
    /// stores published.
    struct Raw {
        rt: tokio::runtime::Runtime,
        s3: Arc<dyn ObjectStore>,
    }

    impl Raw {
        fn new(env: &[(String, String)]) -> Raw {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let mut b = AmazonS3Builder::new();
            for (k, v) in env {
                b = b.with_config(k.to_ascii_lowercase().parse().unwrap(), v);
            }
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
            Raw { rt, s3: Arc::new(b.build().unwrap()) }
        }
        fn key(id: &ObjectId) -> ObjPath {
            ObjPath::from(format!("{PREFIX}/{}", id.to_hex()))
        }
        /// The published object `id`: its header if it is kept as user
        /// metadata (in hex), and its body.
        fn read(&self, id: &ObjectId) -> Option<(Option<String>, Vec<u8>)> {
            self.rt.block_on(async {
                match self.s3.get(&Self::key(id)).await {
                    Ok(r) => {
                        let header = r.attributes.get(&Attribute::Metadata(METADATA_KEY.into())).map(|v| v.to_string());
                        Some((header, r.bytes().await.unwrap().to_vec()))
                    }
                    Err(object_store::Error::NotFound { .. }) => None,
                    Err(e) => panic!("{e}"),
                }
            })
        }
        /// Replaces object `id` with this header (user metadata, hex) and body.
        fn write(&self, id: &ObjectId, header: Option<String>, body: Vec<u8>) {
            let mut attributes = Attributes::new();
            if let Some(h) = header {
                attributes.insert(Attribute::Metadata(METADATA_KEY.into()), h.into());
            }
            self.rt.block_on(self.s3.put_opts(&Self::key(id), body.into(), PutOptions::from(attributes))).unwrap();
        }
    }

    #[test]
    fn put_and_publish_here_get_there_from_0_bytes_to_64_mib() {
        let Some(g) = garage::single() else { return };
        let env = g.env();
        let (ta, tb) = (TempStore::new("g-sizes-a"), TempStore::new("g-sizes-b"));
        let a = open(&ta, &g, &env, 256 << 20);
        let b = open(&tb, &g, &env, 256 << 20);
        // An empty body (no metadata, no data: the header is user
        // metadata), around the first GET (8 MiB of the published object's
        // body; the i-th has i * 5 bytes of metadata), a last range under
        // 2 MiB, and the single PUT (16 MiB) limits.
        let sizes = [0, 1, 1000, 256 * 1024, MIB + 7, 8 * MIB - 25, 8 * MIB - 30 + 1, 16 * MIB + 1, 18 * MIB, 64 * MIB];
        let mut objects = vec![];
        for (i, &len) in sizes.iter().enumerate() {
            let (data, meta) = (pattern(i as u64, len), pattern(50 + i as u64, i * 5));
            let id = a.put_with_meta(&data, &meta).unwrap();
            let t = Instant::now();
            a.publish(&id, LONG).unwrap();
            eprintln!("publish {len} B: {:?}", t.elapsed());
            objects.push((id, data, meta));
        }
        for (id, data, meta) in &objects {
            let t = Instant::now();
            let obj = b.get(id, LONG).unwrap();
            eprintln!("fetch {} B: {:?}", data.len(), t.elapsed());
            assert!(obj.data() == data.as_slice(), "{} bytes differ", data.len());
            assert_eq!(obj.meta(), meta.as_slice());
        }
        let s = b.stats().unwrap();
        assert_eq!((s.fetches_total, s.object_count, s.unsealed_count), (sizes.len() as u64, sizes.len() as u64, 0));
        // The second get is local.
        let (id, data, _) = &objects[objects.len() - 1];
        let t = Instant::now();
        assert_eq!(b.get(id, LONG).unwrap().data().len(), data.len());
        eprintln!("second get of 64 MiB: {:?}", t.elapsed());
        assert_eq!(b.stats().unwrap().fetches_total, sizes.len() as u64);
    }

    /// 1 GiB through Garage, bounded: CI runs it explicitly (`make
    /// test-remote` asks for it by name); locally it takes about 4 GiB of
    /// memory and some seconds.
    #[test]
    #[ignore = "1 GiB: run by `make test-remote` (part of `make test`)"]
    fn one_gib_put_and_publish_here_get_there() {
        let Some(g) = garage::single_with(&garage::Setup { extra_config: "compression_level = \"none\"".into() })
        else {
            return;
        };
        let env = g.env();
        let (ta, tb) = (TempStore::new("g-gib-a"), TempStore::new("g-gib-b"));
        let cap = (1 << 30) + (64 << 20);
        let a = open(&ta, &g, &env, cap);
        let b = open(&tb, &g, &env, cap);
        let len = 1 << 30;
        let id = a.new_id();
        {
            let mut c = a.create(&id, len, b"one GiB").unwrap();
            fill(c.data_mut(), 1234);
            c.seal().unwrap();
        }
        let t = Instant::now();
        a.publish(&id, Some(Duration::from_secs(300))).unwrap();
        let up = t.elapsed();
        let t = Instant::now();
        let obj = b.get(&id, Some(Duration::from_secs(300))).unwrap();
        let down = t.elapsed();
        eprintln!(
            "1 GiB: publish {up:?} ({:.0} MiB/s), fetch {down:?} ({:.0} MiB/s)",
            1024.0 / up.as_secs_f64(),
            1024.0 / down.as_secs_f64()
        );
        assert_eq!(obj.meta(), b"one GiB");
        assert!(check(obj.data(), 1234), "the fetched GiB differs");
        assert!(up + down < Duration::from_secs(300));
    }

    /// `pattern` in place, for buffers too large to build twice.
    fn fill(buf: &mut [u8], seed: u64) {
        for (i, chunk) in buf.chunks_mut(MIB).enumerate() {
            chunk.copy_from_slice(&pattern(seed + i as u64, chunk.len()));
        }
    }

    fn check(buf: &[u8], seed: u64) -> bool {
        buf.chunks(MIB).enumerate().all(|(i, chunk)| chunk == pattern(seed + i as u64, chunk.len()).as_slice())
    }

    #[test]
    fn refused_credentials_are_permission_denied() {
        let Some(g) = garage::single() else { return };
        let ta = TempStore::new("g-keys-a");
        let a = open(&ta, &g, &g.env(), 16 << 20);
        let id = a.put(b"published").unwrap();
        a.publish(&id, LONG).unwrap();
        for (what, env) in [
            ("no access", g.env_no_access()),
            ("unknown key", g.env_unknown_key()),
            ("wrong secret", g.env_wrong_secret()),
        ] {
            let tb = TempStore::new("g-keys-b");
            let b = open(&tb, &g, &env, 16 << 20);
            let e = b.get(&id, LONG).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{what}: get: {e}");
            assert!(e.message().contains(&g.endpoint()), "{what}: {e}");
            let mine = b.put(b"mine").unwrap();
            let e = b.publish(&mine, LONG).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{what}: publish: {e}");
            assert_eq!(b.stats().unwrap().object_count, 1);
        }
    }

    /// Rewrites the version in a header's bytes, with its CRC made right.
    fn set_version(header: &mut [u8], v: u32) {
        header[8..12].copy_from_slice(&v.to_le_bytes());
        let crc = crc32(&header[..60]);
        header[60..64].copy_from_slice(&crc.to_le_bytes());
    }

    fn unhex(hex: &str) -> Vec<u8> {
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// What a store publishes on S3: the header as user metadata, the body
    /// the metadata and the data alone (so 1 MiB of data is one Garage
    /// block); and an object damaged on the server, in its body or its
    /// header, is refused with nothing installed.
    #[test]
    fn damaged_objects_on_the_server_are_refused() {
        let Some(g) = garage::single() else { return };
        let env = g.env();
        let raw = Raw::new(&env);
        let ta = TempStore::new("g-damage-a");
        let a = open(&ta, &g, &env, 64 << 20);

        let id = a.put_with_meta(&pattern(77, MIB), b"meta").unwrap();
        a.publish(&id, LONG).unwrap();
        let (header, body) = raw.read(&id).unwrap();
        let header = Header::decode_hex(&header.expect("the header as user metadata"), &id, 4 + MIB as u64, "t")
            .expect("a header this library reads");
        assert_eq!((header.placement, header.meta_len, header.data_len), (Placement::UserMetadata, 4, MIB as u64));
        assert!(body[..4] == *b"meta" && body[4..] == pattern(77, MIB)[..], "the body is the metadata and data");

        type Damage = Box<dyn Fn(&mut Option<String>, &mut Vec<u8>)>;
        let mut cases: Vec<(&str, ErrorKind, &str, Damage)> = vec![
            ("flipped data byte", ErrorKind::Corrupt, "checksum mismatch", Box::new(|_, b| b[2 * MIB] ^= 4)),
            ("truncated", ErrorKind::Corrupt, "truncated", Box::new(|_, b| b.truncate(b.len() - 1000))),
            ("empty", ErrorKind::Corrupt, "truncated", Box::new(|_, b| b.clear())),
            ("longer", ErrorKind::Corrupt, "longer", Box::new(|_, b| b.push(1))),
            (
                "version 9",
                ErrorKind::Incompatible,
                "format version 9",
                Box::new(|h, _| {
                    let mut bytes = unhex(h.as_deref().unwrap());
                    set_version(&mut bytes, 9);
                    *h = Some(hex(&bytes));
                }),
            ),
            (
                "flipped header byte",
                ErrorKind::Corrupt,
                "damaged header",
                Box::new(|h, _| {
                    let mut bytes = unhex(h.as_deref().unwrap());
                    bytes[40] ^= 1;
                    *h = Some(hex(&bytes));
                }),
            ),
            ("header not hex", ErrorKind::Corrupt, "not hex", Box::new(|h, _| *h = Some("zz".repeat(64)))),
            // Without its header the body is read as one with a leading
            // header, which it is not.
            ("header gone", ErrorKind::Corrupt, "bad magic", Box::new(|h, _| *h = None)),
        ];
        for (i, (what, kind, words, damage)) in cases.drain(..).enumerate() {
            let id = a.put(&pattern(i as u64, 3 * MIB)).unwrap();
            a.publish(&id, LONG).unwrap();
            let (mut header, mut body) = raw.read(&id).unwrap();
            damage(&mut header, &mut body);
            raw.write(&id, header, body);
            let tb = TempStore::new("g-damage-b");
            let b = open(&tb, &g, &env, 64 << 20);
            let e = b.get(&id, LONG).unwrap_err();
            assert_eq!(e.kind(), kind, "{what}: {e}");
            assert!(e.message().contains(words), "{what}: '{words}' not in: {e}");
            let s = b.stats().unwrap();
            assert_eq!((s.object_count, s.unsealed_count, s.used_bytes), (0, 0, 0), "{what}: {e}");
        }
    }

    /// An object on S3 whose header leads its body (as on a file:// remote,
    /// or as another tool may write it) is read too, and damage to it is
    /// refused the same way.
    #[test]
    fn a_header_leading_the_body_is_read_from_s3() {
        let Some(g) = garage::single() else { return };
        let env = g.env();
        let raw = Raw::new(&env);
        let ta = TempStore::new("g-leading-a");
        let a = open(&ta, &g, &env, 64 << 20);
        for (i, (len, damage)) in
            [(0, None), (5, None), (3 * MIB, None), (3 * MIB, Some(8)), (MIB, Some(70))].into_iter().enumerate()
        {
            let (data, meta) = (pattern(90 + i as u64, len), pattern(95 + i as u64, i * 3));
            let id = a.put_with_meta(&data, &meta).unwrap();
            a.publish(&id, LONG).unwrap();
            let (kept, body) = raw.read(&id).unwrap();
            let mut header = unhex(&kept.unwrap());
            header[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
            set_version(&mut header, 1);
            let mut leading = [header, body].concat();
            if let Some(at) = damage {
                leading[at] ^= 1;
            }
            raw.write(&id, None, leading);
            let tb = TempStore::new("g-leading-b");
            let b = open(&tb, &g, &env, 64 << 20);
            match damage {
                None => {
                    let obj = b.get(&id, LONG).unwrap();
                    assert!(obj.data() == data.as_slice() && obj.meta() == meta.as_slice(), "{len} bytes differ");
                }
                Some(at) => {
                    let e = b.get(&id, LONG).unwrap_err();
                    let (kind, words) = if at < HEADER_LEN {
                        (ErrorKind::Incompatible, "format version")
                    } else {
                        (ErrorKind::Corrupt, "checksum mismatch")
                    };
                    assert_eq!(e.kind(), kind, "{e}");
                    assert!(e.message().contains(words), "{e}");
                    assert_eq!(b.stats().unwrap().object_count, 0);
                }
            }
        }
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }

    // ----- processes killed midway ----------------------------------------------------

    /// The roles of this file's children.
    pub(crate) fn child_main() {
        let args: Vec<String> =
            std::env::var("OBJSTORE_CHILD_ARGS").unwrap_or_default().split_whitespace().map(String::from).collect();
        let open = || {
            let config: RemoteConfig = args[3..].iter().filter_map(|kv| kv.split_once('=')).collect();
            let opts = Options { remote_url: Some(args[1].clone()), remote_config: config, ..Options::default() };
            Store::open(&args[0], &opts).unwrap()
        };
        match std::env::var("OBJSTORE_CHILD").as_deref() {
            // Gets object ARGS[2] into store ARGS[0] (remote ARGS[1]).
            Ok("garage-get") => {
                let s = open();
                println!("@fetching");
                let obj = s.get(&ObjectId::from_hex(&args[2]).unwrap(), LONG).unwrap();
                println!("@got {}", obj.data().len());
            }
            // Publishes object ARGS[2] of store ARGS[0].
            Ok("garage-publish") => {
                let s = open();
                println!("@publishing");
                s.publish(&ObjectId::from_hex(&args[2]).unwrap(), LONG).unwrap();
                println!("@published");
            }
            _ => super::common::child::run_child(),
        }
    }

    fn spawn(role: &str, store: &str, url: &str, id: &ObjectId, env: &[(String, String)]) -> ChildGuard {
        let mut args = vec![store.to_string(), url.to_string(), id.to_hex()];
        args.extend(env.iter().map(|(k, v)| format!("{k}={v}")));
        spawn_child(role, &args)
    }

    /// A TCP proxy to `target` that counts the bytes it forwards each way.
    struct Proxy {
        port: u16,
        up: Arc<AtomicU64>,
        down: Arc<AtomicU64>,
    }

    impl Proxy {
        fn new(target: &str) -> Proxy {
            let target = target.trim_start_matches("http://").to_string();
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = l.local_addr().unwrap().port();
            let (up, down) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
            let (u, d) = (Arc::clone(&up), Arc::clone(&down));
            std::thread::spawn(move || {
                for conn in l.incoming() {
                    let Ok(client) = conn else { return };
                    let Ok(server) = TcpStream::connect(&target) else { continue };
                    let pipe = |mut from: TcpStream, mut to: TcpStream, n: Arc<AtomicU64>| {
                        std::thread::spawn(move || {
                            let mut buf = vec![0u8; 256 << 10];
                            while let Ok(k) = from.read(&mut buf) {
                                if k == 0 || to.write_all(&buf[..k]).is_err() {
                                    break;
                                }
                                n.fetch_add(k as u64, Ordering::Relaxed);
                            }
                            let _ = to.shutdown(Shutdown::Write);
                        });
                    };
                    pipe(client.try_clone().unwrap(), server.try_clone().unwrap(), Arc::clone(&u));
                    pipe(server, client, Arc::clone(&d));
                }
            });
            Proxy { port, up, down }
        }

        /// `env` with the endpoint replaced by this proxy.
        fn env(&self, env: &[(String, String)]) -> Vec<(String, String)> {
            let mut env = env.to_vec();
            for (k, v) in env.iter_mut() {
                if k.starts_with("AWS_ENDPOINT") {
                    *v = format!("http://127.0.0.1:{}", self.port);
                }
            }
            env
        }
    }

    /// A downloader SIGKILLed mid-fetch (a quarter of the object through):
    /// its unsealed object is reclaimed and the next get fetches again.
    #[test]
    fn a_downloader_killed_mid_fetch_is_reclaimed_and_the_next_get_fetches_again() {
        let Some(g) = garage::single() else { return };
        let env = g.env();
        let (ta, tb) = (TempStore::new("g-killdl-a"), TempStore::new("g-killdl-b"));
        let a = open(&ta, &g, &env, 256 << 20);
        let data = pattern(31, 128 * MIB);
        let id = a.put(&data).unwrap();
        a.publish(&id, LONG).unwrap();
        let b = open(&tb, &g, &env, 256 << 20);
        let proxy = Proxy::new(&g.endpoint());
        let mut child = spawn("garage-get", &tb.name, &url(&g), &id, &proxy.env(&env));
        child.wait_for("fetching", Duration::from_secs(60));
        let start = Instant::now();
        while proxy.down.load(Ordering::Relaxed) < 32 << 20 {
            assert!(start.elapsed() < Duration::from_secs(60), "the child fetches nothing");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(b.stats().unwrap().unsealed_count, 1, "the child's object is not there");
        child.signal(libc::SIGKILL);
        child.wait_exit(Duration::from_secs(10));
        assert!(child.drain().iter().all(|e| !e.starts_with("got")), "the child finished before it was killed");
        let t = Instant::now();
        let obj = b.get(&id, LONG).unwrap();
        eprintln!("fetched again in {:?}", t.elapsed());
        assert!(obj.data() == data.as_slice());
        let s = b.stats().unwrap();
        assert_eq!((s.fetches_total, s.unsealed_count, s.reclaimed_processes), (1, 0, 1));
    }

    /// A publisher SIGKILLed mid-upload (some parts sent) leaves nothing
    /// visible; the next publish succeeds.
    #[test]
    fn a_publisher_killed_mid_upload_leaves_nothing_visible() {
        let Some(g) = garage::single() else { return };
        let env = g.env();
        let raw = Raw::new(&env);
        let (ta, tb) = (TempStore::new("g-killpub-a"), TempStore::new("g-killpub-b"));
        let a = open(&ta, &g, &env, 256 << 20);
        let b = open(&tb, &g, &env, 256 << 20);
        let data = pattern(41, 128 * MIB);
        let id = a.put(&data).unwrap();
        let proxy = Proxy::new(&g.endpoint());
        let mut child = spawn("garage-publish", &ta.name, &url(&g), &id, &proxy.env(&env));
        child.wait_for("publishing", Duration::from_secs(60));
        let start = Instant::now();
        while proxy.up.load(Ordering::Relaxed) < 40 << 20 {
            assert!(start.elapsed() < Duration::from_secs(60), "the child uploads nothing");
            std::thread::sleep(Duration::from_millis(1));
        }
        child.signal(libc::SIGKILL);
        child.wait_exit(Duration::from_secs(10));
        assert!(child.drain().iter().all(|e| e != "published"), "the child finished before it was killed");
        assert!(raw.read(&id).is_none(), "a partial upload is visible");
        assert_eq!(b.get(&id, Some(Duration::ZERO)).unwrap_err().kind(), ErrorKind::NotFound);
        a.publish(&id, LONG).unwrap();
        assert!(b.get(&id, LONG).unwrap().data() == data.as_slice());
    }

    // ----- spilling to the remote ----------------------------------------------------

    /// A store with a remote and no spill directory spills to the remote
    /// under memory pressure: 256 MiB through a 64 MiB store, byte for byte;
    /// another process restores what this one spilled.
    #[test]
    fn spilling_256_mib_through_a_64_mib_store_to_garage_loses_nothing() {
        let Some(g) = garage::single() else { return };
        let env = g.env();
        let t = TempStore::new("g-spill");
        let s = open(&t, &g, &env, 64 << 20);
        let start = Instant::now();
        let ids: Vec<ObjectId> = (0..64).map(|i| s.put(&pattern(i, 4 * MIB)).unwrap()).collect();
        eprintln!("256 MiB put through 64 MiB: {:?}", start.elapsed());
        let st = s.stats().unwrap();
        assert!(st.spills_total >= 40 && st.spilled_count >= 40, "{st:?}");
        // Another process restores the first (spilled) object.
        let mut child = spawn("garage-get", &t.name, &url(&g), &ids[0], &env);
        child.wait_for(&format!("got {}", 4 * MIB), Duration::from_secs(60));
        assert!(child.wait_exit(Duration::from_secs(30)).success());
        let start = Instant::now();
        for (i, id) in ids.iter().enumerate() {
            let obj = s.get(id, Some(Duration::ZERO)).unwrap();
            assert!(obj.data() == pattern(i as u64, 4 * MIB).as_slice(), "object {i} differs");
        }
        eprintln!("256 MiB got back: {:?}", start.elapsed());
        assert!(s.stats().unwrap().restores_total >= 40);
        for id in &ids {
            s.delete(id).unwrap();
        }
    }

    // ----- a cluster losing a node ------------------------------------------------------

    /// Two "machines" on different nodes of a three-node cluster (replication
    /// factor 3); a node is SIGKILLed while objects go up and down: every
    /// publish and fetch goes on, and every object reads back.
    #[test]
    fn a_cluster_of_three_losing_a_node_goes_on() {
        let Some(mut g) = garage::cluster3() else { return };
        let (ta, tb, tc) = (TempStore::new("g-c3-a"), TempStore::new("g-c3-b"), TempStore::new("g-c3-c"));
        let a = open(&ta, &g, &g.env_of(0), 256 << 20);
        let b = open(&tb, &g, &g.env_of(1), 256 << 20);
        let sizes = [10, 300_000, 3 * MIB, 20 * MIB];
        let mut objects = vec![];
        let mut round = |a: &Store, b: &Store, seed: u64| {
            for (i, &len) in sizes.iter().enumerate() {
                let data = pattern(seed + i as u64, len);
                let id = a.put(&data).unwrap();
                a.publish(&id, LONG).unwrap();
                assert!(b.get(&id, LONG).unwrap().data() == data.as_slice());
                objects.push((id, data));
            }
        };
        round(&a, &b, 100);
        g.kill(2);
        let t = Instant::now();
        round(&a, &b, 200);
        eprintln!("a round with node 2 just killed: {:?}", t.elapsed());
        // Published before and after: a third machine (on node 0) reads all.
        let c = open(&tc, &g, &g.env_of(0), 256 << 20);
        for (id, data) in &objects {
            assert!(c.get(id, LONG).unwrap().data() == data.as_slice());
        }
        assert_eq!(c.stats().unwrap().fetches_total, objects.len() as u64);
    }
}

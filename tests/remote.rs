//! The remote tier over `memory://` and `file://` remotes (the logic; the
//! real server is tests/remote_garage.rs): put and publish in one store, get
//! in another (a second store stands for a second machine), a get waiting
//! for a publish, failures (damaged, truncated or other-version objects,
//! an unreachable endpoint), the URL fixed at creation, a fork child's own
//! runtime, a downloader killed midway. Without the feature `remote`, a
//! store with a remote is refused.

mod common;

#[cfg(not(feature = "remote"))]
#[test]
fn without_the_feature_a_remote_is_refused() {
    use common::TempStore;
    use objstore::{ErrorKind, Options, Store};
    let t = TempStore::new("noremote");
    let opts = Options { remote_url: Some("s3://bucket/prefix".into()), ..TempStore::options(1 << 20) };
    let e = Store::open(&t.name, &opts).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.message().contains("feature `remote`"), "{e}");
    // Nothing was created.
    assert!(!std::path::Path::new(&t.path()).exists());
}

#[cfg(feature = "remote")]
#[test]
#[ignore = "entry point of child processes, run by the other tests"]
fn child_entry() {
    with_remote::child_main();
}

#[cfg(feature = "remote")]
mod with_remote {
    use std::time::{Duration, Instant};

    use super::common::child::{spawn_child, ChildGuard};
    use super::common::{pattern, rand_u64, SpillDir, TempStore};
    use objstore::remote_format::{Header, HEADER_LEN};
    use objstore::{Canceller, ErrorKind, ObjectId, Options, RemoteConfig, Store};

    const MIB: usize = 1 << 20;

    fn memory_url(tag: &str) -> String {
        format!("memory://{tag}-{}-{:x}/objects", std::process::id(), rand_u64())
    }

    fn open(t: &TempStore, url: &str, capacity: u64) -> Store {
        let opts = Options { remote_url: Some(url.to_string()), ..TempStore::options(capacity) };
        Store::open(&t.name, &opts).expect("open a store with a remote")
    }

    /// Two stores (two "machines") sharing `url`.
    fn two(tag: &str, url: &str, capacity: u64) -> (TempStore, Store, TempStore, Store) {
        let (ta, tb) = (TempStore::new(&format!("{tag}-a")), TempStore::new(&format!("{tag}-b")));
        let (a, b) = (open(&ta, url, capacity), open(&tb, url, capacity));
        (ta, a, tb, b)
    }

    const SHORT: Option<Duration> = Some(Duration::from_secs(10));

    #[test]
    fn put_and_publish_here_get_there_byte_for_byte() {
        let url = memory_url("sizes");
        let (_ta, a, _tb, b) = two("sizes", &url, 128 << 20);
        assert_eq!(a.remote_url(), Some(url.as_str()));
        // Around the single PUT (16 MiB) limit (the first GET's: the next test).
        let sizes = [0, 1, 100, 4096, 256 * 1024 - 64 - 10, 256 * 1024, MIB + 3, 16 * MIB - 80, 16 * MIB + 1, 40 * MIB];
        let mut ids = vec![];
        for (i, &len) in sizes.iter().enumerate() {
            let data = pattern(i as u64, len);
            let meta = pattern(100 + i as u64, i * 7);
            let id = a.put_with_meta(&data, &meta).unwrap();
            a.publish(&id, SHORT).unwrap();
            ids.push((id, data, meta));
        }
        for (id, data, meta) in &ids {
            let obj = b.get(id, SHORT).unwrap();
            assert!(obj.data() == data.as_slice(), "{} bytes differ", data.len());
            assert_eq!(obj.meta(), meta.as_slice());
            assert_eq!(obj.data().as_ptr() as usize % 64, 0);
        }
        let (sa, sb) = (a.stats().unwrap(), b.stats().unwrap());
        assert_eq!(sa.publishes_total, sizes.len() as u64);
        assert_eq!(sb.fetches_total, sizes.len() as u64);
        let total: usize = ids.iter().map(|(_, d, m)| d.len() + m.len()).sum();
        assert_eq!(sb.fetched_bytes, total as u64);
        // memory:// keeps the header as user metadata: the bodies are the
        // metadata and data alone.
        assert_eq!(sa.published_bytes, total as u64);
        // A second get is local: nothing fetched again.
        for (id, data, _) in &ids {
            assert_eq!(b.get(id, Some(Duration::ZERO)).unwrap().data().len(), data.len());
        }
        assert_eq!(b.stats().unwrap().fetches_total, sizes.len() as u64);
        assert_eq!(b.stats().unwrap().unsealed_count, 0);
    }

    /// Objects whose ends fall around the end of a fetch's first GET (the
    /// first 8 MiB of the published object's body: the header where it
    /// leads the body, the metadata, the data), and
    /// around the last of its ranged GETs (8 MiB, a last one under 2 MiB
    /// going with the one before), metadata ending in the first GET's
    /// response or past it; from memory:// (a response in one piece, the
    /// header as user metadata) and file:// (in pieces of 8 KiB, so a
    /// leading header and the metadata come in several).
    #[test]
    fn fetches_around_the_first_get_and_the_last_range() {
        const FIRST: usize = 8 * MIB;
        let cases = |h: usize| {
            [
                (10, FIRST - h - 10 - 1),
                (10, FIRST - h - 10),
                (10, FIRST - h - 10 + 1),
                (10, FIRST - h - 10 + 8 * MIB + 2 * MIB - 1),
                (10, FIRST - h - 10 + 8 * MIB + 2 * MIB),
                (10, FIRST - h - 10 + 8 * MIB + 2 * MIB + 1),
                (FIRST - h - 3, 100),
                (FIRST - h, 0),
                (FIRST - h, 5),
                (FIRST + 100, 1000),
                (20_000, 300_000),
            ]
        };
        let dir = SpillDir::new("first-get");
        for (url, h) in [(memory_url("first-get"), 0), (format!("file://{}", dir.path()), HEADER_LEN)] {
            let (_ta, a, _tb, b) = two("first-get", &url, 64 << 20);
            let cases = cases(h);
            for (i, &(meta_len, len)) in cases.iter().enumerate() {
                let (data, meta) = (pattern(i as u64, len), pattern(200 + i as u64, meta_len));
                let id = a.put_with_meta(&data, &meta).unwrap();
                a.publish(&id, SHORT).unwrap();
                a.delete(&id).unwrap();
                let obj = b.get(&id, SHORT).unwrap_or_else(|e| panic!("{url}: {meta_len} + {len} bytes: {e}"));
                assert!(obj.data() == data.as_slice(), "{url}: {meta_len} + {len} bytes: the data differ");
                assert!(obj.meta() == meta.as_slice(), "{url}: {meta_len} + {len} bytes: the metadata differ");
                drop(obj);
                b.delete(&id).unwrap();
            }
            assert_eq!(b.stats().unwrap().fetches_total, cases.len() as u64);
        }
    }

    /// A get (and a get_many) waiting forever for an object neither here
    /// nor published ends with Cancelled when its canceller is cancelled
    /// from another thread; the object got by the get_many stays pinned,
    /// as at a timeout.
    #[test]
    fn a_get_waiting_for_a_publish_is_cancelled() {
        let url = memory_url("cancel");
        let t = TempStore::new("remote-cancel");
        let s = open(&t, &url, 16 << 20);
        let present = s.put(b"here").unwrap();
        let absent = ObjectId::from_hex("5eed000000000000000000000000000000000042").unwrap();
        let c = Canceller::new();
        std::thread::scope(|sc| {
            let get = sc.spawn(|| s.get_cancellable(&absent, None, &c).map(|_| ()).unwrap_err().kind());
            std::thread::sleep(Duration::from_millis(50)); // waiting by now, most likely
            c.cancel();
            assert_eq!(get.join().unwrap(), ErrorKind::Cancelled);
        });
        c.reset();
        let mut out = [None, None];
        std::thread::scope(|sc| {
            let many = sc.spawn(|| {
                let mut out = [None, None];
                let kind = s.get_many_raw_cancellable(&[present, absent], None, Some(&c), &mut out).unwrap_err().kind();
                (kind, out)
            });
            std::thread::sleep(Duration::from_millis(50));
            c.cancel();
            let (kind, got) = many.join().unwrap();
            assert_eq!(kind, ErrorKind::Cancelled);
            out = got;
        });
        assert!(out[0].is_some() && out[1].is_none(), "the present object stays pinned");
        s.release(&present).unwrap();
        // Cancelled before the call: a get that would wait returns at once.
        assert_eq!(s.get_raw_cancellable(&absent, None, Some(&c)).unwrap_err().kind(), ErrorKind::Cancelled);
        assert_eq!(s.stats().unwrap().pinned_count, 0);
    }

    #[test]
    fn publish_is_idempotent_and_unpublish_removes() {
        let url = memory_url("idem");
        let (_ta, a, _tb, b) = two("idem", &url, 48 << 20);
        let id = a.put(b"once").unwrap();
        a.publish(&id, None).unwrap();
        a.publish(&id, None).unwrap();
        // A small object is uploaded again rather than asked for first.
        assert_eq!(a.stats().unwrap().publishes_total, 2);
        let big = a.put(&pattern(2, 17 << 20)).unwrap();
        a.publish(&big, None).unwrap();
        a.publish(&big, None).unwrap();
        assert_eq!(a.stats().unwrap().publishes_total, 3);
        a.unpublish(&id, None).unwrap();
        assert_eq!(a.unpublish(&id, None).unwrap_err().kind(), ErrorKind::NotFound);
        // Still here, not there.
        assert_eq!(a.get(&id, Some(Duration::ZERO)).unwrap().data(), b"once");
        assert_eq!(b.get(&id, Some(Duration::ZERO)).unwrap_err().kind(), ErrorKind::NotFound);
        // Published again after that.
        a.publish(&id, None).unwrap();
        assert_eq!(b.get(&id, Some(Duration::ZERO)).unwrap().data(), b"once");
    }

    #[test]
    fn publish_needs_a_sealed_local_object_and_a_remote() {
        let url = memory_url("pubargs");
        let t = TempStore::new("pubargs");
        let a = open(&t, &url, 16 << 20);
        let missing = a.new_id();
        assert_eq!(a.publish(&missing, None).unwrap_err().kind(), ErrorKind::NotFound);
        let id = a.new_id();
        let c = a.create(&id, 10, b"").unwrap();
        assert_eq!(a.publish(&id, None).unwrap_err().kind(), ErrorKind::NotSealed);
        c.seal().unwrap();
        a.publish(&id, None).unwrap();

        let plain = TempStore::new("pubargs-plain");
        let p = plain.open(&TempStore::options(1 << 20));
        let id = p.put(b"x").unwrap();
        let e = p.publish(&id, None).unwrap_err();
        assert!(e.kind() == ErrorKind::InvalidArgument && e.message().contains("no remote"), "{e}");
        assert_eq!(p.remote_url(), None);
    }

    #[test]
    fn the_remote_is_fixed_at_creation() {
        let url = memory_url("fixed");
        let t = TempStore::new("fixed");
        let a = open(&t, &url, 1 << 20);
        // An attacher: none, the same (a trailing slash is the same), or refused.
        let b = Store::open(&t.name, &Options { attach_only: true, ..Options::default() }).unwrap();
        assert_eq!(b.remote_url(), Some(url.as_str()));
        Store::open(&t.name, &Options { remote_url: Some(format!("{url}/")), ..Options::default() }).unwrap();
        let e =
            Store::open(&t.name, &Options { remote_url: Some(memory_url("other")), ..Options::default() }).unwrap_err();
        assert!(e.kind() == ErrorKind::InvalidArgument && e.message().contains("fixed when the store"), "{e}");
        drop((a, b));
        // In another process the same (a new attachment reads the header).
        for bad in ["ftp://x/y", "s3://", "file://relative", "nothing"] {
            let t = TempStore::new("badurl");
            let e = Store::open(&t.name, &Options { remote_url: Some(bad.into()), ..TempStore::options(1 << 20) })
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad}: {e}");
            assert!(!std::path::Path::new(&t.path()).exists(), "{bad}: a store was made");
        }
    }

    #[test]
    fn a_get_waits_for_a_publish_elsewhere() {
        let url = memory_url("wait");
        let (_ta, a, _tb, b) = two("wait", &url, 16 << 20);
        let id = a.put(&pattern(5, 70_000)).unwrap();
        let start = Instant::now();
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(300));
                a.publish(&id, None).unwrap();
            });
            let obj = b.get(&id, Some(Duration::from_secs(20))).unwrap();
            assert_eq!(obj.data(), pattern(5, 70_000).as_slice());
        });
        assert!(start.elapsed() >= Duration::from_millis(300));
        // Absent everywhere: Timeout at the timeout, NotFound at once with zero.
        let never = a.new_id();
        let start = Instant::now();
        let e = b.get(&never, Some(Duration::from_millis(400))).unwrap_err();
        let took = start.elapsed();
        assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
        assert!(e.message().contains(&url), "{e}");
        assert!(took >= Duration::from_millis(400) && took < Duration::from_secs(5), "{took:?}");
        let e = b.get(&never, Some(Duration::ZERO)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        // A local put still wakes a getter waiting on the remote.
        let local = a.new_id();
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(200));
                b.put_as(&local, b"put here", b"").unwrap();
            });
            let start = Instant::now();
            assert_eq!(b.get(&local, Some(Duration::from_secs(20))).unwrap().data(), b"put here");
            assert!(start.elapsed() < Duration::from_secs(5));
        });
    }

    #[test]
    fn get_many_fetches_what_is_published_and_waits_for_the_rest() {
        let url = memory_url("many");
        let (_ta, a, _tb, b) = two("many", &url, 32 << 20);
        let ids: Vec<ObjectId> = (0..4).map(|i| a.put(&pattern(i, 1000 * (i as usize + 1))).unwrap()).collect();
        for id in &ids[..3] {
            a.publish(id, None).unwrap();
        }
        let mut out = vec![None; 4];
        let e = b.get_many_raw(&ids, Some(Duration::from_millis(300)), &mut out).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
        assert!(out[..3].iter().all(Option::is_some) && out[3].is_none());
        for id in &ids[..3] {
            b.release(id).unwrap();
        }
        let e = b.get_many_raw(&ids, Some(Duration::ZERO), &mut out).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        for id in &ids[..3] {
            b.release(id).unwrap();
        }
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(200));
                a.publish(&ids[3], None).unwrap();
            });
            b.get_many_raw(&ids, Some(Duration::from_secs(20)), &mut out).unwrap();
        });
        for (i, o) in out.iter().enumerate() {
            // SAFETY: pinned by the get_many until the release below.
            let data = unsafe { std::slice::from_raw_parts(o.unwrap().data, o.unwrap().data_len) };
            assert_eq!(data, pattern(i as u64, 1000 * (i + 1)).as_slice());
            b.release(&ids[i]).unwrap();
        }
        assert_eq!(b.stats().unwrap().fetches_total, 4);
    }

    #[test]
    fn a_fetch_that_does_not_fit_fails_cleanly() {
        let url = memory_url("fit");
        let (ta, tb) = (TempStore::new("fit-a"), TempStore::new("fit-b"));
        let a = open(&ta, &url, 16 << 20);
        let b = open(&tb, &url, 1 << 20);
        let id = a.put(&pattern(1, 3 * MIB)).unwrap();
        a.publish(&id, None).unwrap();
        assert_eq!(b.get(&id, SHORT).unwrap_err().kind(), ErrorKind::TooLarge);
        let s = b.stats().unwrap();
        assert_eq!((s.object_count, s.unsealed_count, s.used_bytes), (0, 0, 0));
    }

    // ----- damage, on a file:// remote whose files the test can change ------------

    /// A file:// remote, one object published there by store `a`.
    /// (Fields drop in this order: the store before its remote's
    /// directory, which its close would otherwise make again, left behind.)
    struct Damaged {
        a: Store,
        _ta: TempStore,
        url: String,
        dir: SpillDir,
    }

    impl Damaged {
        fn new(tag: &str) -> Damaged {
            let dir = SpillDir::new(tag);
            let url = format!("file://{}", dir.path());
            let ta = TempStore::new(&format!("{tag}-a"));
            let a = open(&ta, &url, 16 << 20);
            Damaged { a, _ta: ta, url, dir }
        }
        fn file(&self, id: &ObjectId) -> String {
            format!("{}/{}", self.dir.path(), id.to_hex())
        }
        /// Publishes an object, changes its file with `damage`, and gets it
        /// in a fresh store: the error, after checking nothing was kept.
        fn get_after(&self, damage: impl FnOnce(&mut Vec<u8>)) -> objstore::Error {
            let id = self.a.put_with_meta(&pattern(9, 300_000), b"meta").unwrap();
            self.a.publish(&id, None).unwrap();
            let path = self.file(&id);
            let mut bytes = std::fs::read(&path).unwrap();
            assert_eq!(bytes.len(), HEADER_LEN + 4 + 300_000);
            damage(&mut bytes);
            std::fs::write(&path, &bytes).unwrap();
            let tb = TempStore::new("damaged-b");
            let b = open(&tb, &self.url, 16 << 20);
            let e = b.get(&id, SHORT).unwrap_err();
            assert!(!b.contains(&id).unwrap());
            let s = b.stats().unwrap();
            assert_eq!((s.object_count, s.unsealed_count, s.used_bytes), (0, 0, 0), "{e}");
            e
        }
    }

    /// Rewrites the header's version, with its CRC made right again.
    fn set_version(bytes: &mut [u8], v: u32) {
        bytes[8..12].copy_from_slice(&v.to_le_bytes());
        let crc = crc32(&bytes[..60]);
        bytes[60..64].copy_from_slice(&crc.to_le_bytes());
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

    #[test]
    fn damaged_remote_objects_are_refused_and_nothing_is_installed() {
        let d = Damaged::new("damage");
        let check = |e: objstore::Error, kind: ErrorKind, words: &str| {
            assert_eq!(e.kind(), kind, "{e}");
            assert!(e.message().contains(words), "'{words}' not in: {e}");
        };
        check(d.get_after(|b| b[HEADER_LEN + 4 + 123_456] ^= 1), ErrorKind::Corrupt, "checksum mismatch");
        check(d.get_after(|b| b[HEADER_LEN + 1] ^= 0x80), ErrorKind::Corrupt, "checksum mismatch");
        check(d.get_after(|b| b[40] ^= 1), ErrorKind::Corrupt, "damaged header");
        check(d.get_after(|b| b.truncate(b.len() - 1)), ErrorKind::Corrupt, "truncated");
        check(d.get_after(|b| b.truncate(100)), ErrorKind::Corrupt, "truncated");
        check(d.get_after(|b| b.truncate(10)), ErrorKind::Corrupt, "truncated");
        check(d.get_after(|b| b.clear()), ErrorKind::Corrupt, "truncated");
        check(d.get_after(|b| b.push(0)), ErrorKind::Corrupt, "longer");
        check(d.get_after(|b| b[0] = b'X'), ErrorKind::Corrupt, "bad magic");
        check(d.get_after(|b| set_version(b, 2)), ErrorKind::Incompatible, "format version 2");
        // Another object's bytes under this ID.
        let other = d.a.put(b"other").unwrap();
        d.a.publish(&other, None).unwrap();
        let other_bytes = std::fs::read(d.file(&other)).unwrap();
        check(d.get_after(|b| *b = other_bytes), ErrorKind::Corrupt, "holds object");
        // The header this library writes decodes as the README says.
        let id = d.a.put_with_meta(b"data", b"mm").unwrap();
        d.a.publish(&id, None).unwrap();
        let bytes = std::fs::read(d.file(&id)).unwrap();
        let h = Header::decode(&bytes, &id, bytes.len() as u64, "test").unwrap();
        assert_eq!((h.meta_len, h.data_len), (2, 4));
        assert_eq!(h.crc, crc32(b"mmdata"));
        assert_eq!(&bytes[HEADER_LEN..], b"mmdata");
    }

    // ----- spilling to the remote ----------------------------------------------------

    /// The spill blobs of every store under a file:// remote's directory.
    fn spill_blobs(dir: &SpillDir) -> Vec<String> {
        let root = format!("{}/.spill", dir.path());
        let mut out = vec![];
        for store in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            for f in std::fs::read_dir(store.path()).into_iter().flatten().flatten() {
                out.push(f.path().display().to_string());
            }
        }
        out
    }

    /// A store with a remote and no spill directory spills to the remote:
    /// 256 MiB through a 64 MiB store, every byte back; deleting everything
    /// leaves no blob behind, and destroy removes what is left.
    #[test]
    fn a_store_without_a_spill_directory_spills_to_its_remote() {
        let dir = SpillDir::new("rspill");
        let url = format!("file://{}", dir.path());
        let t = TempStore::new("rspill");
        let s = open(&t, &url, 64 << 20);
        let ids: Vec<ObjectId> = (0..256).map(|i| s.put_with_meta(&pattern(i, MIB - 100), b"m").unwrap()).collect();
        let st = s.stats().unwrap();
        assert!(st.spills_total >= 150 && st.spilled_count >= 150, "{st:?}");
        assert!(!spill_blobs(&dir).is_empty());
        for (i, id) in ids.iter().enumerate() {
            let obj = s.get(id, Some(Duration::ZERO)).unwrap();
            assert!(obj.data() == pattern(i as u64, MIB - 100).as_slice(), "object {i} differs");
            assert_eq!(obj.meta(), b"m");
        }
        let st = s.stats().unwrap();
        assert!(st.restores_total >= 150, "{st:?}");
        // Nothing was published: spilling is not publishing.
        assert_eq!(st.publishes_total, 0);
        for id in &ids {
            s.delete(id).unwrap();
        }
        s.collect().unwrap();
        assert_eq!(spill_blobs(&dir), Vec::<String>::new());
        // Spilled again, then the store destroyed: its blobs go with it.
        for i in 0..100 {
            s.put(&pattern(i, MIB)).unwrap();
        }
        assert!(!spill_blobs(&dir).is_empty());
        drop(s);
        Store::destroy(&t.name).unwrap();
        assert_eq!(spill_blobs(&dir), Vec::<String>::new());
    }

    /// A damaged spill blob is CORRUPT at the get, and the object stays.
    #[test]
    fn a_damaged_spill_blob_is_corrupt() {
        let dir = SpillDir::new("rspilldmg");
        let url = format!("file://{}", dir.path());
        let t = TempStore::new("rspilldmg");
        let s = open(&t, &url, 4 << 20);
        let first = s.put(&pattern(1, MIB)).unwrap();
        for i in 2..10 {
            s.put(&pattern(i, MIB)).unwrap();
        }
        let blob = spill_blobs(&dir).into_iter().find(|b| b.contains(&first.to_hex())).expect("the first is spilled");
        let mut bytes = std::fs::read(&blob).unwrap();
        bytes[1000] ^= 1;
        std::fs::write(&blob, &bytes).unwrap();
        let e = s.get(&first, Some(Duration::ZERO)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
        assert!(s.contains(&first).unwrap());
        s.delete(&first).unwrap();
    }

    // ----- unreachable endpoints ------------------------------------------------------

    /// Options of a store whose remote is the S3 endpoint `endpoint`.
    fn s3_options(endpoint: &str) -> Options {
        let config = RemoteConfig::new()
            .set("AWS_ENDPOINT", endpoint)
            .set("AWS_ACCESS_KEY_ID", "GK0000")
            .set("AWS_SECRET_ACCESS_KEY", "secret")
            .set("AWS_REGION", "garage")
            .set("AWS_ALLOW_HTTP", "true");
        Options { remote_url: Some("s3://bucket/prefix".into()), remote_config: config, ..TempStore::options(1 << 20) }
    }

    /// An endpoint that accepts connections and never answers (a server
    /// hung, or a firewall that swallows): its address, and the listener,
    /// which holds the connections until the test ends.
    fn silent_endpoint() -> (String, std::thread::JoinHandle<()>) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", l.local_addr().unwrap());
        let held = std::thread::spawn(move || {
            l.set_nonblocking(true).unwrap();
            let mut conns = vec![];
            let until = Instant::now() + Duration::from_secs(60);
            while Instant::now() < until {
                match l.accept() {
                    Ok((c, _)) => conns.push(c),
                    Err(_) if conns.len() >= 64 => break,
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        (endpoint, held)
    }

    #[test]
    fn an_unreachable_endpoint_is_an_io_error_within_the_timeout() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let endpoint = format!("http://127.0.0.1:{port}");
        let t = TempStore::new("unreachable");
        let s = Store::open(&t.name, &s3_options(&endpoint)).unwrap();
        let id = s.put(b"x").unwrap();
        for timeout in [Some(Duration::from_secs(2)), None, Some(Duration::ZERO)] {
            let start = Instant::now();
            let e = s.get(&s.new_id(), timeout).unwrap_err();
            let took = start.elapsed();
            assert_eq!(e.kind(), ErrorKind::Io, "{timeout:?}: {e}");
            assert!(e.message().contains(&endpoint), "{timeout:?}: {e}");
            // No timeout, or zero: the client's own retries give up in seconds.
            let bound = timeout.filter(|t| !t.is_zero()).unwrap_or(Duration::from_secs(20));
            assert!(took < bound + Duration::from_secs(2), "{took:?}: {e}");
            eprintln!("get, timeout {timeout:?}: {took:?}: {e}");
        }
        let start = Instant::now();
        let e = s.publish(&id, Some(Duration::from_secs(2))).unwrap_err();
        assert!(e.kind() == ErrorKind::Io && e.message().contains(&endpoint), "{e}");
        assert!(start.elapsed() < Duration::from_secs(4));
        let e = s.unpublish(&id, Some(Duration::from_secs(2))).unwrap_err();
        assert!(e.kind() == ErrorKind::Io && e.message().contains(&endpoint), "{e}");
        // A get_many asks the remote for each missing object within its
        // own timeout too.
        let start = Instant::now();
        let mut out = vec![None, None];
        let e = s.get_many_raw(&[id, s.new_id()], Some(Duration::from_secs(2)), &mut out).unwrap_err();
        assert!(e.kind() == ErrorKind::Io && e.message().contains(&endpoint), "{e}");
        assert!(start.elapsed() < Duration::from_secs(4), "{:?}: {e}", start.elapsed());
        assert!(out.iter().all(Option::is_none) && s.stats().unwrap().pinned_count == 0, "nothing stays pinned");
    }

    /// A call with timeout zero looks once, here and at the remote, even
    /// with a canceller cancelled before it: NotFound, as without a remote.
    #[test]
    fn a_look_with_timeout_zero_is_not_cancelled() {
        let t = TempStore::new("look-once");
        let s = open(&t, &memory_url("look-once"), 1 << 20);
        let (present, absent) = (s.put(b"here").unwrap(), s.new_id());
        let cancel = Canceller::new();
        cancel.cancel();
        let e = s.get_raw_cancellable(&absent, Some(Duration::ZERO), Some(&cancel)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        let mut out = vec![None, None];
        let e =
            s.get_many_raw_cancellable(&[present, absent], Some(Duration::ZERO), Some(&cancel), &mut out).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        assert!(out[0].is_some() && out[1].is_none(), "the present one pinned, as at a timeout");
        s.release(&present).unwrap();
        let e = s.get_raw_cancellable(&absent, Some(Duration::from_secs(5)), Some(&cancel)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Cancelled, "a call that would wait is cancelled: {e}");
    }

    /// A server that never answers: a get_many's timeout bounds its
    /// requests (the client's own request timeout is 30 s), and a
    /// cancelled get or get_many ends at once with Cancelled, not when the
    /// request gives up.
    #[test]
    fn a_silent_endpoint_neither_outlasts_a_timeout_nor_a_cancel() {
        let (endpoint, _held) = silent_endpoint();
        let t = TempStore::new("silent");
        let s = Store::open(&t.name, &s3_options(&endpoint)).unwrap();
        let present = s.put(b"here").unwrap();
        let absent = s.new_id();

        let start = Instant::now();
        let mut out = vec![None, None];
        let e = s.get_many_raw(&[present, absent], Some(Duration::from_millis(500)), &mut out).unwrap_err();
        let took = start.elapsed();
        assert!(e.kind() == ErrorKind::Io && e.message().contains(&endpoint), "{e}");
        assert!(took < Duration::from_secs(5), "{took:?}: {e}");
        assert!(out.iter().all(Option::is_none) && s.stats().unwrap().pinned_count == 0, "nothing stays pinned");

        let cancel = Canceller::new();
        let cancel_soon = |c: Canceller| {
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(200));
                c.cancel();
            })
        };
        let canceller = cancel_soon(cancel.clone());
        let start = Instant::now();
        let e = s.get_raw_cancellable(&absent, None, Some(&cancel)).unwrap_err();
        let took = start.elapsed();
        canceller.join().unwrap();
        assert_eq!(e.kind(), ErrorKind::Cancelled, "{took:?}: {e}");
        assert!(took < Duration::from_secs(5), "{took:?}: {e}");

        cancel.reset();
        let canceller = cancel_soon(cancel.clone());
        let start = Instant::now();
        let mut out = vec![None, None];
        let e = s.get_many_raw_cancellable(&[present, absent], None, Some(&cancel), &mut out).unwrap_err();
        let took = start.elapsed();
        canceller.join().unwrap();
        assert_eq!(e.kind(), ErrorKind::Cancelled, "{took:?}: {e}");
        assert!(took < Duration::from_secs(5), "{took:?}: {e}");
        // As at a timeout, what was got stays pinned.
        assert!(out[0].is_some() && out[1].is_none());
        s.release(&present).unwrap();
        assert_eq!(s.stats().unwrap().pinned_count, 0);
    }

    // ----- processes ------------------------------------------------------------------

    /// A child made by fork() re-opens the store and finds a working remote
    /// tier (its own runtime), and so does a child's child.
    #[test]
    fn a_fork_child_that_reopens_the_store_has_a_working_remote() {
        let dir = SpillDir::new("fork");
        let url = format!("file://{}", dir.path());
        let t = TempStore::new("fork");
        let s = open(&t, &url, 16 << 20);
        let id = s.put(&pattern(3, 2 * MIB)).unwrap();
        // The parent's runtime and client are running when it forks.
        s.publish(&id, None).unwrap();
        let run_child = |depth: u32| -> i32 {
            let other = TempStore::new("fork-child");
            let c =
                Store::open(&other.name, &Options { remote_url: Some(url.clone()), ..TempStore::options(16 << 20) })
                    .expect("child opens a second store");
            let ok = c.get(&id, SHORT).map(|o| o.data() == pattern(3, 2 * MIB).as_slice()).unwrap_or(false);
            if !ok {
                return 10 + depth as i32;
            }
            // The inherited handle is refused; a re-opened one publishes.
            if s.publish(&id, None).map_err(|e| e.kind()) != Err(ErrorKind::InvalidArgument) {
                return 20 + depth as i32;
            }
            let again = Store::open(&t.name, &Options::default()).expect("child re-opens");
            let mine = again.put(&pattern(4 + depth as u64, 1000)).unwrap();
            if again.publish(&mine, None).is_err() || c.get(&mine, SHORT).is_err() {
                return 30 + depth as i32;
            }
            0
        };
        let fork_and_run = |depth: u32, f: &dyn Fn(u32) -> i32| -> i32 {
            // SAFETY: fork in a test; the child runs the library and _exits.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(depth))).unwrap_or(99);
                // SAFETY: ends the child without running the parent's exit handlers.
                unsafe { libc::_exit(code) };
            }
            let mut status = 0;
            // SAFETY: waiting for our own child.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                98
            }
        };
        assert_eq!(fork_and_run(1, &run_child), 0, "the child failed (10: get, 20: old handle, 30: re-opened)");
        // A grandchild: its parent (a fork child) started a runtime of its own.
        let nested = |depth: u32| -> i32 {
            let code = run_child(depth);
            if code != 0 {
                return code;
            }
            fork_and_run(depth + 1, &run_child)
        };
        assert_eq!(fork_and_run(1, &nested), 0);
        // The parent's remote still works.
        let mine = s.put(b"parent").unwrap();
        s.publish(&mine, None).unwrap();
    }

    /// The roles of this file's children.
    pub(crate) fn child_main() {
        match std::env::var("OBJSTORE_CHILD").as_deref() {
            Ok("remote-get") => child_get(),
            _ => super::common::child::run_child(),
        }
    }

    /// Child: opens store ARGS[0] with remote ARGS[1] and gets object ARGS[2]
    /// (reporting "@fetching" first), then reports "@got <len>".
    fn child_get() {
        let args: Vec<String> =
            std::env::var("OBJSTORE_CHILD_ARGS").unwrap().split_whitespace().map(String::from).collect();
        let config: RemoteConfig = args[3..].iter().filter_map(|kv| kv.split_once('=')).collect();
        let opts = Options { remote_url: Some(args[1].clone()), remote_config: config, ..Options::default() };
        let s = Store::open(&args[0], &opts).unwrap();
        let id = ObjectId::from_hex(&args[2]).unwrap();
        println!("@fetching");
        let obj = s.get(&id, Some(Duration::from_secs(120))).unwrap();
        println!("@got {}", obj.data().len());
    }

    /// Starts a child that gets `id` from `url` into store `name`.
    pub(crate) fn spawn_getter(name: &str, url: &str, id: &ObjectId, config: &[(String, String)]) -> ChildGuard {
        let mut args = vec![name.to_string(), url.to_string(), id.to_hex()];
        args.extend(config.iter().map(|(k, v)| format!("{k}={v}")));
        spawn_child("remote-get", &args)
    }

    /// A downloader SIGKILLed midway leaves an unsealed object of a dead
    /// process; a getter waiting for it collects it and fetches again.
    #[test]
    fn a_downloader_killed_midway_is_reclaimed_and_the_next_get_fetches_again() {
        let dir = SpillDir::new("killdl");
        let url = format!("file://{}", dir.path());
        let (ta, tb) = (TempStore::new("killdl-a"), TempStore::new("killdl-b"));
        let a = open(&ta, &url, 256 << 20);
        let data = pattern(77, 200 * MIB);
        let id = a.put(&data).unwrap();
        a.publish(&id, None).unwrap();
        drop(a);
        let b = open(&tb, &url, 256 << 20);
        let child = spawn_getter(&tb.name, &url, &id, &[]);
        child.wait_for("fetching", Duration::from_secs(60));
        // Kill it once its object exists (it is then downloading into it).
        let start = Instant::now();
        while b.stats().unwrap().unsealed_count == 0 {
            assert!(start.elapsed() < Duration::from_secs(60), "the child never created the object");
            std::thread::sleep(Duration::from_micros(200));
        }
        child.signal(libc::SIGKILL);
        let mut child = child;
        child.wait_exit(Duration::from_secs(10));
        assert!(child.drain().iter().all(|e| !e.starts_with("got")), "the child finished before it was killed");
        let obj = b.get(&id, Some(Duration::from_secs(60))).unwrap();
        assert!(obj.data() == data.as_slice());
        let s = b.stats().unwrap();
        assert_eq!((s.fetches_total, s.unsealed_count, s.reclaimed_processes), (1, 0, 1));
    }

    /// Many getters of one object on one machine: one downloads, the others
    /// wait for its seal.
    #[test]
    fn one_process_per_machine_downloads() {
        let dir = SpillDir::new("onedl");
        let url = format!("file://{}", dir.path());
        let (ta, tb) = (TempStore::new("onedl-a"), TempStore::new("onedl-b"));
        let a = open(&ta, &url, 64 << 20);
        let data = pattern(8, 20 * MIB);
        let id = a.put(&data).unwrap();
        a.publish(&id, None).unwrap();
        open(&tb, &url, 64 << 20);
        let mut children: Vec<ChildGuard> = (0..6).map(|_| spawn_getter(&tb.name, &url, &id, &[])).collect();
        for c in &children {
            c.wait_for(&format!("got {}", 20 * MIB), Duration::from_secs(120));
        }
        for c in &mut children {
            assert!(c.wait_exit(Duration::from_secs(30)).success());
        }
        let b = open(&tb, &url, 64 << 20);
        assert_eq!(b.stats().unwrap().fetches_total, 1);
    }
}

//! Instruction counts of the hot paths through the C ABI, for callgrind:
//! `instructions OP N` runs N iterations of one path on a fresh store;
//! `.ci/instructions.sh` runs it under `valgrind --tool=callgrind` for two
//! values of N and divides the difference, so setup costs cancel out. The
//! counts are deterministic, so CI holds them to budgets.
//!
//! Paths: `get` (os_get + os_release of a present object), `contains`
//! (os_contains of a present object), `absent` (os_get of an absent ID with
//! no wait), `put` (os_put of 64 B under fresh IDs), `putdel` (os_put +
//! os_delete of 64 B), `ref` (os_ref + os_unref of an object the handle
//! holds a reference to already: its creator's), `putref` (os_put_ex of
//! 64 B under fresh IDs with OS_OBJECT_REFCOUNTED). Diagnostics without a
//! budget: `getonly`, `rust-get`, `putdelmix`, `putunref`.

use std::ffi::CString;

use objstore::capi::*;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let (op, n) = match args.as_slice() {
        [op, n] => (op.clone(), n.parse::<u64>().expect("N is a number")),
        _ => {
            eprintln!("usage: instructions get|contains|absent|put|putdel|ref|putref N");
            std::process::exit(2);
        }
    };
    let name = CString::new(format!("objstore-instr-{}", std::process::id())).unwrap();
    let mut opts = os_options_default();
    opts.capacity_bytes = 64 << 20;
    opts.max_objects = 1 << 16;
    let mut store: *mut os_store = std::ptr::null_mut();
    // SAFETY: valid pointers; the C API contract.
    unsafe {
        assert_eq!(os_open(name.as_ptr(), &opts, &mut store), OS_OK);
        let data = [7u8; 64];
        let mut id = os_object_id::default();
        assert_eq!(os_put(store, data.as_ptr().cast(), 64, &mut id), OS_OK);
        let absent = os_object_id { bytes: [0xab; 20] };
        let mut buf = std::mem::zeroed::<os_buffer>();
        let mut present = false;
        match op.as_str() {
            "get" => {
                for _ in 0..n {
                    assert_eq!(os_get(store, &id, 0, &mut buf), OS_OK);
                    assert_eq!(os_release(store, &id), OS_OK);
                }
            }
            // Diagnostics (no budget): the get alone, and the Rust API's
            // get + release without the C boundary.
            "getonly" => {
                for _ in 0..n {
                    assert_eq!(os_get(store, &id, 0, &mut buf), OS_OK);
                }
            }
            "rust-get" => {
                let s = objstore::Store::open(name.to_str().unwrap(), &objstore::Options::default()).unwrap();
                let rid = objstore::ObjectId(id.bytes);
                for _ in 0..n {
                    let r = s.get_raw(&rid, Some(std::time::Duration::ZERO)).unwrap();
                    std::hint::black_box(r);
                    s.release(&rid).unwrap();
                }
            }
            "contains" => {
                for _ in 0..n {
                    assert_eq!(os_contains(store, &id, &mut present), OS_OK);
                }
            }
            "absent" => {
                for _ in 0..n {
                    assert_eq!(os_get(store, &absent, 0, &mut buf), OS_NOT_FOUND);
                }
            }
            "put" => {
                let mut fresh = os_object_id::default();
                for _ in 0..n {
                    assert_eq!(os_put(store, data.as_ptr().cast(), 64, &mut fresh), OS_OK);
                }
            }
            "putdel" => {
                let mut fresh = os_object_id::default();
                for _ in 0..n {
                    assert_eq!(os_put(store, data.as_ptr().cast(), 64, &mut fresh), OS_OK);
                    assert_eq!(os_delete(store, &fresh), OS_OK);
                }
            }
            // Diagnostic (no budget): put + delete cycling through four
            // size classes, so that each put follows a delete of another.
            "putdelmix" => {
                let mut fresh = os_object_id::default();
                let big = vec![7u8; 20_000];
                for i in 0..n {
                    let len = [64usize, 1000, 5000, 20_000][(i % 4) as usize];
                    assert_eq!(os_put(store, big.as_ptr().cast(), len, &mut fresh), OS_OK);
                    assert_eq!(os_delete(store, &fresh), OS_OK);
                }
            }
            // Diagnostic (no budget): a REFCOUNTED put and the unref of its
            // first reference, which frees it (a Python object reference's
            // life: put, then collected).
            "putunref" => {
                let mut fresh = os_object_id::default();
                for _ in 0..n {
                    let flags = OS_OBJECT_REFCOUNTED;
                    assert_eq!(
                        os_put_ex(store, data.as_ptr().cast(), 64, std::ptr::null(), 0, flags, &mut fresh),
                        OS_OK
                    );
                    assert_eq!(os_unref(store, &fresh), OS_OK);
                }
            }
            "ref" => {
                let mut held = os_object_id::default();
                let flags = OS_OBJECT_REFCOUNTED;
                assert_eq!(os_put_ex(store, data.as_ptr().cast(), 64, std::ptr::null(), 0, flags, &mut held), OS_OK);
                for _ in 0..n {
                    assert_eq!(os_ref(store, &held), OS_OK);
                    assert_eq!(os_unref(store, &held), OS_OK);
                }
            }
            "putref" => {
                let mut fresh = os_object_id::default();
                for _ in 0..n {
                    let flags = OS_OBJECT_REFCOUNTED;
                    assert_eq!(
                        os_put_ex(store, data.as_ptr().cast(), 64, std::ptr::null(), 0, flags, &mut fresh),
                        OS_OK
                    );
                }
                // Closing would drop N references (and free N objects),
                // which would count as the path's: leave without closing.
                assert_eq!(os_destroy(name.as_ptr()), OS_OK);
                std::process::exit(0);
            }
            other => panic!("unknown path {other}"),
        }
        assert_eq!(os_close(store), OS_OK);
        assert_eq!(os_destroy(name.as_ptr()), OS_OK);
    }
}

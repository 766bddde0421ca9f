//! Ownership checks: /dev/shm is writable by every user, so another user
//! can create a store file under the name a job will use; a store file of
//! another user (or a spill directory others can write to) is refused with
//! PERMISSION_DENIED unless the caller opts in to sharing between users.

mod common;

use std::os::unix::fs::{symlink, PermissionsExt};

use common::{pattern, SpillDir, TempStore};
use objstore::{ErrorKind, Options, Store};

const MIB: u64 = 1 << 20;
const NOBODY: u32 = 65534;

fn chown(path: &str, uid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(uid)).expect("chown (tests run as root)");
}

fn chmod(path: &str, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_store_file_of_another_user_is_refused_unless_sharing_is_asked_for() {
    let t = TempStore::new("foreign");
    // Another user made the file, open to all, under the job's store name.
    let s = t.open(&Options { capacity_bytes: 4 * MIB, mode: 0o666, ..Options::default() });
    let id = s.put(b"planted").unwrap();
    drop(s);
    chown(&t.path(), NOBODY);
    let e = Store::open(&t.name, &Options::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(e.message().contains("uid 65534") && e.message().contains("OS_OPEN_ANY_OWNER"), "{e}");
    // Sharing between users is a choice the caller makes.
    let shared = Store::open(&t.name, &Options { any_owner: true, ..Options::default() }).unwrap();
    assert_eq!(shared.get(&id, None).unwrap().data(), b"planted");
}

#[test]
fn a_store_file_of_root_is_not_foreign() {
    // Only root could have made it: attaching is as safe as root allows.
    let t = TempStore::new("rootowned");
    let s = t.open(&Options { capacity_bytes: 4 * MIB, mode: 0o666, ..Options::default() });
    drop(s);
    let again = Store::open(&t.name, &Options::default()).unwrap();
    again.put(b"x").unwrap();
}

fn open_spilling(t: &TempStore, dir: &str, any_owner: bool) -> objstore::Result<Store> {
    Store::open(
        &t.name,
        &Options { capacity_bytes: 4 * MIB, spill_dir: Some(dir.into()), any_owner, ..Options::default() },
    )
}

#[test]
fn a_spill_directory_others_can_write_is_refused() {
    let dir = SpillDir::new("groupw");
    let t = TempStore::new("groupw");
    // Writable by its group: refused, unless shared with the group on purpose.
    chmod(dir.path(), 0o770);
    let e = open_spilling(&t, dir.path(), false).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(e.message().contains("writable by its group") && e.message().contains(dir.path()), "{e}");
    assert!(!std::path::Path::new(&t.path()).exists(), "a refused create leaves no store");
    let s = open_spilling(&t, dir.path(), true).unwrap();
    drop(s);
    // An attacher is checked too, and the directory may have changed since.
    chmod(dir.path(), 0o700);
    open_spilling(&t, dir.path(), false).unwrap();
    // Writable by everyone (sticky or not): refused even when sharing.
    for mode in [0o777, 0o1777] {
        chmod(dir.path(), mode);
        for any_owner in [false, true] {
            let e = open_spilling(&t, dir.path(), any_owner).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
            assert!(e.message().contains("every user"), "{e}");
        }
    }
}

#[test]
fn a_spill_directory_of_another_user_is_refused() {
    let dir = SpillDir::new("foreigndir");
    let t = TempStore::new("foreigndir");
    chmod(dir.path(), 0o700);
    chown(dir.path(), NOBODY);
    let e = open_spilling(&t, dir.path(), false).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(e.message().contains("belongs to") && e.message().contains("uid 65534"), "{e}");
    open_spilling(&t, dir.path(), true).unwrap();
}

#[test]
fn a_spill_directory_reached_through_another_users_link_is_refused() {
    let dir = SpillDir::new("linktarget");
    let links = SpillDir::new("links");
    let t = TempStore::new("linked");
    let link = format!("{}/spill", links.path());
    symlink(dir.path(), &link).unwrap();
    // The link is ours: it cannot be re-pointed by anyone else.
    open_spilling(&t, &link, false).unwrap();
    Store::destroy(&t.name).unwrap();
    // The link belongs to another user, who could point it anywhere later.
    let c = std::ffi::CString::new(link.clone()).unwrap();
    // SAFETY: lchown of a path we own; no memory is passed but the string.
    assert_eq!(unsafe { libc::lchown(c.as_ptr(), NOBODY, NOBODY) }, 0);
    let e = open_spilling(&t, &link, false).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(e.message().contains("symbolic link"), "{e}");
}

#[test]
fn a_created_spill_directory_and_its_files_are_private_unless_the_store_is_shared() {
    let parent = SpillDir::new("made");
    for (store_mode, dir_mode, file_mode) in [(0o600, 0o700, 0o600), (0o660, 0o770, 0o660)] {
        let t = TempStore::new("made");
        let dir = format!("{}/spill-{store_mode:o}", parent.path());
        let s = Store::open(
            &t.name,
            &Options {
                capacity_bytes: 2 * MIB,
                spill_dir: Some(dir.clone().into()),
                mode: store_mode,
                any_owner: store_mode & 0o060 != 0,
                ..Options::default()
            },
        )
        .unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o7777, dir_mode);
        for n in 0..4 {
            s.put(&pattern(n, 1 << 20)).unwrap();
        }
        let files: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
        assert!(!files.is_empty());
        for f in files {
            assert_eq!(f.metadata().unwrap().permissions().mode() & 0o7777, file_mode, "{:?}", f.path());
        }
    }
}

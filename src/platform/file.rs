//! Files: opening and creating store files atomically, sizes, backing
//! memory (fallocate), and what file system holds a path.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FallocateFlags, Mode, OFlags, CWD};

/// Opens an existing file read-write, refusing a symbolic link.
pub(crate) fn open_rw(path: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(path, OFlags::RDWR | OFlags::CLOEXEC | OFlags::NOFOLLOW, Mode::empty())?)
}

/// Creates an unnamed file in `dir` (O_TMPFILE), or, where the file system
/// lacks O_TMPFILE, a uniquely named one. Returns the file and its
/// temporary name to remove after linking (None for an unnamed file). The
/// file gets exactly `mode`, whatever the umask.
pub(crate) fn create_unlinked(dir: &Path, mode: u32) -> io::Result<(OwnedFd, Option<PathBuf>)> {
    let m = Mode::from_raw_mode(mode);
    let (fd, tmp_name) = match rustix::fs::open(dir, OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC, m) {
        Ok(fd) => (fd, None),
        Err(e) if [rustix::io::Errno::OPNOTSUPP, rustix::io::Errno::ISDIR, rustix::io::Errno::INVAL].contains(&e) => {
            let name = dir.join(format!(".objstore-init.{}.{:x}", std::process::id(), super::random_u128() as u64));
            let fd = rustix::fs::open(&name, OFlags::CREATE | OFlags::EXCL | OFlags::RDWR | OFlags::CLOEXEC, m)?;
            (fd, Some(name))
        }
        Err(e) => return Err(e.into()),
    };
    rustix::fs::fchmod(&fd, m)?;
    Ok((fd, tmp_name))
}

/// Gives the file behind `fd` the name `path`, failing with EEXIST if the
/// name is taken. `tmp_name` is the file's temporary name, if it has one.
pub(crate) fn link_into_place(fd: &OwnedFd, tmp_name: Option<&Path>, path: &Path) -> io::Result<()> {
    match tmp_name {
        // AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH; linking the
        // /proc/self/fd entry (following it) works without privileges.
        None => {
            let proc_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd.as_fd()));
            rustix::fs::linkat(CWD, proc_path.as_str(), CWD, path, AtFlags::SYMLINK_FOLLOW)?;
        }
        Some(tmp) => {
            let r = rustix::fs::link(tmp, path);
            let _ = rustix::fs::unlink(tmp);
            r?;
        }
    }
    Ok(())
}

/// Removes a file name.
pub(crate) fn unlink(path: &Path) -> io::Result<()> {
    Ok(rustix::fs::unlink(path)?)
}

/// Size, identity, owner and mode of an open file.
pub(crate) struct FileInfo {
    pub size: u64,
    pub dev: u64,
    pub ino: u64,
    pub uid: u32,
    pub mode: u32,
}

pub(crate) fn fstat(fd: &OwnedFd) -> io::Result<FileInfo> {
    let st = rustix::fs::fstat(fd)?;
    Ok(FileInfo { size: st.st_size as u64, dev: st.st_dev, ino: st.st_ino, uid: st.st_uid, mode: st.st_mode })
}

/// Reads exactly `buf.len()` bytes at `offset`.
pub(crate) fn read_exact_at(fd: &OwnedFd, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match rustix::io::pread(fd, &mut *buf, offset) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

pub(crate) fn ftruncate(fd: &OwnedFd, len: u64) -> io::Result<()> {
    Ok(rustix::fs::ftruncate(fd, len)?)
}

/// Reserves backing store for a byte range of the file, so that later
/// writes through the mapping cannot fail with SIGBUS.
pub(crate) fn fallocate(fd: impl AsFd, offset: u64, len: u64) -> io::Result<()> {
    loop {
        match rustix::fs::fallocate(&fd, FallocateFlags::empty(), offset, len) {
            Err(rustix::io::Errno::INTR) => continue,
            r => return Ok(r?),
        }
    }
}

/// Free bytes of the file system holding `path`.
pub(crate) fn free_space(path: &Path) -> io::Result<u64> {
    let st = rustix::fs::statvfs(path)?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// The huge page size of the file system holding `path`, if it is hugetlbfs.
pub(crate) fn hugetlbfs_page_size(path: &Path) -> io::Result<Option<u64>> {
    const HUGETLBFS_MAGIC: i64 = 0x9584_58f6;
    let st = rustix::fs::statfs(path)?;
    Ok((st.f_type as i64 == HUGETLBFS_MAGIC).then_some(st.f_bsize as u64))
}

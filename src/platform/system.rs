//! The process and the machine: ids, users, random bytes, the clock.

/// Fills `buf` with random bytes from the kernel. getrandom cannot fail on
/// Linux >= 3.17 once the pool is initialised; should it, time and address
/// entropy take its place (IDs need uniqueness, not secrecy).
pub(crate) fn random_bytes(buf: &mut [u8]) {
    let mut filled = 0;
    while filled < buf.len() {
        match rustix::rand::getrandom(&mut buf[filled..], rustix::rand::GetRandomFlags::empty()) {
            Ok(n) if n > 0 => filled += n,
            Err(rustix::io::Errno::INTR) => {}
            _ => {
                let t = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0);
                let local = 0u8;
                let mix = t ^ ((&local as *const u8 as usize as u128) << 64) ^ std::process::id() as u128;
                for (i, b) in buf.iter_mut().enumerate() {
                    *b = (mix >> (8 * (i % 16))) as u8;
                }
                return;
            }
        }
    }
}

/// 16 random bytes from the kernel.
pub(crate) fn random_u128() -> u128 {
    let mut buf = [0u8; 16];
    random_bytes(&mut buf);
    u128::from_le_bytes(buf)
}

/// Unix seconds from the coarse real-time clock (CLOCK_REALTIME_COARSE:
/// the time of the last timer tick, read from the vDSO without reading the
/// TSC). Every put stamps its object with this; the precise clock costs
/// ~20 ns per call on a KVM guest, a tenth of a small put.
pub(crate) fn unix_seconds_coarse() -> u64 {
    rustix::time::clock_gettime(rustix::time::ClockId::RealtimeCoarse).tv_sec.max(0) as u64
}

/// This process's id.
pub(crate) fn pid() -> u32 {
    std::process::id()
}

/// This process's effective user id.
pub(crate) fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// The name of user `uid`, if the user database knows it (for messages).
/// By hand: `rustix` has no user database.
pub(crate) fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0u8; 4096];
    // SAFETY: passwd is plain old data that getpwuid_r fills in.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; `buf` outlives the
    // strings getpwuid_r points into it.
    let r = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr().cast(), buf.len(), &mut result) };
    if r != 0 || result.is_null() || pw.pw_name.is_null() {
        return None;
    }
    // SAFETY: getpwuid_r succeeded: pw_name is a NUL-terminated string in `buf`.
    Some(unsafe { std::ffi::CStr::from_ptr(pw.pw_name) }.to_string_lossy().into_owned())
}

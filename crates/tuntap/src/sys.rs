//! The raw kernel interface: every `unsafe` block of the crate lives here.
//!
//! # Ground rules
//!
//! - Each function wraps exactly one kernel call whose arguments Rust cannot check (an `ioctl` on
//!   `/dev/net/tun` or a capability syscall) and returns a safe `nix::Result`.
//! - Every pointer handed to the kernel points to a live, correctly sized value owned by the
//!   caller's stack frame for the duration of the call; every file descriptor is borrowed through
//!   [`BorrowedFd`], so it is open for the duration of the call.
//! - Nothing here allocates, keeps a pointer after returning, or knows about devices or errors
//!   beyond `Errno`: the typed errors are built by the callers.

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;

/// `IFNAMSIZ` from `<linux/if.h>`: interface names hold at most 15 bytes plus the NUL.
pub(crate) const IFNAMSIZ: usize = libc::IFNAMSIZ;

/// `struct ifreq` as `TUNSETIFF`/`TUNGETIFF` use it: a name and a `short` of flags.
///
/// The kernel copies `sizeof(struct ifreq)` (40 bytes on 64-bit targets, 32 on 32-bit ones), so
/// the padding makes this struct at least that large on every target.
#[repr(C)]
#[derive(Clone, Copy)]
struct IfReq {
    name: [u8; IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 24 - std::mem::size_of::<libc::c_short>()],
}

const _: () = assert!(std::mem::size_of::<IfReq>() >= std::mem::size_of::<libc::ifreq>());

impl IfReq {
    fn new(name: &str, flags: libc::c_short) -> Self {
        let mut req = IfReq {
            name: [0; IFNAMSIZ],
            flags,
            _pad: [0; 22],
        };
        // Callers validate the length; truncate defensively so the name stays NUL-terminated.
        let n = name.len().min(IFNAMSIZ - 1);
        req.name[..n].copy_from_slice(&name.as_bytes()[..n]);
        req
    }

    fn name(&self) -> String {
        let end = self.name.iter().position(|&b| b == 0).unwrap_or(IFNAMSIZ);
        String::from_utf8_lossy(&self.name[..end]).into_owned()
    }
}

/// `TUNSETIFF`: create or attach the interface `name` (may contain `%d`) with `flags`.
///
/// Returns the name the kernel chose.
pub(crate) fn tun_set_iff(fd: BorrowedFd<'_>, name: &str, flags: i32) -> nix::Result<String> {
    // The flags field of ifreq is a C `short`; every TUN flag fits in 16 bits (IFF_TUN_EXCL is
    // 0x8000, which the kernel reads back as the same bit pattern).
    let mut req = IfReq::new(name, flags as u16 as libc::c_short);
    // SAFETY: `fd` is open for the call (borrowed); TUNSETIFF reads and writes one `struct
    // ifreq`, and `req` is a live, writable value at least `sizeof(struct ifreq)` bytes long.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut req as *mut IfReq) };
    Errno::result(rc)?;
    Ok(req.name())
}

/// `TUNGETIFF`: the interface name and flags (`tun_flags`, including `IFF_PERSIST`) of an
/// attached file.
pub(crate) fn tun_get_iff(fd: BorrowedFd<'_>) -> nix::Result<(String, i32)> {
    let mut req = IfReq::new("", 0);
    // SAFETY: `fd` is open for the call; TUNGETIFF writes one `struct ifreq` into `req`, which is
    // live, writable and large enough.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNGETIFF, &mut req as *mut IfReq) };
    Errno::result(rc)?;
    Ok((req.name(), i32::from(req.flags as u16)))
}

/// `TUNSETQUEUE`: attach (`IFF_ATTACH_QUEUE`) or detach (`IFF_DETACH_QUEUE`) this queue.
pub(crate) fn tun_set_queue(fd: BorrowedFd<'_>, flags: i32) -> nix::Result<()> {
    let mut req = IfReq::new("", flags as libc::c_short);
    // SAFETY: `fd` is open for the call; TUNSETQUEUE reads one `struct ifreq` from `req`, which
    // is live and large enough.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETQUEUE, &mut req as *mut IfReq) };
    Errno::result(rc).map(drop)
}

/// `TUNGETFEATURES`: the `IFF_*` flags this kernel's tun driver accepts.
pub(crate) fn tun_get_features(fd: BorrowedFd<'_>) -> nix::Result<u32> {
    let mut features: libc::c_uint = 0;
    // SAFETY: `fd` is open for the call; TUNGETFEATURES writes one `unsigned int` through the
    // pointer, which points to a live local of that type.
    let rc = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TUNGETFEATURES,
            &mut features as *mut libc::c_uint,
        )
    };
    Errno::result(rc)?;
    Ok(features)
}

/// One of the ioctls whose argument is passed by value as an `unsigned long`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ValueIoctl {
    /// `TUNSETPERSIST`: non-zero keeps the device after the last file closes.
    Persist,
    /// `TUNSETOWNER`: the uid allowed to attach without `CAP_NET_ADMIN`.
    Owner,
    /// `TUNSETGROUP`: the gid allowed to attach without `CAP_NET_ADMIN`.
    Group,
    /// `TUNSETOFFLOAD`: the `TUN_F_*` offloads userspace can take.
    Offload,
}

/// Issue a value-argument ioctl (`TUNSETPERSIST`, `TUNSETOWNER`, `TUNSETGROUP`, `TUNSETOFFLOAD`).
pub(crate) fn tun_set_value(fd: BorrowedFd<'_>, which: ValueIoctl, value: u64) -> nix::Result<()> {
    let request = match which {
        ValueIoctl::Persist => libc::TUNSETPERSIST,
        ValueIoctl::Owner => libc::TUNSETOWNER,
        ValueIoctl::Group => libc::TUNSETGROUP,
        ValueIoctl::Offload => libc::TUNSETOFFLOAD,
    };
    let arg = value as libc::c_ulong;
    // SAFETY: `fd` is open for the call; these four ioctls take their argument by value (the
    // kernel casts the `unsigned long` itself) and dereference no pointer.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), request, arg) };
    Errno::result(rc).map(drop)
}

/// Drop `CAP_NET_ADMIN` from the effective set of the calling thread only.
///
/// Capabilities are per thread on Linux, so a dedicated thread can act unprivileged while the
/// rest of the process keeps its rights. Used by tests of the permission errors.
#[doc(hidden)]
pub fn drop_net_admin_in_this_thread() -> nix::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let mut header = Header {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: capget with a version-3 header reads the header and writes two `Data` structs;
    // both pointers point to live locals of exactly those layouts.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut Header,
            data.as_mut_ptr(),
        )
    };
    Errno::result(rc)?;
    // CAP_NET_ADMIN from <linux/capability.h>.
    let bit = 12_usize;
    data[bit / 32].effective &= !(1 << (bit % 32));
    header.pid = 0;
    // SAFETY: capset with a version-3 header reads the header and two `Data` structs; both
    // pointers point to live, initialised locals of exactly those layouts.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header as *mut Header, data.as_ptr()) };
    Errno::result(rc).map(drop)
}

/// Become `uid`/`gid` (real, effective and saved) in the calling thread only.
///
/// Credentials are per thread in the kernel; the C library's `setresuid` applies them to every
/// thread of the process, the raw system calls used here do not. Leaving uid 0 this way also
/// clears the thread's capabilities. There is no way back to root for the thread. Used by
/// tests of privilege separation (an owner attaching to its device as an ordinary user).
#[doc(hidden)]
pub fn become_user_in_this_thread(uid: u32, gid: u32) -> nix::Result<()> {
    // SAFETY: setresgid takes three plain integers and touches no memory of ours.
    let rc = unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) };
    Errno::result(rc)?;
    // SAFETY: setresuid takes three plain integers and touches no memory of ours.
    let rc = unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) };
    Errno::result(rc).map(drop)
}

/// Register an owned descriptor with the current tokio reactor.
///
/// Panics like `AsyncFd::register` when no reactor is current: callers check
/// `Handle::try_current` first.
#[cfg(feature = "async")]
pub(crate) fn register_async(
    fd: std::os::fd::OwnedFd,
    interest: tokio::io::Interest,
) -> std::io::Result<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>> {
    // SAFETY: the AsyncFd takes ownership of the OwnedFd, so the descriptor stays open and refers
    // to the same file description until the AsyncFd is dropped; `OwnedFd::as_raw_fd` always
    // returns that same descriptor, and nothing else can close or replace it.
    let registered = unsafe { tokio::io::unix::AsyncFd::register_with_interest(fd, interest) }?;
    Ok(registered)
}

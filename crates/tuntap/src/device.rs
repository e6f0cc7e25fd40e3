//! [`Device`]: an open TUN/TAP interface and its queues.
//!
//! # Ground rules
//!
//! [`Shared`] is what every queue of one device has in common: its name and flags (fixed at
//! open) and the shutdown signal. The signal is an `eventfd` that is written once and never
//! read, so once shut down it stays readable: every blocked `poll` (blocking I/O) and every
//! `AsyncFd` registration (async I/O) of every queue sees it, however late it looks.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};

use nix::sys::eventfd::{EfdFlags, EventFd};

use crate::builder::{self, DeviceBuilder, Mode};
use crate::error::{Error, Result};
use crate::gro::Protocols;
use crate::link::Link;
use crate::list;
use crate::netns::{self, Netns};
use crate::queue::Queue;
use crate::sys::{self, ValueIoctl};
use crate::vnet::Offload;

/// State shared by a device and all its queues.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) name: String,
    pub(crate) mode: Mode,
    pub(crate) pi: bool,
    pub(crate) vnet_hdr: bool,
    pub(crate) multi_queue: bool,
    pub(crate) netns: Option<Netns>,
    /// Set before `stop` is written, so a reader that saw the eventfd also sees the flag.
    stopped: AtomicBool,
    /// Written once by [`Shared::shutdown`], never read: readable forever after.
    stop: EventFd,
    /// `gro::Protocols` that `send_batch_coalesced` coalesces.
    coalescing: AtomicU8,
    /// `gro::Protocols` whose super-packets the kernel refused (`EINVAL`).
    refused: AtomicU8,
    /// Test hook: this many coalesced writes fail with `EINVAL` before reaching the kernel.
    inject_einval: AtomicU32,
}

impl Shared {
    pub(crate) fn new(
        name: String,
        mode: Mode,
        pi: bool,
        vnet_hdr: bool,
        multi_queue: bool,
        netns: Option<Netns>,
    ) -> Result<Self> {
        let stop = EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)
            .map_err(|e| Error::os(&name, "eventfd", e))?;
        Ok(Shared {
            name,
            mode,
            pi,
            vnet_hdr,
            multi_queue,
            netns,
            stopped: AtomicBool::new(false),
            stop,
            coalescing: AtomicU8::new(Protocols::ALL.bits()),
            refused: AtomicU8::new(0),
            inject_einval: AtomicU32::new(0),
        })
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    pub(crate) fn shutdown(&self) {
        if !self.stopped.swap(true, Ordering::AcqRel) {
            // Cannot fail: the counter is far from overflowing after a single write of 1.
            let _ = self.stop.write(1);
        }
    }

    pub(crate) fn stop_fd(&self) -> BorrowedFd<'_> {
        self.stop.as_fd()
    }

    pub(crate) fn coalescing(&self) -> Protocols {
        Protocols::from_bits(self.coalescing.load(Ordering::Relaxed))
    }

    pub(crate) fn set_coalescing(&self, protocols: Protocols) {
        self.coalescing.store(protocols.bits(), Ordering::Relaxed);
    }

    pub(crate) fn refused(&self) -> Protocols {
        Protocols::from_bits(self.refused.load(Ordering::Relaxed))
    }

    /// Record that the kernel refused super-packets of `protocols`: stop coalescing them.
    pub(crate) fn refuse(&self, protocols: Protocols) {
        if protocols.is_empty() {
            return;
        }
        self.refused.fetch_or(protocols.bits(), Ordering::Relaxed);
        self.coalescing
            .fetch_and(!protocols.bits(), Ordering::Relaxed);
    }

    pub(crate) fn inject_einval(&self, writes: u32) {
        self.inject_einval.store(writes, Ordering::Relaxed);
    }

    /// Whether the test hook claims this coalesced write (and counts it down).
    pub(crate) fn take_injected_einval(&self) -> bool {
        self.inject_einval
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }

    pub(crate) fn shutdown_error(&self) -> Error {
        Error::Shutdown {
            name: self.name.clone(),
        }
    }
}

/// An open TUN/TAP device: its name, flags and one [`Queue`] per file descriptor.
///
/// `Device` derefs to its first queue, so single-queue programs call [`Queue::recv`] and
/// [`Queue::send`] on it directly. A non-persistent device disappears when its last queue is
/// dropped.
///
/// # Sync and async
///
/// Blocking methods have plain names (`recv`, `send`); their tokio twins end in `_async`
/// (`recv_async`, `send_async`), behind the default `async` feature.
///
/// # Examples
///
/// ```no_run
/// use tuntap::Device;
///
/// let dev = Device::builder().name("fly0").open()?;
/// let mut buf = [0u8; 1500];
/// let n = dev.recv(&mut buf)?; // blocks until a packet or `dev.shutdown()`
/// dev.send(&buf[..n])?;
/// # Ok::<(), tuntap::Error>(())
/// ```
#[derive(Debug)]
pub struct Device {
    shared: Arc<Shared>,
    queues: Vec<Queue>,
}

impl Device {
    /// A builder, mirroring `ip tuntap add`.
    pub fn builder() -> DeviceBuilder {
        DeviceBuilder::new()
    }

    pub(crate) fn from_parts(shared: Arc<Shared>, queues: Vec<Queue>) -> Self {
        debug_assert!(!queues.is_empty());
        Device { shared, queues }
    }

    /// Delete a persistent device, like `ip tuntap del`: attach with its own flags and clear
    /// `persist`. The device goes away when the last file attached to it is closed.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`], [`Error::NotTunTap`], [`Error::Busy`] (a single-queue device that
    /// a process holds), [`Error::PermissionDenied`].
    pub fn delete(name: &str) -> Result<()> {
        builder::validate_name(name)?;
        delete_here(name)
    }

    /// [`delete`](Self::delete) inside another network namespace.
    ///
    /// # Errors
    ///
    /// As [`delete`](Self::delete), and [`Error::Netns`].
    pub fn delete_in(netns: &Netns, name: &str) -> Result<()> {
        builder::validate_name(name)?;
        netns.run(|| delete_here(name))?
    }

    /// Adopt a file descriptor already attached to a TUN/TAP device (e.g. passed by a
    /// privileged helper over a Unix socket). It is switched to non-blocking mode.
    ///
    /// # Errors
    ///
    /// [`Error::BadFd`] when the descriptor is closed, not a TUN/TAP file, or not attached.
    pub fn from_fd(fd: OwnedFd) -> Result<Device> {
        let (name, flags) = sys::tun_get_iff(fd.as_fd()).map_err(|e| match e {
            nix::errno::Errno::EBADF
            | nix::errno::Errno::EBADFD
            | nix::errno::Errno::ENOTTY
            | nix::errno::Errno::EINVAL => Error::BadFd { op: "TUNGETIFF" },
            e => Error::os("", "TUNGETIFF", e),
        })?;
        let fl = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_GETFL)
            .map_err(|e| Error::os(&name, "fcntl", e))?;
        let fl = nix::fcntl::OFlag::from_bits_truncate(fl) | nix::fcntl::OFlag::O_NONBLOCK;
        nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_SETFL(fl))
            .map_err(|e| Error::os(&name, "fcntl", e))?;
        let mode = if flags & libc::IFF_TAP != 0 {
            Mode::Tap
        } else {
            Mode::Tun
        };
        let shared = Arc::new(Shared::new(
            name,
            mode,
            flags & libc::IFF_NO_PI == 0,
            flags & libc::IFF_VNET_HDR != 0,
            flags & libc::IFF_MULTI_QUEUE != 0,
            None,
        )?);
        let queue = Queue::new(fd, Arc::clone(&shared))?;
        Ok(Device::from_parts(shared, vec![queue]))
    }

    /// The interface name (with `%d` resolved).
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// `tun` or `tap`.
    pub fn mode(&self) -> Mode {
        self.shared.mode
    }

    /// Whether packets carry the 4-byte `struct tun_pi` prefix.
    pub fn has_pi(&self) -> bool {
        self.shared.pi
    }

    /// Whether packets carry a `virtio_net_hdr` prefix.
    pub fn has_vnet_hdr(&self) -> bool {
        self.shared.vnet_hdr
    }

    /// Whether the device is multi-queue.
    pub fn is_multi_queue(&self) -> bool {
        self.shared.multi_queue
    }

    /// The network namespace the device was opened in, when not the caller's.
    pub fn netns(&self) -> Option<&Netns> {
        self.shared.netns.as_ref()
    }

    /// The queues, one per file descriptor (one unless multi-queue).
    pub fn queues(&self) -> &[Queue] {
        &self.queues
    }

    /// Take the queues, e.g. to move one to each worker thread. The device stays alive while
    /// any queue does.
    pub fn into_queues(self) -> Vec<Queue> {
        self.queues
    }

    /// Open one more queue on a multi-queue device.
    ///
    /// # Errors
    ///
    /// [`Error::FlagMismatch`] if the device is not multi-queue, [`Error::Os`] if the kernel
    /// refuses (e.g. more queues than `MAX_TAP_QUEUES`).
    pub fn add_queue(&mut self) -> Result<&Queue> {
        if !self.shared.multi_queue {
            return Err(Error::FlagMismatch {
                name: self.shared.name.clone(),
                flag: "multi_queue",
                actual: "false".into(),
                requested: "true".into(),
            });
        }
        let mut flags = self.shared.mode.flag() | libc::IFF_MULTI_QUEUE;
        if !self.shared.pi {
            flags |= libc::IFF_NO_PI;
        }
        if self.shared.vnet_hdr {
            flags |= libc::IFF_VNET_HDR;
        }
        let name = self.shared.name.clone();
        let fd = netns::run_in(self.shared.netns.as_ref(), || {
            builder::open_queue_fd(&name, flags).map(|(fd, _)| fd)
        })?;
        self.queues.push(Queue::new(fd, Arc::clone(&self.shared))?);
        Ok(&self.queues[self.queues.len() - 1])
    }

    /// Keep (or stop keeping) the device after its last file closes (`TUNSETPERSIST`).
    ///
    /// # Errors
    ///
    /// [`Error::PermissionDenied`] or [`Error::Os`] if the kernel refuses.
    pub fn set_persist(&self, persist: bool) -> Result<()> {
        sys::tun_set_value(self.first_fd(), ValueIoctl::Persist, u64::from(persist))
            .map_err(|e| Error::os(&self.shared.name, "TUNSETPERSIST", e))
    }

    /// Enable offloads with `TUNSETOFFLOAD`; the mask is device-wide.
    ///
    /// Returns what was applied: when the kernel refuses UDP segmentation offload (before
    /// Linux 6.2), USO4/USO6 are dropped and the rest is retried.
    ///
    /// # Errors
    ///
    /// [`Error::FlagMismatch`] without `vnet_hdr` (offloads need the header), or the kernel's
    /// refusal as [`Error::Os`].
    pub fn set_offload(&self, offload: Offload) -> Result<Offload> {
        if !self.shared.vnet_hdr && offload != Offload::NONE {
            return Err(Error::FlagMismatch {
                name: self.shared.name.clone(),
                flag: "vnet_hdr",
                actual: "false".into(),
                requested: "true".into(),
            });
        }
        let apply = |o: Offload| {
            sys::tun_set_value(self.first_fd(), ValueIoctl::Offload, u64::from(o.bits()))
        };
        match apply(offload) {
            Ok(()) => Ok(offload),
            Err(nix::errno::Errno::EINVAL) if offload.contains(Offload::USO4 | Offload::USO6) => {
                let reduced = offload.without(Offload::USO4 | Offload::USO6);
                apply(reduced).map_err(|e| Error::os(&self.shared.name, "TUNSETOFFLOAD", e))?;
                Ok(reduced)
            }
            Err(e) => Err(Error::os(&self.shared.name, "TUNSETOFFLOAD", e)),
        }
    }

    /// A netlink handle on this device's link (up/down, addresses, MTU, routes), in the device's
    /// namespace.
    ///
    /// # Errors
    ///
    /// [`Error::Netlink`] if the socket cannot be opened or the link is gone.
    pub fn link(&self) -> Result<Link> {
        match &self.shared.netns {
            Some(ns) => Link::open_in(ns, &self.shared.name),
            None => Link::open(&self.shared.name),
        }
    }

    /// Stop I/O on every queue of this device: blocked and future `recv`/`send` calls (blocking
    /// and async) return [`Error::Shutdown`] promptly. Idempotent. The device stays open until
    /// dropped.
    pub fn shutdown(&self) {
        self.shared.shutdown();
    }

    fn first_fd(&self) -> BorrowedFd<'_> {
        self.queues[0].as_fd()
    }
}

impl std::ops::Deref for Device {
    type Target = Queue;

    /// The first queue.
    fn deref(&self) -> &Queue {
        &self.queues[0]
    }
}

/// Attach to `name` with its own flags and clear persist (what `ip tuntap del` does).
fn delete_here(name: &str) -> Result<()> {
    let info = list::lookup(name)?;
    let mut flags = info.mode.flag();
    if !info.pi {
        flags |= libc::IFF_NO_PI;
    }
    if info.vnet_hdr {
        flags |= libc::IFF_VNET_HDR;
    }
    if info.multi_queue {
        flags |= libc::IFF_MULTI_QUEUE;
    }
    let (fd, _): (OwnedFd, String) = builder::open_queue_fd(name, flags)?;
    sys::tun_set_value(fd.as_fd(), ValueIoctl::Persist, 0)
        .map_err(|e| Error::os(name, "TUNSETPERSIST", e))
}

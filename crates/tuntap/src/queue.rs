//! [`Queue`]: one file descriptor of a device, with blocking, batched and async I/O.
//!
//! # Implementation
//!
//! Every queue fd is `O_NONBLOCK`. The blocking face tries the system call first and only on
//! `EAGAIN` waits in `poll(2)` on the queue and on the device's shutdown `eventfd`; so a packet
//! that is already there costs one system call, and `shutdown()` wakes every waiter. The async
//! face registers duplicates of the same two descriptors with tokio (`AsyncFd`) on first use.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::Arc;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::device::Shared;
use crate::error::{Error, Result};
use crate::sys;

/// One queue (file descriptor) of a TUN/TAP device.
///
/// All methods take `&self`: share a queue between threads with `Arc` or by reference; a
/// receiver and a sender can use one queue at once. Each packet is read or written whole, with
/// the `tun_pi` and/or `virtio_net_hdr` prefix when the device has them.
#[derive(Debug)]
pub struct Queue {
    fd: OwnedFd,
    shared: Arc<Shared>,
    #[cfg(feature = "async")]
    async_io: std::sync::OnceLock<crate::queue_async::AsyncIo>,
}

impl Queue {
    pub(crate) fn new(fd: OwnedFd, shared: Arc<Shared>) -> Result<Self> {
        Ok(Queue {
            fd,
            shared,
            #[cfg(feature = "async")]
            async_io: std::sync::OnceLock::new(),
        })
    }

    /// The device's interface name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Receive one packet into `buf`, blocking until one arrives; returns its length. A packet
    /// longer than `buf` is truncated (size `buf` for the MTU plus any prefix; with offloads up
    /// to 64 KiB plus the header).
    ///
    /// # Errors
    ///
    /// [`Error::Shutdown`] once [`shutdown`](Self::shutdown) was called (promptly, even while
    /// blocked); [`Error::BadFd`] if the queue is detached or the device was deleted.
    pub fn recv(&self, buf: &mut [u8]) -> Result<usize> {
        loop {
            self.check_open()?;
            match nix::unistd::read(&self.fd, buf) {
                Ok(n) => return Ok(n),
                Err(Errno::EAGAIN) => self.wait(PollFlags::POLLIN)?,
                Err(Errno::EINTR) => {}
                Err(e) => return Err(self.error("read", e)),
            }
        }
    }

    /// Receive one packet if one is waiting, without blocking.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv).
    pub fn try_recv(&self, buf: &mut [u8]) -> Result<Option<usize>> {
        self.check_open()?;
        loop {
            match nix::unistd::read(&self.fd, buf) {
                Ok(n) => return Ok(Some(n)),
                Err(Errno::EAGAIN) => return Ok(None),
                Err(Errno::EINTR) => {}
                Err(e) => return Err(self.error("read", e)),
            }
        }
    }

    /// Send one packet, blocking while the kernel cannot take it; returns the bytes written.
    ///
    /// # Errors
    ///
    /// [`Error::Shutdown`]; [`Error::Os`] with `EINVAL` for a malformed packet or header,
    /// `EIO` when the device is down.
    pub fn send(&self, packet: &[u8]) -> Result<usize> {
        loop {
            self.check_open()?;
            match nix::unistd::write(&self.fd, packet) {
                Ok(n) => return Ok(n),
                Err(Errno::EAGAIN) => self.wait(PollFlags::POLLOUT)?,
                Err(Errno::EINTR) => {}
                Err(e) => return Err(self.error("write", e)),
            }
        }
    }

    /// Receive one packet scattered over `bufs` (e.g. header and payload apart).
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv).
    pub fn recv_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> Result<usize> {
        loop {
            self.check_open()?;
            match nix::sys::uio::readv(&self.fd, bufs) {
                Ok(n) => return Ok(n),
                Err(Errno::EAGAIN) => self.wait(PollFlags::POLLIN)?,
                Err(Errno::EINTR) => {}
                Err(e) => return Err(self.error("readv", e)),
            }
        }
    }

    /// Send one packet gathered from `bufs` (e.g. a `virtio_net_hdr` and the payload) without
    /// copying them together.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn send_vectored(&self, bufs: &[IoSlice<'_>]) -> Result<usize> {
        loop {
            self.check_open()?;
            match nix::sys::uio::writev(&self.fd, bufs) {
                Ok(n) => return Ok(n),
                Err(Errno::EAGAIN) => self.wait(PollFlags::POLLOUT)?,
                Err(Errno::EINTR) => {}
                Err(e) => return Err(self.error("writev", e)),
            }
        }
    }

    /// Receive up to `bufs.len()` packets: block for the first, then take what is already
    /// waiting. Packet `i` is in `bufs[i][..lens[i]]`; returns the count.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv); an error after the first packet ends the batch early instead.
    ///
    /// # Panics
    ///
    /// If `lens` is shorter than `bufs` (a caller bug).
    pub fn recv_batch<B: AsMut<[u8]>>(&self, bufs: &mut [B], lens: &mut [usize]) -> Result<usize> {
        assert!(
            lens.len() >= bufs.len(),
            "recv_batch: `lens` must be as long as `bufs`"
        );
        let Some((first, rest)) = bufs.split_first_mut() else {
            return Ok(0);
        };
        lens[0] = self.recv(first.as_mut())?;
        let mut count = 1;
        for buf in rest {
            match self.try_recv(buf.as_mut()) {
                Ok(Some(n)) => {
                    lens[count] = n;
                    count += 1;
                }
                Ok(None) | Err(_) => break,
            }
        }
        Ok(count)
    }

    /// Send every packet of `packets`, in order; returns how many were sent.
    ///
    /// # Errors
    ///
    /// The first packet's error; a later packet's error ends the batch early and its count is
    /// returned.
    pub fn send_batch<B: AsRef<[u8]>>(&self, packets: &[B]) -> Result<usize> {
        for (i, packet) in packets.iter().enumerate() {
            if let Err(e) = self.send(packet.as_ref()) {
                return if i == 0 { Err(e) } else { Ok(i) };
            }
        }
        Ok(packets.len())
    }

    /// Re-enable a detached queue of a multi-queue device (`TUNSETQUEUE`, `IFF_ATTACH_QUEUE`).
    ///
    /// # Errors
    ///
    /// [`Error::Os`] (`EINVAL`) on a single-queue device or an attached queue.
    pub fn attach(&self) -> Result<()> {
        sys::tun_set_queue(self.fd.as_fd(), libc::IFF_ATTACH_QUEUE)
            .map_err(|e| self.error("TUNSETQUEUE attach", e))
    }

    /// Disable this queue of a multi-queue device: the kernel stops steering packets to it
    /// (`TUNSETQUEUE`, `IFF_DETACH_QUEUE`). The file stays open for a later
    /// [`attach`](Self::attach).
    ///
    /// # Errors
    ///
    /// [`Error::Os`] (`EINVAL`) on a single-queue device or a detached queue.
    pub fn detach(&self) -> Result<()> {
        sys::tun_set_queue(self.fd.as_fd(), libc::IFF_DETACH_QUEUE)
            .map_err(|e| self.error("TUNSETQUEUE detach", e))
    }

    /// Shut down the whole device this queue belongs to; see
    /// [`Device::shutdown`](crate::Device::shutdown).
    pub fn shutdown(&self) {
        self.shared.shutdown();
    }

    /// Whether the device was shut down.
    pub fn is_shutdown(&self) -> bool {
        self.shared.is_shutdown()
    }

    #[cfg(feature = "async")]
    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    #[cfg(feature = "async")]
    pub(crate) fn async_io_cell(&self) -> &std::sync::OnceLock<crate::queue_async::AsyncIo> {
        &self.async_io
    }

    pub(crate) fn check_open(&self) -> Result<()> {
        if self.shared.is_shutdown() {
            Err(self.shared.shutdown_error())
        } else {
            Ok(())
        }
    }

    pub(crate) fn error(&self, op: &'static str, errno: Errno) -> Error {
        Error::os(&self.shared.name, op, errno)
    }

    /// Wait until the queue is ready for `events` or the device is shut down.
    fn wait(&self, events: PollFlags) -> Result<()> {
        let mut fds = [
            PollFd::new(self.fd.as_fd(), events),
            PollFd::new(self.shared.stop_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(self.error("poll", e)),
        }
        let stopped = fds[1]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLIN));
        if stopped || self.shared.is_shutdown() {
            return Err(self.shared.shutdown_error());
        }
        Ok(())
    }
}

impl AsFd for Queue {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Queue {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

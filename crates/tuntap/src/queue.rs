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
use std::sync::{Arc, Mutex};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::builder::Mode;
use crate::coalesce::{self, Outcome, Prefix};
use crate::device::Shared;
use crate::error::{Error, Result};
use crate::gro::{Batch, Config, Protocols};
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
    /// Buffers of `send_batch_coalesced`, taken out for the length of a call.
    gro: Mutex<Batch>,
    #[cfg(feature = "async")]
    async_io: std::sync::OnceLock<crate::queue_async::AsyncIo>,
}

impl Queue {
    pub(crate) fn new(fd: OwnedFd, shared: Arc<Shared>) -> Result<Self> {
        Ok(Queue {
            fd,
            shared,
            gro: Mutex::new(Batch::new()),
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
        Ok(self.take_waiting(rest, lens))
    }

    /// The rest of a batch after its first packet: takes what is already waiting into `rest`,
    /// lengths into `lens[1..]`, and returns the batch's count (the first one included). An
    /// error ends the batch early; the caller has its first packet.
    pub(crate) fn take_waiting<B: AsMut<[u8]>>(&self, rest: &mut [B], lens: &mut [usize]) -> usize {
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
        count
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

    /// Send a batch of IP packets, coalescing runs of TCP/UDP segments of one flow into GSO
    /// super-packets (the offload write path); returns how many input packets were sent.
    ///
    /// `packets` are bare IP packets, without `tun_pi` or `virtio_net_hdr`: this method adds
    /// the prefixes the device takes. On a `vnet_hdr` device, [`gro`](crate::gro) plans the
    /// frames: each run of segments that can merge is written as one super-packet with a
    /// `TCPV4`, `TCPV6` or `UDP_L4` header and a partial checksum, so the kernel takes up to
    /// 64 KiB in one system call; every other packet is written unchanged with a plain header.
    /// Without `vnet_hdr`, every packet is written on its own, as [`send_batch`](Self::send_batch)
    /// does.
    ///
    /// Packets of one flow stay in order; packets of different flows may be reordered, as
    /// GRO does. The buffers are kept in the queue between calls, so a steady stream of
    /// batches does not allocate.
    ///
    /// # Fallback
    ///
    /// When the kernel refuses a super-packet with `EINVAL` (Linux 6.6.44 did so for some
    /// `UDP_L4` writes; kernels before 6.2 have no `UDP_L4` at all), its original packets are
    /// written one by one instead, and, if they go through, the protocol (TCP4, TCP6 or UDP)
    /// is no longer coalesced on this device: see [`coalescing`](Self::coalescing) and
    /// [`coalescing_refused`](Self::coalescing_refused). The device's offload mask
    /// ([`Device::set_offload`](crate::Device::set_offload)) is not touched.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] on a TAP device (its frames are Ethernet, not IP); otherwise as
    /// [`send`](Self::send) for the first write. An error after some packets were sent ends
    /// the batch early and their count is returned instead; as packets of different flows may
    /// be reordered, those are not always a prefix of `packets`.
    pub fn send_batch_coalesced(&self, packets: &[&[u8]]) -> Result<usize> {
        let (prefix, config) = self.coalesce_setup("send_batch_coalesced")?;
        if let [packet] = packets {
            let out = coalesce::now(coalesce::drive_one(packet, prefix, Blocking(self)));
            return self.finish_coalesced(out);
        }
        let mut batch = self.take_gro_batch();
        let plan = batch.coalesce(packets, &config);
        let out = coalesce::now(coalesce::drive(&plan, packets, prefix, Blocking(self)));
        self.put_gro_batch(batch);
        self.finish_coalesced(out)
    }

    /// The protocols [`send_batch_coalesced`](Self::send_batch_coalesced) coalesces on this
    /// device: all of [`Protocols::ALL`] at first, less those the kernel refused and those
    /// turned off with [`set_coalescing`](Self::set_coalescing).
    pub fn coalescing(&self) -> Protocols {
        self.shared.coalescing()
    }

    /// Choose the protocols to coalesce on this device (every queue), e.g.
    /// [`Protocols::NONE`] to write every packet on its own, or [`Protocols::ALL`] to try again
    /// after a refusal.
    pub fn set_coalescing(&self, protocols: Protocols) {
        self.shared.set_coalescing(protocols);
    }

    /// The protocols whose super-packets the kernel refused with `EINVAL` on this device (the
    /// fallback's record; it is never cleared).
    pub fn coalescing_refused(&self) -> Protocols {
        self.shared.refused()
    }

    /// Test hook: the next `writes` super-packet writes on this device fail with `EINVAL`
    /// before reaching the kernel, as a kernel without the offload would answer. Not part of
    /// the API.
    #[doc(hidden)]
    pub fn inject_coalesced_einval(&self, writes: u32) {
        self.shared.inject_einval(writes);
    }

    /// The prefixes and the coalescing configuration for this device.
    pub(crate) fn coalesce_setup(&self, op: &'static str) -> Result<(Prefix, Config)> {
        if self.shared.mode == Mode::Tap {
            return Err(Error::Unsupported {
                name: self.shared.name.clone(),
                op,
                reason: "coalescing takes IP packets, a TAP device Ethernet frames",
            });
        }
        self.check_open()?;
        let vnet = self.shared.vnet_hdr;
        let protocols = if vnet {
            self.shared.coalescing()
        } else {
            Protocols::NONE
        };
        let prefix = Prefix {
            pi: self.shared.pi,
            vnet,
        };
        Ok((prefix, Config::default().protocols(protocols)))
    }

    /// Take the queue's coalescing buffers (fresh ones if another call holds them).
    pub(crate) fn take_gro_batch(&self) -> Batch {
        std::mem::take(&mut *self.gro.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Give the buffers back for the next call.
    pub(crate) fn put_gro_batch(&self, batch: Batch) {
        *self.gro.lock().unwrap_or_else(|e| e.into_inner()) = batch;
    }

    pub(crate) fn check_injected_einval(&self, coalesced: bool) -> Result<()> {
        if coalesced && self.shared.take_injected_einval() {
            return Err(self.error("writev", Errno::EINVAL));
        }
        Ok(())
    }

    /// Record the protocols refused and turn the outcome into the result.
    pub(crate) fn finish_coalesced(&self, out: Outcome) -> Result<usize> {
        self.shared.refuse(out.refused);
        out.into_result()
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

/// The blocking writer of [`Queue::send_batch_coalesced`]: it waits in `poll(2)`, never
/// suspends.
struct Blocking<'q>(&'q Queue);

impl coalesce::Writer for Blocking<'_> {
    async fn write(&mut self, bufs: &[IoSlice<'_>], coalesced: bool) -> Result<usize> {
        self.0.check_injected_einval(coalesced)?;
        match bufs {
            [one] => self.0.send(one),
            _ => self.0.send_vectored(bufs),
        }
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

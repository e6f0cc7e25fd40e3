//! The tokio face of [`Queue`]: `recv_async`, `send_async` and batched receive.
//!
//! # Implementation
//!
//! On first use a queue registers, with the current runtime's reactor, duplicates of its fd and
//! of the device's shutdown `eventfd` (duplicates, so the registration owns what it polls and
//! can never outlive it). Each operation waits for readiness, then tries the system call; on
//! `EAGAIN` it clears the readiness and waits again, so the queue is drained until `EAGAIN`
//! before tokio is asked to wait. A queue stays registered with the runtime it was first used
//! on.

use std::future::poll_fn;
use std::io::IoSlice;
use std::os::fd::{AsFd, OwnedFd};
use std::task::{Context, Poll};

use nix::errno::Errno;
use tokio::io::Interest;
use tokio::io::unix::{AsyncFd, AsyncFdReadyGuard};

use crate::error::{Error, Result};
use crate::queue::Queue;

/// The reactor registrations of one queue.
#[derive(Debug)]
pub(crate) struct AsyncIo {
    tun: AsyncFd<OwnedFd>,
    stop: AsyncFd<OwnedFd>,
}

impl Queue {
    /// Receive one packet, waiting asynchronously; the tokio twin of [`recv`](Self::recv).
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv), and [`Error::NoRuntime`] outside a tokio runtime with I/O
    /// enabled.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a packet is only read after readiness, inside one poll, so dropping the
    /// future never loses a packet.
    ///
    /// # Panics
    ///
    /// Inside a tokio runtime built without I/O (`enable_io`), as every tokio I/O type does.
    pub async fn recv_async(&self, buf: &mut [u8]) -> Result<usize> {
        let io = self.async_io()?;
        loop {
            let mut guard = poll_fn(|cx| self.poll_ready(io, cx, Interest::READABLE)).await?;
            match nix::unistd::read(self, buf) {
                Ok(n) => return Ok(n),
                Err(Errno::EAGAIN) => guard.clear_ready(),
                Err(Errno::EINTR) => {}
                Err(e) => return Err(self.error("read", e)),
            }
        }
    }

    /// Send one packet, waiting asynchronously while the kernel cannot take it; the tokio twin
    /// of [`send`](Self::send).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send), and [`Error::NoRuntime`].
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the packet is written whole in one system call or not at all.
    ///
    /// # Panics
    ///
    /// Inside a tokio runtime built without I/O (`enable_io`), when the write has to wait.
    pub async fn send_async(&self, packet: &[u8]) -> Result<usize> {
        self.check_open()?;
        // Fast path: a TUN write almost never blocks.
        match nix::unistd::write(self, packet) {
            Ok(n) => return Ok(n),
            Err(Errno::EAGAIN | Errno::EINTR) => {}
            Err(e) => return Err(self.error("write", e)),
        }
        let io = self.async_io()?;
        loop {
            let mut guard = poll_fn(|cx| self.poll_ready(io, cx, Interest::WRITABLE)).await?;
            match nix::unistd::write(self, packet) {
                Ok(n) => return Ok(n),
                Err(Errno::EAGAIN) => guard.clear_ready(),
                Err(Errno::EINTR) => {}
                Err(e) => return Err(self.error("write", e)),
            }
        }
    }

    /// Send one packet gathered from `bufs`, waiting asynchronously while the kernel cannot
    /// take it; the tokio twin of [`send_vectored`](Self::send_vectored).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send), and [`Error::NoRuntime`].
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the packet is written whole in one system call or not at all.
    ///
    /// # Panics
    ///
    /// Inside a tokio runtime built without I/O (`enable_io`), when the write has to wait.
    pub async fn send_vectored_async(&self, bufs: &[IoSlice<'_>]) -> Result<usize> {
        self.check_open()?;
        match nix::sys::uio::writev(self, bufs) {
            Ok(n) => return Ok(n),
            Err(Errno::EAGAIN | Errno::EINTR) => {}
            Err(e) => return Err(self.error("writev", e)),
        }
        let io = self.async_io()?;
        loop {
            let mut guard = poll_fn(|cx| self.poll_ready(io, cx, Interest::WRITABLE)).await?;
            match nix::sys::uio::writev(self, bufs) {
                Ok(n) => return Ok(n),
                Err(Errno::EAGAIN) => guard.clear_ready(),
                Err(Errno::EINTR) => {}
                Err(e) => return Err(self.error("writev", e)),
            }
        }
    }

    /// Send a batch of IP packets, coalescing runs of one flow into GSO super-packets, waiting
    /// asynchronously while the kernel cannot take a frame; the tokio twin of
    /// [`send_batch_coalesced`](Self::send_batch_coalesced), with the same fallback.
    ///
    /// # Errors
    ///
    /// As [`send_batch_coalesced`](Self::send_batch_coalesced), and [`Error::NoRuntime`].
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: dropping the future may leave the batch partly written (each frame is
    /// written whole or not at all). A refusal seen before the drop is not recorded.
    ///
    /// # Panics
    ///
    /// Inside a tokio runtime built without I/O (`enable_io`), when a write has to wait.
    pub async fn send_batch_coalesced_async(&self, packets: &[&[u8]]) -> Result<usize> {
        let (prefix, config) = self.coalesce_setup("send_batch_coalesced_async")?;
        if let [packet] = packets {
            let out = crate::coalesce::drive_one(packet, prefix, Tokio(self)).await;
            return self.finish_coalesced(out);
        }
        let mut batch = self.take_gro_batch();
        let plan = batch.coalesce(packets, &config);
        let out = crate::coalesce::drive(&plan, packets, prefix, Tokio(self)).await;
        self.put_gro_batch(batch);
        self.finish_coalesced(out)
    }

    /// Receive up to `bufs.len()` packets: wait for the first, then take what is waiting; the
    /// tokio twin of [`recv_batch`](Self::recv_batch).
    ///
    /// # Errors
    ///
    /// As [`recv_async`](Self::recv_async).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: nothing is read before the future completes its last poll.
    ///
    /// # Panics
    ///
    /// If `lens` is shorter than `bufs` (a caller bug).
    pub async fn recv_batch_async<B: AsMut<[u8]>>(
        &self,
        bufs: &mut [B],
        lens: &mut [usize],
    ) -> Result<usize> {
        assert!(
            lens.len() >= bufs.len(),
            "recv_batch_async: `lens` must be as long as `bufs`"
        );
        let Some((first, rest)) = bufs.split_first_mut() else {
            return Ok(0);
        };
        lens[0] = self.recv_async(first.as_mut()).await?;
        Ok(self.take_waiting(rest, lens))
    }

    /// Wait until shut down (an error) or ready for `interest` (a guard).
    fn poll_ready<'a>(
        &self,
        io: &'a AsyncIo,
        cx: &mut Context<'_>,
        interest: Interest,
    ) -> Poll<Result<AsyncFdReadyGuard<'a, OwnedFd>>> {
        // The flag is set before the eventfd is written, so a ready queue needs only the flag;
        // the eventfd is polled (and this task's waker registered on it) only when the queue
        // is not ready and the task is about to sleep.
        if self.check_open().is_err() {
            return Poll::Ready(Err(self.shared().shutdown_error()));
        }
        let ready = if interest.is_readable() {
            io.tun.poll_read_ready(cx)
        } else {
            io.tun.poll_write_ready(cx)
        };
        match ready {
            Poll::Ready(r) => Poll::Ready(r.map_err(|e| self.io_error("AsyncFd poll", e))),
            Poll::Pending if io.stop.poll_read_ready(cx).is_ready() => {
                Poll::Ready(Err(self.shared().shutdown_error()))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn async_io(&self) -> Result<&AsyncIo> {
        if let Some(io) = self.async_io_cell().get() {
            return Ok(io);
        }
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::NoRuntime {
                op: "recv_async/send_async",
            });
        }
        let dup = |fd: std::os::fd::BorrowedFd<'_>| {
            fd.try_clone_to_owned().map_err(|e| self.io_error("dup", e))
        };
        let register = |fd: OwnedFd, interest: Interest| {
            crate::sys::register_async(fd, interest)
                .map_err(|e| self.io_error("AsyncFd::register", e))
        };
        let io = AsyncIo {
            tun: register(dup(self.as_fd())?, Interest::READABLE | Interest::WRITABLE)?,
            stop: register(dup(self.shared().stop_fd())?, Interest::READABLE)?,
        };
        // A racing first use may have won; its registration is as good as ours.
        Ok(self.async_io_cell().get_or_init(|| io))
    }

    fn io_error(&self, op: &'static str, err: std::io::Error) -> Error {
        Error::Os {
            name: self.name().to_owned(),
            op,
            source: err,
        }
    }
}

/// The writer of [`Queue::send_batch_coalesced_async`]: it waits on the reactor.
struct Tokio<'q>(&'q Queue);

impl crate::coalesce::Writer for Tokio<'_> {
    async fn write(&mut self, bufs: &[IoSlice<'_>], coalesced: bool) -> Result<usize> {
        self.0.check_injected_einval(coalesced)?;
        match bufs {
            [one] => self.0.send_async(one).await,
            _ => self.0.send_vectored_async(bufs).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::queue::Queue;

    fn assert_send<T: Send>(_: &T) {}

    /// Compile-time check: the coalescing future can be spawned on a multi-threaded runtime.
    #[allow(dead_code, reason = "only compiled, never run")]
    fn send_batch_coalesced_async_is_send(queue: &Queue, packets: &[&[u8]]) {
        assert_send(&queue.send_batch_coalesced_async(packets));
    }
}

//! How the blocking face of a [`Queue`](crate::Queue) waits: an `epoll` set per direction,
//! made on first use, holding the queue's fd and the device's shutdown `eventfd`.
//!
//! A `poll(2)` call registers a wait entry on each descriptor and removes it again on every
//! call; an `epoll` set keeps its registrations, so a wait is one `epoll_wait` that only
//! sleeps. A forwarder that drains its queue and waits for every packet (a TCP stream through
//! two devices) waits about once per packet, so this is on the hot path. Each direction has a
//! set of its own because the sets are level-triggered: one set watching both `EPOLLIN` and
//! `EPOLLOUT` would wake a reader whenever the queue is writable, which is almost always.
//! If a set cannot be made (out of descriptors), the wait falls back to `poll(2)`.

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::OnceLock;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};

/// What a blocked call waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// A packet to read.
    Readable,
    /// Room to write.
    Writable,
}

/// The two `epoll` sets of one queue, each made the first time a call waits that way.
#[derive(Debug, Default)]
pub(crate) struct Waiter {
    readable: OnceLock<Option<Epoll>>,
    writable: OnceLock<Option<Epoll>>,
}

impl Waiter {
    /// Sleep until `queue` is ready in `direction` or `stop` is readable (or a signal comes).
    /// The caller retries its system call and checks the shutdown flag either way.
    pub(crate) fn wait(
        &self,
        queue: BorrowedFd<'_>,
        stop: BorrowedFd<'_>,
        direction: Direction,
    ) -> Result<(), Errno> {
        let (cell, flags, poll_flags) = match direction {
            Direction::Readable => (&self.readable, EpollFlags::EPOLLIN, PollFlags::POLLIN),
            Direction::Writable => (&self.writable, EpollFlags::EPOLLOUT, PollFlags::POLLOUT),
        };
        match cell.get_or_init(|| epoll_set(queue, stop, flags).ok()) {
            Some(set) => {
                let mut events = [EpollEvent::empty(); 2];
                match set.wait(&mut events, EpollTimeout::NONE) {
                    Ok(_) | Err(Errno::EINTR) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            None => {
                let mut fds = [
                    PollFd::new(queue, poll_flags),
                    PollFd::new(stop, PollFlags::POLLIN),
                ];
                match poll(&mut fds, PollTimeout::NONE) {
                    Ok(_) | Err(Errno::EINTR) => Ok(()),
                    Err(e) => Err(e),
                }
            }
        }
    }
}

/// A level-triggered set: `queue` for `flags`, `stop` for `EPOLLIN`.
fn epoll_set(
    queue: BorrowedFd<'_>,
    stop: BorrowedFd<'_>,
    flags: EpollFlags,
) -> Result<Epoll, Errno> {
    let set = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
    set.add(queue.as_fd(), EpollEvent::new(flags, 0))?;
    set.add(stop.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, 1))?;
    Ok(set)
}

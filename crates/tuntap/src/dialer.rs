//! [`Dialer`]: connect sockets with hooks run on the raw socket first, like Go's
//! `net.Dialer.Control`.
//!
//! The typical use next to a TUN device: a VPN's own encrypted traffic must not be routed into
//! its tunnel, so its sockets are pinned to the physical interface (`SO_BINDTODEVICE`) or
//! marked for a policy-routing rule (`SO_MARK`) before they connect.
//!
//! [`ListenConfig`](crate::ListenConfig) is the same for listening sockets.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{self, SockType, SockaddrStorage, sockopt};

use crate::error::{Error, Result};
use crate::netns::Netns;
use crate::socket_setup::{Role, SocketSetup, bind_to_device, mark_control};

/// Options for connecting TCP and UDP sockets, with [`control`](Self::control) hooks.
///
/// # Examples
///
/// ```no_run
/// use tuntap::Dialer;
///
/// let dialer = Dialer::new().bind_to_device("eth0").mark(0x51);
/// let stream = dialer.connect_tcp("127.0.0.1:8080".parse().unwrap())?;
/// # Ok::<(), tuntap::Error>(())
/// ```
#[derive(Clone, Default)]
#[must_use = "a Dialer does nothing until a connect method is called"]
pub struct Dialer {
    setup: SocketSetup,
    local_addr: Option<SocketAddr>,
    timeout: Option<Duration>,
}

impl fmt::Debug for Dialer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dialer")
            .field("controls", &self.setup.controls.len())
            .field("netns", &self.setup.netns.as_ref().map(Netns::name))
            .field("local_addr", &self.local_addr)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Dialer {
    /// A dialer with no hooks, no local address and no timeout.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a hook run on the raw socket before bind/connect; hooks run in the order added, and
    /// the first error aborts the dial.
    pub fn control(
        mut self,
        hook: impl Fn(&str, SocketAddr, BorrowedFd<'_>) -> io::Result<()> + Send + Sync + 'static,
    ) -> Self {
        self.setup.controls.push(Arc::new(hook));
        self
    }

    /// Make the sockets in `netns`: they connect from inside that network namespace (its
    /// interfaces, addresses and routes), whatever namespace the calling thread is in. A
    /// socket keeps its namespace for its whole life.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tuntap::{Dialer, Netns};
    ///
    /// let vpn = Netns::open("vpn")?;
    /// let stream = Dialer::new().netns(vpn).connect_tcp("10.8.0.1:443".parse().unwrap())?;
    /// # Ok::<(), tuntap::Error>(())
    /// ```
    pub fn netns(mut self, netns: Netns) -> Self {
        self.setup.netns = Some(netns);
        self
    }

    /// Add the ready-made [`bind_to_device`] control.
    pub fn bind_to_device(self, interface: impl Into<String>) -> Self {
        self.control(bind_to_device(interface))
    }

    /// Add the ready-made [`mark_control`] (`SO_MARK`).
    pub fn mark(self, mark: u32) -> Self {
        self.control(mark_control(mark))
    }

    /// Bind to this local address before connecting.
    pub fn local_addr(mut self, addr: SocketAddr) -> Self {
        self.local_addr = Some(addr);
        self
    }

    /// Give up a blocking TCP connect after this long (async connects take the caller's own
    /// `tokio::time::timeout`).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Connect a TCP stream, blocking.
    ///
    /// # Errors
    ///
    /// [`Error::Dial`] naming the step (`socket`, `control`, `bind`, `connect`) and address;
    /// `connect` with `ETIMEDOUT` after [`timeout`](Self::timeout). [`Error::Netns`] when the
    /// [namespace](Self::netns) cannot be entered.
    pub fn connect_tcp(&self, addr: SocketAddr) -> Result<TcpStream> {
        let fd = self.prepare(SockType::Stream, addr, self.timeout.is_some())?;
        match socket::connect(as_raw(&fd), &SockaddrStorage::from(addr)) {
            Ok(()) => {}
            Err(Errno::EINPROGRESS) => self.wait_connected(&fd, addr)?,
            Err(e) => return Err(dial("tcp", addr, "connect", e.into())),
        }
        if self.timeout.is_some() {
            set_nonblocking(&fd, false).map_err(|e| dial("tcp", addr, "fcntl", e))?;
        }
        Ok(TcpStream::from(fd))
    }

    /// Create a UDP socket connected to `addr` (sends go there, receives come only from there).
    ///
    /// # Errors
    ///
    /// As [`connect_tcp`](Self::connect_tcp).
    pub fn connect_udp(&self, addr: SocketAddr) -> Result<UdpSocket> {
        let fd = self.prepare(SockType::Datagram, addr, false)?;
        socket::connect(as_raw(&fd), &SockaddrStorage::from(addr))
            .map_err(|e| dial("udp", addr, "connect", e.into()))?;
        Ok(UdpSocket::from(fd))
    }

    /// Create a UDP socket connected to `addr` on tokio; the async twin of
    /// [`connect_udp`](Self::connect_udp) (a UDP connect does not wait, so neither does this).
    ///
    /// # Errors
    ///
    /// As [`connect_udp`](Self::connect_udp), and [`Error::NoRuntime`].
    #[cfg(feature = "async")]
    pub async fn connect_udp_async(&self, addr: SocketAddr) -> Result<tokio::net::UdpSocket> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::NoRuntime {
                op: "Dialer::connect_udp_async",
            });
        }
        let fd = self.prepare(SockType::Datagram, addr, true)?;
        socket::connect(as_raw(&fd), &SockaddrStorage::from(addr))
            .map_err(|e| dial("udp", addr, "connect", e.into()))?;
        tokio::net::UdpSocket::from_std(UdpSocket::from(fd))
            .map_err(|e| dial("udp", addr, "register", e))
    }

    /// Connect a TCP stream on tokio; the async twin of [`connect_tcp`](Self::connect_tcp).
    ///
    /// # Errors
    ///
    /// As [`connect_tcp`](Self::connect_tcp), and [`Error::NoRuntime`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future closes the half-open socket; nothing else is left behind.
    #[cfg(feature = "async")]
    pub async fn connect_tcp_async(&self, addr: SocketAddr) -> Result<tokio::net::TcpStream> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::NoRuntime {
                op: "Dialer::connect_tcp_async",
            });
        }
        let fd = self.prepare(SockType::Stream, addr, true)?;
        let socket = tokio::net::TcpSocket::from_std_stream(TcpStream::from(fd));
        socket
            .connect(addr)
            .await
            .map_err(|e| dial("tcp", addr, "connect", e))
    }

    /// Create the socket, run the controls, bind.
    fn prepare(&self, kind: SockType, addr: SocketAddr, nonblocking: bool) -> Result<OwnedFd> {
        let (fd, network) = self
            .setup
            .open(Role::Dial, kind, addr, nonblocking, |_| Ok(()))?;
        if let Some(local) = self.local_addr {
            socket::bind(as_raw(&fd), &SockaddrStorage::from(local))
                .map_err(|e| dial(network, addr, "bind", e.into()))?;
        }
        Ok(fd)
    }

    fn wait_connected(&self, fd: &OwnedFd, addr: SocketAddr) -> Result<()> {
        let millis = self
            .timeout
            .map_or(-1, |t| i32::try_from(t.as_millis()).unwrap_or(i32::MAX));
        let timeout = PollTimeout::try_from(millis).unwrap_or(PollTimeout::NONE);
        loop {
            let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLOUT)];
            match poll(&mut fds, timeout) {
                Ok(0) => return Err(dial("tcp", addr, "connect", Errno::ETIMEDOUT.into())),
                Ok(_) => break,
                // A signal restarts the full timeout: a bound, not an exact deadline.
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(dial("tcp", addr, "poll", e.into())),
            }
        }
        match socket::getsockopt(fd, sockopt::SocketError) {
            Ok(0) => Ok(()),
            Ok(code) => Err(dial(
                "tcp",
                addr,
                "connect",
                io::Error::from_raw_os_error(code),
            )),
            Err(e) => Err(dial("tcp", addr, "getsockopt", e.into())),
        }
    }
}

fn dial(network: &str, addr: SocketAddr, op: &'static str, source: io::Error) -> Error {
    Role::Dial.error(network, addr, op, source)
}

pub(crate) fn as_raw(fd: &OwnedFd) -> std::os::fd::RawFd {
    std::os::fd::AsRawFd::as_raw_fd(fd)
}

fn set_nonblocking(fd: &OwnedFd, on: bool) -> io::Result<()> {
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    let flags = if on {
        flags | OFlag::O_NONBLOCK
    } else {
        flags - OFlag::O_NONBLOCK
    };
    fcntl(fd, FcntlArg::F_SETFL(flags))?;
    Ok(())
}

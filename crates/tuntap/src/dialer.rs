//! [`Dialer`]: connect sockets with hooks run on the raw socket first, like Go's
//! `net.Dialer.Control`.
//!
//! The typical use next to a TUN device: a VPN's own encrypted traffic must not be routed into
//! its tunnel, so its sockets are pinned to the physical interface (`SO_BINDTODEVICE`) or
//! marked for a policy-routing rule (`SO_MARK`) before they connect.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, SockaddrStorage, sockopt};

use crate::error::{Error, Result};

/// A control hook: called with the network (`"tcp4"`, `"tcp6"`, `"udp4"`, `"udp6"`), the
/// remote address and the socket, after the socket is created and before it binds or connects.
pub type Control = dyn Fn(&str, SocketAddr, BorrowedFd<'_>) -> io::Result<()> + Send + Sync;

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
    controls: Vec<Arc<Control>>,
    local_addr: Option<SocketAddr>,
    timeout: Option<Duration>,
}

impl fmt::Debug for Dialer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dialer")
            .field("controls", &self.controls.len())
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
        self.controls.push(Arc::new(hook));
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
    /// `connect` with `ETIMEDOUT` after [`timeout`](Self::timeout).
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
        let (family, network) = match (addr, kind) {
            (SocketAddr::V4(_), SockType::Stream) => (AddressFamily::Inet, "tcp4"),
            (SocketAddr::V6(_), SockType::Stream) => (AddressFamily::Inet6, "tcp6"),
            (SocketAddr::V4(_), _) => (AddressFamily::Inet, "udp4"),
            (SocketAddr::V6(_), _) => (AddressFamily::Inet6, "udp6"),
        };
        let mut flags = SockFlag::SOCK_CLOEXEC;
        if nonblocking {
            flags |= SockFlag::SOCK_NONBLOCK;
        }
        let fd = socket::socket(family, kind, flags, None)
            .map_err(|e| dial(network, addr, "socket", e.into()))?;
        for control in &self.controls {
            control(network, addr, fd.as_fd()).map_err(|e| dial(network, addr, "control", e))?;
        }
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

/// A control that pins the socket to `interface` (`SO_BINDTODEVICE`; needs `CAP_NET_RAW`).
pub fn bind_to_device(
    interface: impl Into<String>,
) -> impl Fn(&str, SocketAddr, BorrowedFd<'_>) -> io::Result<()> + Send + Sync + 'static {
    let interface: std::ffi::OsString = interface.into().into();
    move |_network, _addr, fd| {
        socket::setsockopt(&fd, sockopt::BindToDevice, &interface).map_err(io::Error::from)
    }
}

/// A control that sets the socket's firewall mark (`SO_MARK`; needs `CAP_NET_ADMIN`).
pub fn mark_control(
    mark: u32,
) -> impl Fn(&str, SocketAddr, BorrowedFd<'_>) -> io::Result<()> + Send + Sync + 'static {
    move |_network, _addr, fd| {
        socket::setsockopt(&fd, sockopt::Mark, &mark).map_err(io::Error::from)
    }
}

fn dial(network: &str, addr: SocketAddr, op: &'static str, source: io::Error) -> Error {
    Error::Dial {
        network: network.to_owned(),
        address: addr,
        op,
        source,
    }
}

fn as_raw(fd: &OwnedFd) -> std::os::fd::RawFd {
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

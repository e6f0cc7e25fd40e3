//! [`ListenConfig`]: listening TCP and bound UDP sockets with hooks run on the raw socket
//! before it binds, like Go's `net.ListenConfig.Control`.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::Arc;

use nix::sys::socket::{self, Backlog, SockType, SockaddrStorage, sockopt};

use crate::dialer::as_raw;
use crate::error::Result;
use crate::netns::Netns;
use crate::socket_setup::{Role, SocketSetup, bind_to_device, mark_control};

/// Options for listening TCP sockets and bound UDP sockets, with [`control`](Self::control)
/// hooks run after the socket is created and before it binds: the listening twin of
/// [`Dialer`](crate::Dialer).
///
/// TCP listeners get `SO_REUSEADDR` before the hooks run (as the standard library's and Go's
/// listeners do), so a restarted server can bind at once; a hook may turn it off again.
///
/// # Examples
///
/// ```no_run
/// use std::io::Write;
/// use tuntap::ListenConfig;
///
/// // A listener that only accepts what arrives through tun0.
/// let listener = ListenConfig::new()
///     .bind_to_device("tun0")
///     .listen_tcp("0.0.0.0:8080".parse().unwrap())?;
/// let (mut peer, _) = listener.accept()?;
/// peer.write_all(b"hello\n")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
#[must_use = "a ListenConfig does nothing until a listen or bind method is called"]
pub struct ListenConfig {
    setup: SocketSetup,
    backlog: i32,
}

impl Default for ListenConfig {
    fn default() -> Self {
        ListenConfig {
            setup: SocketSetup::default(),
            backlog: libc::SOMAXCONN,
        }
    }
}

impl fmt::Debug for ListenConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListenConfig")
            .field("controls", &self.setup.controls.len())
            .field("netns", &self.setup.netns.as_ref().map(Netns::name))
            .field("backlog", &self.backlog)
            .finish()
    }
}

impl ListenConfig {
    /// No hooks, the calling thread's namespace, a backlog of `SOMAXCONN` (the kernel caps it
    /// at `net.core.somaxconn`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a hook run on the raw socket before it binds, with the network and the local
    /// address; hooks run in the order added, and the first error aborts.
    pub fn control(
        mut self,
        hook: impl Fn(&str, SocketAddr, BorrowedFd<'_>) -> io::Result<()> + Send + Sync + 'static,
    ) -> Self {
        self.setup.controls.push(Arc::new(hook));
        self
    }

    /// Add the ready-made [`bind_to_device`] control: only traffic of
    /// `interface` reaches the socket.
    pub fn bind_to_device(self, interface: impl Into<String>) -> Self {
        self.control(bind_to_device(interface))
    }

    /// Add the ready-made [`mark_control`] (`SO_MARK` on what the socket
    /// sends).
    pub fn mark(self, mark: u32) -> Self {
        self.control(mark_control(mark))
    }

    /// Make the sockets in `netns`: they listen inside that network namespace, whatever
    /// namespace the calling thread is in.
    pub fn netns(mut self, netns: Netns) -> Self {
        self.setup.netns = Some(netns);
        self
    }

    /// The TCP listen backlog (default `SOMAXCONN`). Values below 1 count as 1.
    pub fn backlog(mut self, backlog: i32) -> Self {
        self.backlog = backlog.max(1);
        self
    }

    /// A TCP listener on `addr` (port 0: the kernel picks one; see `local_addr()`).
    ///
    /// # Errors
    ///
    /// [`Error::Listen`](crate::Error::Listen) naming the step (`socket`, `setsockopt`,
    /// `control`, `bind`, `listen`) and the address; [`Error::Netns`](crate::Error::Netns) when
    /// the [namespace](Self::netns) cannot be entered.
    pub fn listen_tcp(&self, addr: SocketAddr) -> Result<TcpListener> {
        self.listener(addr, false).map(TcpListener::from)
    }

    /// A UDP socket bound to `addr`.
    ///
    /// # Errors
    ///
    /// As [`listen_tcp`](Self::listen_tcp).
    pub fn bind_udp(&self, addr: SocketAddr) -> Result<UdpSocket> {
        self.bound_udp(addr, false).map(UdpSocket::from)
    }

    /// A TCP listener on `addr` for tokio; the twin of [`listen_tcp`](Self::listen_tcp).
    ///
    /// # Errors
    ///
    /// As [`listen_tcp`](Self::listen_tcp), and [`Error::NoRuntime`](crate::Error::NoRuntime).
    #[cfg(feature = "async")]
    pub async fn listen_tcp_async(&self, addr: SocketAddr) -> Result<tokio::net::TcpListener> {
        no_runtime_check("ListenConfig::listen_tcp_async")?;
        let fd = self.listener(addr, true)?;
        tokio::net::TcpListener::from_std(TcpListener::from(fd))
            .map_err(|e| Role::Listen.error("tcp", addr, "register", e))
    }

    /// A UDP socket bound to `addr` for tokio; the twin of [`bind_udp`](Self::bind_udp).
    ///
    /// # Errors
    ///
    /// As [`listen_tcp`](Self::listen_tcp), and [`Error::NoRuntime`](crate::Error::NoRuntime).
    #[cfg(feature = "async")]
    pub async fn bind_udp_async(&self, addr: SocketAddr) -> Result<tokio::net::UdpSocket> {
        no_runtime_check("ListenConfig::bind_udp_async")?;
        let fd = self.bound_udp(addr, true)?;
        tokio::net::UdpSocket::from_std(UdpSocket::from(fd))
            .map_err(|e| Role::Listen.error("udp", addr, "register", e))
    }

    fn listener(&self, addr: SocketAddr, nonblocking: bool) -> Result<OwnedFd> {
        let (fd, network) =
            self.setup
                .open(Role::Listen, SockType::Stream, addr, nonblocking, |fd| {
                    socket::setsockopt(&fd, sockopt::ReuseAddr, &true)
                })?;
        bind(&fd, network, addr)?;
        let backlog = Backlog::new(self.backlog).unwrap_or(Backlog::MAXCONN);
        socket::listen(&fd, backlog)
            .map_err(|e| Role::Listen.error(network, addr, "listen", e.into()))?;
        Ok(fd)
    }

    fn bound_udp(&self, addr: SocketAddr, nonblocking: bool) -> Result<OwnedFd> {
        let (fd, network) =
            self.setup
                .open(Role::Listen, SockType::Datagram, addr, nonblocking, |_| {
                    Ok(())
                })?;
        bind(&fd, network, addr)?;
        Ok(fd)
    }
}

fn bind(fd: &OwnedFd, network: &str, addr: SocketAddr) -> Result<()> {
    socket::bind(as_raw(fd), &SockaddrStorage::from(addr))
        .map_err(|e| Role::Listen.error(network, addr, "bind", e.into()))
}

#[cfg(feature = "async")]
fn no_runtime_check(op: &'static str) -> Result<()> {
    match tokio::runtime::Handle::try_current() {
        Ok(_) => Ok(()),
        Err(_) => Err(crate::error::Error::NoRuntime { op }),
    }
}

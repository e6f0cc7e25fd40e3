//! What [`Dialer`](crate::Dialer) and [`ListenConfig`](crate::ListenConfig) share: making the
//! socket (in another network namespace if asked) and running the control hooks on it before
//! it binds or connects.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use nix::sys::socket::{self, AddressFamily, SockFlag, SockType};

use crate::error::{Error, Result};
use crate::netns::Netns;

/// A control hook: called with the network (`"tcp4"`, `"tcp6"`, `"udp4"`, `"udp6"`), the
/// address (the remote one when dialing, the local one when listening) and the socket, after
/// the socket is created and before it binds or connects.
pub type Control = dyn Fn(&str, SocketAddr, BorrowedFd<'_>) -> io::Result<()> + Send + Sync;

/// Whether a socket is made to dial or to listen: which error a failed step becomes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Role {
    /// [`Error::Dial`].
    Dial,
    /// [`Error::Listen`].
    Listen,
}

impl Role {
    /// The error of step `op` for `address` on `network`.
    pub(crate) fn error(
        self,
        network: &str,
        address: SocketAddr,
        op: &'static str,
        source: io::Error,
    ) -> Error {
        let network = network.to_owned();
        match self {
            Role::Dial => Error::Dial {
                network,
                address,
                op,
                source,
            },
            Role::Listen => Error::Listen {
                network,
                address,
                op,
                source,
            },
        }
    }
}

/// The hooks and the namespace a socket is made with.
#[derive(Clone, Default)]
pub(crate) struct SocketSetup {
    pub(crate) controls: Vec<Arc<Control>>,
    pub(crate) netns: Option<Netns>,
}

impl SocketSetup {
    /// A socket of `kind` for the family of `addr`, made in the namespace if one is set, with
    /// `before_controls` applied and then every control hook in order. Returns it with its
    /// network name.
    pub(crate) fn open(
        &self,
        role: Role,
        kind: SockType,
        addr: SocketAddr,
        nonblocking: bool,
        before_controls: impl FnOnce(BorrowedFd<'_>) -> nix::Result<()>,
    ) -> Result<(OwnedFd, &'static str)> {
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
        let make = || socket::socket(family, kind, flags, None);
        // A socket belongs to the namespace it was made in, for its whole life.
        let made = match &self.netns {
            Some(netns) => netns.run(make)?,
            None => make(),
        };
        let fd = made.map_err(|e| role.error(network, addr, "socket", e.into()))?;
        before_controls(fd.as_fd())
            .map_err(|e| role.error(network, addr, "setsockopt", e.into()))?;
        for control in &self.controls {
            control(network, addr, fd.as_fd())
                .map_err(|e| role.error(network, addr, "control", e))?;
        }
        Ok((fd, network))
    }
}

/// A control that pins the socket to `interface` (`SO_BINDTODEVICE`; needs `CAP_NET_RAW`).
pub fn bind_to_device(
    interface: impl Into<String>,
) -> impl Fn(&str, SocketAddr, BorrowedFd<'_>) -> io::Result<()> + Send + Sync + 'static {
    let interface: std::ffi::OsString = interface.into().into();
    move |_network, _addr, fd| {
        socket::setsockopt(&fd, socket::sockopt::BindToDevice, &interface).map_err(io::Error::from)
    }
}

/// A control that sets the socket's firewall mark (`SO_MARK`; needs `CAP_NET_ADMIN`).
pub fn mark_control(
    mark: u32,
) -> impl Fn(&str, SocketAddr, BorrowedFd<'_>) -> io::Result<()> + Send + Sync + 'static {
    move |_network, _addr, fd| {
        socket::setsockopt(&fd, socket::sockopt::Mark, &mark).map_err(io::Error::from)
    }
}

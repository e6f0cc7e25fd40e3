//! The crate's error type: one enum, each variant with the device and operation it concerns.

use std::io;

use nix::errno::Errno;

/// A `Result` whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong managing or using a TUN/TAP device.
///
/// Every kernel refusal maps to a variant that says which device and which operation failed,
/// with the errno kept as the `source`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The interface name is empty, too long for `IFNAMSIZ`, or contains a character Linux
    /// refuses (`/`, whitespace, `:`), or is `.`/`..`.
    #[error("invalid interface name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// No user with this name exists in the user database.
    #[error("unknown user {user:?}")]
    UnknownUser {
        /// The user name as given.
        user: String,
    },
    /// No group with this name exists in the group database.
    #[error("unknown group {group:?}")]
    UnknownGroup {
        /// The group name as given.
        group: String,
    },
    /// The caller lacks `CAP_NET_ADMIN` (or is not the device's owner/group).
    #[error("{op} on {name:?}: permission denied (needs CAP_NET_ADMIN or the device's owner)")]
    PermissionDenied {
        /// The interface name.
        name: String,
        /// The operation, e.g. `"TUNSETIFF"`.
        op: &'static str,
    },
    /// `/dev/net/tun` cannot be opened because it is not there: the `tun` driver is not
    /// loaded (`modprobe tun`), or the device node was not made (`mknod /dev/net/tun c 10 200`;
    /// containers often lack it).
    #[error("{path} is missing: load the tun driver (modprobe tun) or make the device node")]
    NoTunDriver {
        /// The path that was opened.
        path: &'static str,
        /// The OS error (`ENOENT`, `ENODEV` or `ENXIO`).
        #[source]
        source: io::Error,
    },
    /// The device exists but was created with other flags than requested.
    #[error(
        "cannot attach to {name:?}: {flag} is {actual} on the device but {requested} was requested"
    )]
    FlagMismatch {
        /// The interface name.
        name: String,
        /// The setting that differs: `"mode"`, `"pi"`, `"vnet_hdr"` or `"multi_queue"`.
        flag: &'static str,
        /// The device's value.
        actual: String,
        /// The requested value.
        requested: String,
    },
    /// No interface with this name exists (in the network namespace looked at).
    #[error("no such interface {name:?}")]
    NotFound {
        /// The interface name.
        name: String,
    },
    /// The interface exists but is not a TUN/TAP device.
    #[error("{name:?} is not a TUN/TAP device (kind {kind:?})")]
    NotTunTap {
        /// The interface name.
        name: String,
        /// Its link kind as netlink reports it (`None` for physical devices).
        kind: Option<String>,
    },
    /// The device exists already (on [`crate::DeviceBuilder::create`]), or it is not
    /// multi-queue and its single queue is attached already (`EBUSY`).
    #[error("{name:?} is busy: {reason}")]
    Busy {
        /// The interface name.
        name: String,
        /// Which of the two cases it is.
        reason: &'static str,
    },
    /// The file descriptor is closed or is not an attached TUN/TAP file.
    #[error("{op}: file descriptor is closed or not an attached TUN/TAP file")]
    BadFd {
        /// The operation.
        op: &'static str,
    },
    /// `shutdown()` was called: I/O on this device's queues is over.
    #[error("{name:?}: the device was shut down")]
    Shutdown {
        /// The interface name.
        name: String,
    },
    /// An async method was called outside a tokio runtime with I/O enabled.
    #[error("{op}: no tokio runtime with I/O enabled in this context")]
    NoRuntime {
        /// The operation.
        op: &'static str,
    },
    /// The operation does not apply to this device.
    #[error("{op} on {name:?}: {reason}")]
    Unsupported {
        /// The interface name.
        name: String,
        /// The operation.
        op: &'static str,
        /// Why it does not apply.
        reason: &'static str,
    },
    /// A network namespace could not be opened or entered.
    #[error("network namespace {netns:?}: {op}")]
    Netns {
        /// The namespace name (under `/run/netns`) or path.
        netns: String,
        /// The step that failed.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A netlink request was refused or its answer could not be parsed.
    #[error("netlink {op} on {name:?}")]
    Netlink {
        /// The interface (or address/route) the request concerned.
        name: String,
        /// The request, e.g. `"RTM_NEWADDR"`.
        op: &'static str,
        /// The OS error (the kernel's errno for refusals).
        #[source]
        source: io::Error,
    },
    /// A [`Dialer`](crate::Dialer) step failed: creating the socket, a control hook, bind or
    /// connect.
    #[error("dial {network} {address}: {op}")]
    Dial {
        /// `"tcp4"`, `"tcp6"`, `"udp4"` or `"udp6"` (`"tcp"`/`"udp"` after the socket exists).
        network: String,
        /// The remote address.
        address: std::net::SocketAddr,
        /// The step: `"socket"`, `"control"`, `"bind"`, `"connect"`.
        op: &'static str,
        /// The OS error or the hook's error.
        #[source]
        source: io::Error,
    },
    /// A [`ListenConfig`](crate::ListenConfig) step failed: creating the socket, a control
    /// hook, bind or listen.
    #[error("listen {network} {address}: {op}")]
    Listen {
        /// `"tcp4"`, `"tcp6"`, `"udp4"` or `"udp6"`.
        network: String,
        /// The local address.
        address: std::net::SocketAddr,
        /// The step: `"socket"`, `"setsockopt"`, `"control"`, `"bind"`, `"listen"`.
        op: &'static str,
        /// The OS error or the hook's error.
        #[source]
        source: io::Error,
    },
    /// Any other system call failed.
    #[error("{op} on {name:?}")]
    Os {
        /// The interface name (empty when none applies).
        name: String,
        /// The system call or ioctl.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// Build the error for a failed system call, turning `EPERM`/`EACCES` into
    /// [`Error::PermissionDenied`] and `EBADF` into [`Error::BadFd`].
    pub(crate) fn os(name: &str, op: &'static str, errno: Errno) -> Self {
        match errno {
            Errno::EPERM | Errno::EACCES => Error::PermissionDenied {
                name: name.to_owned(),
                op,
            },
            Errno::EBADF | Errno::EBADFD => Error::BadFd { op },
            _ => Error::Os {
                name: name.to_owned(),
                op,
                source: io::Error::from(errno),
            },
        }
    }

    /// Build the error for a failed netlink request.
    pub(crate) fn netlink(name: &str, op: &'static str, source: io::Error) -> Self {
        if source.raw_os_error() == Some(libc::ENODEV) {
            return Error::NotFound {
                name: name.to_owned(),
            };
        }
        if matches!(source.raw_os_error(), Some(libc::EPERM | libc::EACCES)) {
            return Error::PermissionDenied {
                name: name.to_owned(),
                op,
            };
        }
        Error::Netlink {
            name: name.to_owned(),
            op,
            source,
        }
    }

    /// The OS error number behind this error, if there is one.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::PermissionDenied { .. } => Some(libc::EPERM),
            Error::BadFd { .. } => Some(libc::EBADF),
            Error::Busy { .. } => Some(libc::EBUSY),
            Error::NotFound { .. } => Some(libc::ENODEV),
            Error::Netns { source, .. }
            | Error::Netlink { source, .. }
            | Error::Dial { source, .. }
            | Error::Listen { source, .. }
            | Error::NoTunDriver { source, .. }
            | Error::Os { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> Self {
        let kind = match &err {
            Error::InvalidName { .. }
            | Error::UnknownUser { .. }
            | Error::UnknownGroup { .. }
            | Error::FlagMismatch { .. } => io::ErrorKind::InvalidInput,
            Error::PermissionDenied { .. } => io::ErrorKind::PermissionDenied,
            Error::NotFound { .. } | Error::NoTunDriver { .. } => io::ErrorKind::NotFound,
            Error::Shutdown { .. } => io::ErrorKind::BrokenPipe,
            Error::Busy { .. } => io::ErrorKind::ResourceBusy,
            Error::Unsupported { .. } => io::ErrorKind::Unsupported,
            Error::Os { source, .. }
            | Error::Netlink { source, .. }
            | Error::Netns { source, .. }
            | Error::Dial { source, .. }
            | Error::Listen { source, .. } => source.kind(),
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, err)
    }
}

//! [`DeviceBuilder`]: create or attach a TUN/TAP device the way `ip tuntap add` does.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode as FileMode;
use nix::unistd::{Group, User};

use crate::device::{Device, Shared};
use crate::error::{Error, Result};
use crate::list::{self, DeviceInfo};
use crate::netns::{self, Netns};
use crate::queue::Queue;
use crate::sys::{self, ValueIoctl};
use crate::vnet::Offload;

/// The clone device every TUN/TAP file is opened from.
pub(crate) const CLONE_DEVICE: &str = "/dev/net/tun";

/// Layer 3 (`tun`) or layer 2 (`tap`).
///
/// Complete by definition: the kernel's tun driver has exactly these two kinds.
#[allow(
    clippy::exhaustive_enums,
    reason = "the tun driver has exactly two modes"
)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Mode {
    /// IP packets (`IFF_TUN`).
    #[default]
    Tun,
    /// Ethernet frames (`IFF_TAP`).
    Tap,
}

impl Mode {
    pub(crate) fn flag(self) -> i32 {
        match self {
            Mode::Tun => libc::IFF_TUN,
            Mode::Tap => libc::IFF_TAP,
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Tun => "tun",
            Mode::Tap => "tap",
        })
    }
}

/// A user or group given by name or by number, as `ip tuntap add user USER group GROUP` takes.
///
/// Complete by definition: a name or a number.
#[allow(clippy::exhaustive_enums, reason = "a name or a number, nothing else")]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Principal {
    /// Looked up in the user or group database when the device is opened.
    Name(String),
    /// Used as is.
    Id(u32),
}

impl From<&str> for Principal {
    fn from(name: &str) -> Self {
        Principal::Name(name.to_owned())
    }
}

impl From<String> for Principal {
    fn from(name: String) -> Self {
        Principal::Name(name)
    }
}

impl From<u32> for Principal {
    fn from(id: u32) -> Self {
        Principal::Id(id)
    }
}

/// What to do when a device of that name exists or does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OpenMode {
    /// Create it, or attach if it exists (what `ip tuntap add` and most programs do).
    CreateOrAttach,
    /// Fail with [`Error::Busy`] if it exists (`IFF_TUN_EXCL`).
    CreateNew,
    /// Fail with [`Error::NotFound`] if it does not exist.
    AttachOnly,
}

/// Builder for a TUN/TAP [`Device`], mirroring `ip tuntap add`:
///
/// | `ip tuntap add` | builder |
/// |---|---|
/// | `name NAME` (may contain `%d`) | [`name`](Self::name) |
/// | `mode tun\|tap` | [`mode`](Self::mode) |
/// | `user USER`, `group GROUP` | [`user`](Self::user), [`group`](Self::group) |
/// | `pi` | [`pi`](Self::pi) |
/// | `vnet_hdr` | [`vnet_hdr`](Self::vnet_hdr) |
/// | `multi_queue` | [`multi_queue`](Self::multi_queue) (with a queue count) |
/// | `one_queue` | [`one_queue`](Self::one_queue) (no effect since Linux 3.8) |
/// | (always persistent) | [`persist`](Self::persist) |
///
/// # Examples
///
/// ```no_run
/// use tuntap::{Device, Mode};
///
/// let dev = Device::builder().name("fly%d").mode(Mode::Tap).multi_queue(2).open()?;
/// assert_eq!(dev.queues().len(), 2);
/// # Ok::<(), tuntap::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
#[must_use = "a builder does nothing until `open`, `create` or `attach` is called"]
pub struct DeviceBuilder {
    name: Option<String>,
    mode: Mode,
    user: Option<Principal>,
    group: Option<Principal>,
    pi: bool,
    vnet_hdr: bool,
    queues: Option<usize>,
    one_queue: bool,
    persist: Option<bool>,
    offload: Option<Offload>,
    txqueuelen: Option<u32>,
    netns: Option<Netns>,
}

impl DeviceBuilder {
    /// A builder for a `tun` device named by the kernel (`tun%d`).
    pub fn new() -> Self {
        Self::default()
    }

    /// The interface name; `%d` is replaced by the first free number. At most 15 bytes, no `/`,
    /// `:` or whitespace.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// `tun` (IP packets, the default) or `tap` (Ethernet frames).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Let this user attach without `CAP_NET_ADMIN` (`TUNSETOWNER`).
    pub fn user(mut self, user: impl Into<Principal>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Let this group attach without `CAP_NET_ADMIN` (`TUNSETGROUP`).
    pub fn group(mut self, group: impl Into<Principal>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Prefix every packet with the 4-byte `struct tun_pi` (flags and EtherType); off by default
    /// (`IFF_NO_PI`).
    pub fn pi(mut self, pi: bool) -> Self {
        self.pi = pi;
        self
    }

    /// Prefix every packet with a `virtio_net_hdr` (`IFF_VNET_HDR`), which the offload path
    /// ([`crate::vnet`], [`crate::gso`]) needs.
    pub fn vnet_hdr(mut self, vnet_hdr: bool) -> Self {
        self.vnet_hdr = vnet_hdr;
        self
    }

    /// Make the device multi-queue (`IFF_MULTI_QUEUE`) and open `queues` of them, one file
    /// descriptor each. `0` is treated as `1`.
    pub fn multi_queue(mut self, queues: usize) -> Self {
        self.queues = Some(queues.max(1));
        self
    }

    /// Accepted for compatibility with `ip tuntap add one_queue`: `IFF_ONE_QUEUE` has had no
    /// effect since Linux 3.8, where the driver stopped keeping its own queue.
    pub fn one_queue(mut self, one_queue: bool) -> Self {
        self.one_queue = one_queue;
        self
    }

    /// Keep the device after its last file is closed (`TUNSETPERSIST`), like `ip tuntap add`.
    /// When not called, an existing device's setting is left as it is and a new device is not
    /// persistent.
    pub fn persist(mut self, persist: bool) -> Self {
        self.persist = Some(persist);
        self
    }

    /// Offloads to enable with `TUNSETOFFLOAD` after opening (implies [`vnet_hdr`](Self::vnet_hdr)).
    /// Without it, a `vnet_hdr` device has its device-wide offload mask reset to none on attach,
    /// so a previous user's setting never leaks into this one.
    pub fn offload(mut self, offload: Offload) -> Self {
        self.offload = Some(offload);
        self.vnet_hdr = true;
        self
    }

    /// Set the device's transmit queue length after opening (`ip link set NAME txqueuelen N`);
    /// the kernel's default for TUN/TAP is 500 packets.
    ///
    /// The queue holds what the kernel sends through the device until the program reads it.
    /// When it is full the kernel drops (`tx_dropped`; since Linux 3.8 a TUN device does not
    /// stop its queue to push back on the sender), and a TCP sender takes each drop as loss: in flywheel's TCP
    /// forward bench every single-packet forwarder, whatever the crate, had 5-10% of its
    /// segments dropped and retransmitted at 500, almost none at 2000 and none at 10,000,
    /// with about a third more throughput. A longer queue also holds more data when the
    /// reader falls behind: at 2000 MTU-sized packets, up to 3 MB.
    pub fn txqueuelen(mut self, len: u32) -> Self {
        self.txqueuelen = Some(len);
        self
    }

    /// Create or attach the device inside this network namespace instead of the caller's.
    pub fn netns(mut self, netns: Netns) -> Self {
        self.netns = Some(netns);
        self
    }

    /// Create the device, or attach to it if it exists (checking that its flags match).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`], [`Error::UnknownUser`], [`Error::UnknownGroup`] for bad input;
    /// [`Error::FlagMismatch`] when an existing device differs in mode, `pi`, `vnet_hdr` or
    /// `multi_queue`; [`Error::Busy`] when a single-queue device is already attached;
    /// [`Error::PermissionDenied`] without `CAP_NET_ADMIN`; [`Error::Os`] for other refusals.
    pub fn open(self) -> Result<Device> {
        self.build(OpenMode::CreateOrAttach)
    }

    /// Create a new device; fail with [`Error::Busy`] if the name is taken (`IFF_TUN_EXCL`).
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open), and [`Error::Busy`] when the device exists.
    pub fn create(self) -> Result<Device> {
        self.build(OpenMode::CreateNew)
    }

    /// Attach to an existing device; its flags must match the builder's.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open), and [`Error::NotFound`] when there is no such device.
    pub fn attach(self) -> Result<Device> {
        self.build(OpenMode::AttachOnly)
    }

    fn build(self, how: OpenMode) -> Result<Device> {
        let requested = self.name.clone().unwrap_or_default();
        if self.name.is_some() {
            validate_name(&requested)?;
        }
        if how == OpenMode::AttachOnly && (requested.is_empty() || requested.contains('%')) {
            return Err(Error::InvalidName {
                name: requested,
                reason: "attaching needs the name of an existing device, without %d",
            });
        }
        let owner = self.user.as_ref().map(resolve_user).transpose()?;
        let group = self.group.as_ref().map(resolve_group).transpose()?;
        let netns = self.netns.clone();
        netns::run_in(netns.as_ref(), || {
            self.build_here(how, &requested, owner, group)
        })
    }

    /// The body of [`build`](Self::build), run in the target namespace.
    fn build_here(
        &self,
        how: OpenMode,
        requested: &str,
        owner: Option<u32>,
        group: Option<u32>,
    ) -> Result<Device> {
        let templated = requested.contains('%');
        let existing = if requested.is_empty() || templated {
            None
        } else {
            match list::lookup(requested) {
                Ok(info) => Some(info),
                Err(Error::NotFound { .. }) => None,
                Err(e) => return Err(e),
            }
        };
        match (&existing, how) {
            (None, OpenMode::AttachOnly) => {
                return Err(Error::NotFound {
                    name: requested.to_owned(),
                });
            }
            (Some(_), OpenMode::CreateNew) => {
                return Err(Error::Busy {
                    name: requested.to_owned(),
                    reason: "the device exists already",
                });
            }
            (Some(info), _) => self.check_matches(info)?,
            (None, _) => {}
        }

        let flags = self.flags(how);
        let count = self.queues.unwrap_or(1);
        let (first, name) = open_queue_fd(requested, flags)?;
        let mut fds = vec![first];
        for _ in 1..count {
            fds.push(open_queue_fd(&name, flags & !libc::IFF_TUN_EXCL)?.0);
        }
        let fd0 = fds[0].as_fd();
        if let Some(uid) = owner {
            sys::tun_set_value(fd0, ValueIoctl::Owner, u64::from(uid))
                .map_err(|e| Error::os(&name, "TUNSETOWNER", e))?;
        }
        if let Some(gid) = group {
            sys::tun_set_value(fd0, ValueIoctl::Group, u64::from(gid))
                .map_err(|e| Error::os(&name, "TUNSETGROUP", e))?;
        }
        if let Some(persist) = self.persist {
            sys::tun_set_value(fd0, ValueIoctl::Persist, u64::from(persist))
                .map_err(|e| Error::os(&name, "TUNSETPERSIST", e))?;
        }
        let shared = Arc::new(Shared::new(
            name,
            self.mode,
            self.pi,
            self.vnet_hdr,
            self.queues.is_some(),
            self.netns.clone(),
        )?);
        let queues = fds
            .into_iter()
            .map(|fd| Queue::new(fd, Arc::clone(&shared)))
            .collect::<Result<Vec<_>>>()?;
        let device = Device::from_parts(shared, queues);
        if self.vnet_hdr {
            device.set_offload(self.offload.unwrap_or(Offload::NONE))?;
        }
        if let Some(len) = self.txqueuelen {
            device.link()?.set_txqueuelen(len)?;
        }
        Ok(device)
    }

    /// The `TUNSETIFF` flags for this builder.
    fn flags(&self, how: OpenMode) -> i32 {
        let mut flags = self.mode.flag();
        if !self.pi {
            flags |= libc::IFF_NO_PI;
        }
        if self.vnet_hdr {
            flags |= libc::IFF_VNET_HDR;
        }
        if self.queues.is_some() {
            flags |= libc::IFF_MULTI_QUEUE;
        }
        if self.one_queue {
            flags |= libc::IFF_ONE_QUEUE;
        }
        if how == OpenMode::CreateNew {
            flags |= libc::IFF_TUN_EXCL;
        }
        flags
    }

    /// Compare an existing device with the builder; the first difference is the error.
    fn check_matches(&self, info: &DeviceInfo) -> Result<()> {
        let mismatch = |flag, actual: String, requested: String| Error::FlagMismatch {
            name: info.name.clone(),
            flag,
            actual,
            requested,
        };
        if info.mode != self.mode {
            return Err(mismatch(
                "mode",
                info.mode.to_string(),
                self.mode.to_string(),
            ));
        }
        if info.multi_queue != self.queues.is_some() {
            return Err(mismatch(
                "multi_queue",
                info.multi_queue.to_string(),
                self.queues.is_some().to_string(),
            ));
        }
        // The kernel lets an attach change pi/vnet_hdr of a single-queue device, but a
        // multi-queue device with queues attached keeps its own: refuse both to stay predictable.
        if info.pi != self.pi {
            return Err(mismatch("pi", info.pi.to_string(), self.pi.to_string()));
        }
        if info.vnet_hdr != self.vnet_hdr {
            return Err(mismatch(
                "vnet_hdr",
                info.vnet_hdr.to_string(),
                self.vnet_hdr.to_string(),
            ));
        }
        if !info.multi_queue && info.queues > 0 {
            return Err(Error::Busy {
                name: info.name.clone(),
                reason: ATTACHED,
            });
        }
        Ok(())
    }
}

/// Why attaching to a single-queue device fails with `EBUSY`.
const ATTACHED: &str = "a non-multi-queue device has its queue attached already";

/// Open `/dev/net/tun` read-write and close-on-exec, with `extra` flags; `name` is the device
/// the caller is after, for errors.
pub(crate) fn open_clone_device(name: &str, extra: OFlag) -> Result<OwnedFd> {
    open(
        CLONE_DEVICE,
        OFlag::O_RDWR | OFlag::O_CLOEXEC | extra,
        FileMode::empty(),
    )
    .map_err(|e| match e {
        Errno::ENOENT | Errno::ENODEV | Errno::ENXIO => Error::NoTunDriver {
            path: CLONE_DEVICE,
            source: e.into(),
        },
        e => Error::os(name, "open /dev/net/tun", e),
    })
}

/// Open `/dev/net/tun` (non-blocking, close-on-exec) and `TUNSETIFF` it; returns the fd and the
/// name the kernel chose.
pub(crate) fn open_queue_fd(name: &str, flags: i32) -> Result<(OwnedFd, String)> {
    let fd = open_clone_device(name, OFlag::O_NONBLOCK)?;
    let chosen = sys::tun_set_iff(fd.as_fd(), name, flags).map_err(|e| match e {
        Errno::EBUSY => Error::Busy {
            name: name.to_owned(),
            reason: if flags & libc::IFF_TUN_EXCL != 0 {
                "the device exists already"
            } else {
                ATTACHED
            },
        },
        e => Error::os(name, "TUNSETIFF", e),
    })?;
    Ok((fd, chosen))
}

/// Check a name the way the kernel's `dev_valid_name` does, before any system call.
pub(crate) fn validate_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("empty")
    } else if name.len() >= sys::IFNAMSIZ {
        Some("longer than 15 bytes (IFNAMSIZ)")
    } else if name == "." || name == ".." {
        Some("'.' and '..' are reserved")
    } else if name.contains('/') {
        Some("contains '/'")
    } else if name.contains(':') {
        Some("contains ':'")
    } else if name.chars().any(char::is_whitespace) {
        Some("contains whitespace")
    } else if name.contains('\0') {
        Some("contains NUL")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidName {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

fn resolve_user(user: &Principal) -> Result<u32> {
    match user {
        Principal::Id(id) => Ok(*id),
        Principal::Name(name) => match name.parse::<u32>() {
            Ok(id) => Ok(id),
            Err(_) => match User::from_name(name) {
                Ok(Some(user)) => Ok(user.uid.as_raw()),
                _ => Err(Error::UnknownUser { user: name.clone() }),
            },
        },
    }
}

fn resolve_group(group: &Principal) -> Result<u32> {
    match group {
        Principal::Id(id) => Ok(*id),
        Principal::Name(name) => match name.parse::<u32>() {
            Ok(id) => Ok(id),
            Err(_) => match Group::from_name(name) {
                Ok(Some(group)) => Ok(group.gid.as_raw()),
                _ => Err(Error::UnknownGroup {
                    group: name.clone(),
                }),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_like_the_kernel() {
        assert!(validate_name("tun0").is_ok());
        assert!(validate_name("fly%d").is_ok());
        assert!(validate_name("a23456789012345").is_ok());
        for bad in [
            "",
            "a234567890123456",
            ".",
            "..",
            "a/b",
            "a:b",
            "a b",
            "a\0",
        ] {
            assert!(
                matches!(validate_name(bad), Err(Error::InvalidName { .. })),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn principals_resolve_or_fail_typed() {
        assert_eq!(resolve_user(&"root".into()).ok(), Some(0));
        assert_eq!(resolve_user(&1234.into()).ok(), Some(1234));
        assert_eq!(resolve_user(&"4321".into()).ok(), Some(4321));
        assert!(matches!(
            resolve_user(&"no-such-user-flywheel".into()),
            Err(Error::UnknownUser { .. })
        ));
        assert!(matches!(
            resolve_group(&"no-such-group-flywheel".into()),
            Err(Error::UnknownGroup { .. })
        ));
    }

    #[test]
    fn flags_follow_the_builder() {
        let b = DeviceBuilder::new()
            .mode(Mode::Tap)
            .vnet_hdr(true)
            .multi_queue(3);
        let f = b.flags(OpenMode::CreateNew);
        assert_eq!(f & libc::IFF_TAP, libc::IFF_TAP);
        assert_eq!(f & libc::IFF_NO_PI, libc::IFF_NO_PI);
        assert_eq!(f & libc::IFF_VNET_HDR, libc::IFF_VNET_HDR);
        assert_eq!(f & libc::IFF_MULTI_QUEUE, libc::IFF_MULTI_QUEUE);
        assert_eq!(f & libc::IFF_TUN_EXCL, libc::IFF_TUN_EXCL);
        assert_eq!(
            DeviceBuilder::new()
                .pi(true)
                .flags(OpenMode::CreateOrAttach),
            libc::IFF_TUN
        );
    }
}

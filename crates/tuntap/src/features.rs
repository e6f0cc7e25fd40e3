//! [`features`]: what this kernel's tun driver supports (`TUNGETFEATURES`).

use std::os::fd::AsFd;

use nix::fcntl::OFlag;

use crate::builder::open_clone_device;
use crate::error::{Error, Result};
use crate::sys;

/// The `IFF_*` flags the kernel's tun driver accepts, from `TUNGETFEATURES`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Features(u32);

impl Features {
    /// The raw `IFF_*` bits.
    pub fn bits(self) -> u32 {
        self.0
    }

    fn has(self, flag: i32) -> bool {
        self.0 & (flag as u32) != 0
    }

    /// `IFF_TUN` devices.
    pub fn tun(self) -> bool {
        self.has(libc::IFF_TUN)
    }

    /// `IFF_TAP` devices.
    pub fn tap(self) -> bool {
        self.has(libc::IFF_TAP)
    }

    /// Packets without `tun_pi` (`IFF_NO_PI`).
    pub fn no_pi(self) -> bool {
        self.has(libc::IFF_NO_PI)
    }

    /// `virtio_net_hdr` prefixes (`IFF_VNET_HDR`), needed for offloads.
    pub fn vnet_hdr(self) -> bool {
        self.has(libc::IFF_VNET_HDR)
    }

    /// Several queues per device (`IFF_MULTI_QUEUE`).
    pub fn multi_queue(self) -> bool {
        self.has(libc::IFF_MULTI_QUEUE)
    }

    /// NAPI receive on the write path (`IFF_NAPI`).
    pub fn napi(self) -> bool {
        self.has(libc::IFF_NAPI)
    }

    /// Creating devices without carrier (`IFF_NO_CARRIER`).
    pub fn no_carrier(self) -> bool {
        self.has(libc::IFF_NO_CARRIER)
    }
}

/// Probe the kernel's tun driver with `TUNGETFEATURES` (needs no privilege).
///
/// # Examples
///
/// ```no_run
/// let features = tuntap::features()?;
/// assert!(features.tun() && features.tap());
/// # Ok::<(), tuntap::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::NoTunDriver`] when `/dev/net/tun` is missing (no tun module, no device node),
/// [`Error::PermissionDenied`] when the caller may not open it.
pub fn features() -> Result<Features> {
    let fd = open_clone_device("", OFlag::empty())?;
    sys::tun_get_features(fd.as_fd())
        .map(Features)
        .map_err(|e| Error::os("", "TUNGETFEATURES", e))
}

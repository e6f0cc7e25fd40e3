//! [`list`]: every TUN/TAP device with its flags, like `ip tuntap show`.
//!
//! Flags, owner, group, queue counts and persistence come from netlink (`IFLA_INFO_DATA` of kind
//! `tun`, which reflects the caller's network namespace); the processes attached come from
//! `/proc/*/fdinfo`, where each TUN/TAP file shows an `iff:` line with its interface name.

use std::fmt;
use std::fs;

use netlink_packet_core::Nla;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::link::{
    InfoData, InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};

use crate::builder::{self, Mode};
use crate::error::{Error, Result};
use crate::netlink::NlSocket;
use crate::netns::Netns;

/// One TUN/TAP device as the kernel reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceInfo {
    /// Interface name.
    pub name: String,
    /// Interface index.
    pub index: u32,
    /// `tun` or `tap`.
    pub mode: Mode,
    /// Packets carry `struct tun_pi`.
    pub pi: bool,
    /// Packets carry `virtio_net_hdr`.
    pub vnet_hdr: bool,
    /// Multi-queue device.
    pub multi_queue: bool,
    /// Kept after the last file closes.
    pub persist: bool,
    /// The user allowed to attach, if one was set.
    pub owner: Option<u32>,
    /// The group allowed to attach, if one was set.
    pub group: Option<u32>,
    /// Attached (enabled) queues.
    pub queues: u32,
    /// Detached (disabled) queues of a multi-queue device.
    pub disabled_queues: u32,
    /// Administratively up.
    pub up: bool,
    /// Processes holding a file of this device (by interface name; see [`list`]).
    pub processes: Vec<Process>,
}

/// One line in the format of `ip tuntap show`: `NAME: MODE [pi] [multi_queue] [vnet_hdr]
/// [persist] [filter] [user UID] [group GID]`.
///
/// The alternate form (`{:#}`) adds the `ip -details tuntap show` line of attached processes,
/// `\tAttached to processes: comm(pid) ...`. iproute2 prints `filter` whenever `pi` is on (it
/// tests the bit `IFF_NOFILTER`, which is `IFF_NO_PI`); this does the same so the two outputs
/// compare equal. `one_queue` is never printed: netlink does not report it, and it has had no
/// effect since Linux 3.8.
///
/// # Examples
///
/// ```no_run
/// for dev in tuntap::list()? {
///     println!("{dev}"); // e.g. `tun0: tun persist user 1000`
/// }
/// # Ok::<(), tuntap::Error>(())
/// ```
impl fmt::Display for DeviceInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.mode)?;
        let flags = [
            (self.pi, "pi"),
            (self.multi_queue, "multi_queue"),
            (self.vnet_hdr, "vnet_hdr"),
            (self.persist, "persist"),
            (self.pi, "filter"),
        ];
        for (_, flag) in flags.iter().filter(|(on, _)| *on) {
            write!(f, " {flag}")?;
        }
        if let Some(uid) = self.owner {
            write!(f, " user {uid}")?;
        }
        if let Some(gid) = self.group {
            write!(f, " group {gid}")?;
        }
        if f.alternate() {
            write!(f, "\n\tAttached to processes:")?;
            for p in &self.processes {
                write!(f, " {}({})", p.comm, p.pid)?;
            }
        }
        Ok(())
    }
}

/// A process holding a TUN/TAP file.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Process {
    /// Process id.
    pub pid: u32,
    /// Command name (`/proc/PID/comm`).
    pub comm: String,
}

/// Every TUN/TAP device of the caller's network namespace, like `ip tuntap show`.
///
/// Attached processes are matched by interface name through `/proc/*/fdinfo`, which does not
/// say which namespace a file's device is in: a device of the same name in another namespace
/// counts too (as with `ip tuntap show`).
///
/// A link whose name is not UTF-8 (Linux allows any bytes but `/`, NUL and whitespace) cannot be
/// named by [`DeviceInfo::name`], nor decoded by the netlink parser: it is skipped, TUN/TAP or
/// not, and every other device is listed.
///
/// # Examples
///
/// ```no_run
/// for dev in tuntap::list()? {
///     println!("{}: {} queues={} persist={}", dev.name, dev.mode, dev.queues, dev.persist);
/// }
/// # Ok::<(), tuntap::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::Netlink`] if the link dump fails.
pub fn list() -> Result<Vec<DeviceInfo>> {
    let nl = NlSocket::open(0).map_err(|e| Error::netlink("", "socket", e))?;
    let answers = nl
        .request(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            0,
            true,
        )
        .map_err(|e| Error::netlink("", "RTM_GETLINK dump", e))?;
    let mut devices: Vec<DeviceInfo> = answers
        .into_iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewLink(link) => parse_link(&link).ok(),
            _ => None,
        })
        .collect();
    attach_processes(&mut devices);
    devices.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(devices)
}

/// [`list`] for another network namespace.
///
/// # Errors
///
/// As [`list`], and [`Error::Netns`].
pub fn list_in(netns: &Netns) -> Result<Vec<DeviceInfo>> {
    netns.run(list)?
}

/// The TUN/TAP device `name` of the caller's namespace.
///
/// # Errors
///
/// [`Error::NotFound`] when no such interface exists, [`Error::NotTunTap`] when it is not a
/// TUN/TAP device, [`Error::InvalidName`] for a bad name.
pub fn lookup(name: &str) -> Result<DeviceInfo> {
    builder::validate_name(name)?;
    let nl = NlSocket::open(0).map_err(|e| Error::netlink(name, "socket", e))?;
    let mut msg = LinkMessage::default();
    msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
    let answers = nl
        .request(RouteNetlinkMessage::GetLink(msg), 0, false)
        .map_err(|e| Error::netlink(name, "RTM_GETLINK", e))?;
    let link = answers
        .into_iter()
        .find_map(|m| match m {
            RouteNetlinkMessage::NewLink(link) => Some(link),
            _ => None,
        })
        .ok_or_else(|| Error::NotFound {
            name: name.to_owned(),
        })?;
    let mut info = parse_link(&link)?;
    attach_processes(std::slice::from_mut(&mut info));
    Ok(info)
}

// IFLA_TUN_* from <linux/if_link.h>.
const IFLA_TUN_OWNER: u16 = 1;
const IFLA_TUN_GROUP: u16 = 2;
const IFLA_TUN_TYPE: u16 = 3;
const IFLA_TUN_PI: u16 = 4;
const IFLA_TUN_VNET_HDR: u16 = 5;
const IFLA_TUN_PERSIST: u16 = 6;
const IFLA_TUN_MULTI_QUEUE: u16 = 7;
const IFLA_TUN_NUM_QUEUES: u16 = 8;
const IFLA_TUN_NUM_DISABLED_QUEUES: u16 = 9;

/// Turn a `RTM_NEWLINK` into a [`DeviceInfo`], or say why it is not a TUN/TAP device.
fn parse_link(link: &LinkMessage) -> Result<DeviceInfo> {
    let mut name = String::new();
    let mut kind = None;
    let mut data = None;
    let mut carrier = false;
    for attr in &link.attributes {
        match attr {
            LinkAttribute::IfName(n) => name.clone_from(n),
            LinkAttribute::Carrier(c) => carrier = *c != 0,
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    match info {
                        LinkInfo::Kind(k) => kind = Some(k.clone()),
                        LinkInfo::Data(InfoData::Tun(nlas)) => data = Some(nlas),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if kind != Some(InfoKind::Tun) {
        return Err(Error::NotTunTap {
            name,
            kind: kind.map(|k| k.to_string()),
        });
    }
    let mut info = DeviceInfo {
        name,
        index: link.header.index,
        mode: Mode::Tun,
        pi: false,
        vnet_hdr: false,
        multi_queue: false,
        persist: false,
        owner: None,
        group: None,
        queues: 0,
        disabled_queues: 0,
        up: link.header.flags.contains(LinkFlags::Up),
        processes: Vec::new(),
    };
    for nla in data.into_iter().flatten() {
        let mut value = vec![0; nla.value_len()];
        nla.emit_value(&mut value);
        let byte = value.first().copied().unwrap_or(0);
        let word = <[u8; 4]>::try_from(value.as_slice())
            .map(u32::from_ne_bytes)
            .ok();
        match nla.kind() {
            IFLA_TUN_OWNER => info.owner = word,
            IFLA_TUN_GROUP => info.group = word,
            IFLA_TUN_TYPE => {
                info.mode = if i32::from(byte) == libc::IFF_TAP {
                    Mode::Tap
                } else {
                    Mode::Tun
                }
            }
            IFLA_TUN_PI => info.pi = byte != 0,
            IFLA_TUN_VNET_HDR => info.vnet_hdr = byte != 0,
            IFLA_TUN_PERSIST => info.persist = byte != 0,
            IFLA_TUN_MULTI_QUEUE => info.multi_queue = byte != 0,
            IFLA_TUN_NUM_QUEUES => info.queues = word.unwrap_or(0),
            IFLA_TUN_NUM_DISABLED_QUEUES => info.disabled_queues = word.unwrap_or(0),
            _ => {}
        }
    }
    if !info.multi_queue {
        // The kernel reports queue counts for multi-queue devices only; a single-queue device
        // has carrier exactly while its one file is attached.
        info.queues = u32::from(carrier);
    }
    Ok(info)
}

/// Fill `processes` of each device from `/proc/*/fdinfo/*` (`iff:` lines). Processes that
/// vanish or deny access while being read are skipped.
fn attach_processes(devices: &mut [DeviceInfo]) {
    if devices.is_empty() {
        return;
    }
    let Ok(procs) = fs::read_dir("/proc") else {
        return;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = fs::read_dir(entry.path().join("fdinfo")) else {
            continue;
        };
        let mut seen: Vec<usize> = Vec::new();
        for fd in fds.flatten() {
            let Ok(text) = fs::read_to_string(fd.path()) else {
                continue;
            };
            let Some(iff) = text.lines().find_map(|l| l.strip_prefix("iff:")) else {
                continue;
            };
            let iff = iff.trim();
            if let Some(i) = devices.iter().position(|d| d.name == iff)
                && !seen.contains(&i)
            {
                seen.push(i);
            }
        }
        if seen.is_empty() {
            continue;
        }
        let comm = fs::read_to_string(entry.path().join("comm"))
            .map(|c| c.trim_end().to_owned())
            .unwrap_or_default();
        for i in seen {
            devices[i].processes.push(Process {
                pid,
                comm: comm.clone(),
            });
        }
    }
}

//! Linux TUN/TAP devices: an `ip tuntap`-style builder, netlink link configuration, blocking
//! and tokio packet I/O, virtio-net offloads, and a [`Dialer`] with a control hook.
//!
//! ```no_run
//! use std::net::Ipv4Addr;
//! use tuntap::{Device, Mode};
//!
//! // `ip tuntap add name fly%d mode tun` + `ip addr add 10.7.0.1/24 dev flyN` + `ip link set up`
//! let dev = Device::builder().name("fly%d").mode(Mode::Tun).open()?;
//! let link = dev.link()?;
//! link.add_address(Ipv4Addr::new(10, 7, 0, 1).into(), 24)?;
//! link.up()?;
//!
//! let mut buf = vec![0u8; 1500];
//! let n = dev.recv(&mut buf)?; // an IP packet routed to 10.7.0.0/24
//! println!("{} bytes from the kernel", n);
//! # Ok::<(), tuntap::Error>(())
//! ```
//!
//! # Overview
//!
//! - Management, no async runtime needed: [`DeviceBuilder`] (create/attach, `%d` names, user,
//!   group, `pi`, `vnet_hdr`, `multi_queue`, persist), [`Device::delete`], [`list()`] and
//!   [`lookup`] (`ip tuntap show`), [`features()`] (`TUNGETFEATURES`), [`Netns`] to act in a
//!   named network namespace without `ip netns exec`.
//! - Link configuration over rtnetlink, blocking: [`Link`] (up/down, addresses, MTU,
//!   txqueuelen, routes, move to a namespace) and [`LinkEvents`].
//! - Packet I/O on [`Queue`] (a [`Device`] derefs to its first queue): `recv`/`send`,
//!   vectored and batched variants, prompt [`Device::shutdown`].
//! - Offloads: [`VnetHdr`], [`Offload`] (`TUNSETOFFLOAD`), [`gso`] to split super-packets
//!   read from the kernel, and [`gro`] with [`Queue::send_batch_coalesced`] to write them.
//! - [`Dialer`] and [`ListenConfig`] with Go-style control hooks, [`bind_to_device`] and
//!   [`mark_control`], in any network namespace.
//!
//! # The offload write path
//!
//! A program that forwards many small packets into the kernel (a VPN writing decrypted
//! traffic, a userspace TCP/IP stack) pays one system call per packet with
//! [`Queue::send_batch`]. [`Queue::send_batch_coalesced`] (and `send_batch_coalesced_async`)
//! takes the same batch of IP packets and, on a `vnet_hdr` device, merges each run of
//! segments of one TCP or UDP flow into a single GSO super-packet, GRO-style: the kernel
//! takes up to 64 KiB in one write and either delivers it to the local socket whole or
//! segments it again on the way out.
//!
//! - What merges is strict: consecutive sequence numbers, equal IP and TCP headers apart
//!   from lengths, IDs and checksums, `PSH` only on the last segment, no `SYN`/`FIN`/`RST`/
//!   `URG`/`CWR`, equal segment sizes except a shorter last one, verified checksums. The rule
//!   is that [`gso::split`] of a super-packet gives back exactly the packets that went in;
//!   the details are in [`gro`]. Everything else is written unchanged with a plain
//!   [`VnetHdr::NONE`]. Each flow keeps its order; different flows may be reordered.
//! - Limits: at most 64 KiB of IP packet ([`gro::MAX_LEN`]) and
//!   [`gro::DEFAULT_MAX_SEGMENTS`] segments per super-packet. TCP over IPv4 and IPv6 work on
//!   every kernel with `vnet_hdr`; UDP (`UDP_L4`) needs Linux 6.2.
//! - Fallback: when the kernel answers a super-packet with `EINVAL` (Linux 6.6.44 did for
//!   some `UDP_L4` writes), its original packets are written one by one, and when they go
//!   through, that protocol (TCP4, TCP6 or UDP) stops being coalesced on the device.
//!   [`Queue::coalescing`] and [`Queue::coalescing_refused`] tell which protocols are on and
//!   which were refused; [`Queue::set_coalescing`] chooses. The device's offload mask
//!   ([`Device::set_offload`]) is left as it is: it governs what the kernel *sends*.
//! - Without `vnet_hdr`, or for a protocol that is off, every packet is written on its own,
//!   exactly as [`Queue::send_batch`] would; a TAP device is refused
//!   ([`Error::Unsupported`]), as its frames are not IP packets.
//! - Cost: one pass over each merged packet to verify its checksum, one copy of it into the
//!   super-packet; buffers are kept per queue, so steady batches allocate nothing. Use
//!   [`gro::Batch`] directly to plan frames and write them yourself.
//!
//! # Sync and async naming
//!
//! Blocking methods have the plain name (`recv`, `send`, `connect_tcp`); the tokio twins add
//! `_async` (`recv_async`, `send_async`, `connect_tcp_async`), as in the rest of flywheel.
//!
//! # Features
//!
//! - `async` (default): the `_async` methods, on tokio's `AsyncFd`. Everything else works
//!   without it and without any runtime.
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

mod builder;
mod checksum;
mod coalesce;
mod device;
mod dialer;
mod error;
mod features;
pub mod gro;
pub mod gso;
mod link;
mod list;
mod listen_config;
mod netlink;
mod netns;
mod queue;
#[cfg(feature = "async")]
mod queue_async;
#[doc(hidden)]
mod socket_setup;
pub mod sys;
/// The packet builder of the integration tests, shared with the unit tests.
#[cfg(test)]
#[path = "../tests/common/packets.rs"]
mod test_packets;
pub mod vnet;

pub use builder::{DeviceBuilder, Mode, Principal};
pub use checksum::internet_checksum;
pub use device::Device;
pub use dialer::Dialer;
pub use error::{Error, Result};
pub use features::{Features, features};
pub use link::{Link, LinkEvent, LinkEventKind, LinkEvents, Route};
pub use list::{DeviceInfo, Process, list, list_in, lookup};
pub use listen_config::ListenConfig;
pub use netns::Netns;
pub use queue::Queue;
pub use socket_setup::{Control, bind_to_device, mark_control};
pub use vnet::{GsoType, Offload, VnetHdr};

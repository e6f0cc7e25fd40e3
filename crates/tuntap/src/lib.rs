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
//!   group, `pi`, `vnet_hdr`, `multi_queue`, persist), [`Device::delete`], [`list`] and
//!   [`lookup`] (`ip tuntap show`), [`features`] (`TUNGETFEATURES`), [`Netns`] to act in a
//!   named network namespace without `ip netns exec`.
//! - Link configuration over rtnetlink, blocking: [`Link`] (up/down, addresses, MTU,
//!   txqueuelen, routes, move to a namespace) and [`LinkEvents`].
//! - Packet I/O on [`Queue`] (a [`Device`] derefs to its first queue): `recv`/`send`,
//!   vectored and batched variants, prompt [`Device::shutdown`].
//! - Offloads: [`VnetHdr`], [`Offload`] (`TUNSETOFFLOAD`) and [`gso`] to split super-packets.
//! - [`Dialer`] with Go-style control hooks, [`bind_to_device`] and [`mark_control`].
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
mod device;
mod dialer;
mod error;
mod features;
pub mod gso;
mod link;
mod list;
mod netlink;
mod netns;
mod queue;
#[cfg(feature = "async")]
mod queue_async;
#[doc(hidden)]
pub mod sys;
pub mod vnet;

pub use builder::{DeviceBuilder, Mode, Principal};
pub use device::Device;
pub use dialer::{Control, Dialer, bind_to_device, mark_control};
pub use error::{Error, Result};
pub use features::{Features, features};
pub use link::{Link, LinkEvent, LinkEventKind, LinkEvents, Route};
pub use list::{DeviceInfo, Process, list, list_in, lookup};
pub use netns::Netns;
pub use queue::Queue;
pub use vnet::{GsoType, Offload, VnetHdr};

//! The six implementations under test, each opening a plain TUN device (no packet
//! information, no offload) and reading and writing single packets through its own API.

use std::io;
use std::net::Ipv4Addr;

use tokio::runtime::{Handle, Runtime};
use tuntap::{Link, Netns, Route};

/// One implementation: a crate and, where it has both, its blocking or its tokio path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Impl {
    /// `tuntap::Queue::{recv, send}`.
    FlywheelSync,
    /// `tuntap::Queue::{recv_async, send_async}` on a current-thread runtime.
    FlywheelTokio,
    /// `tun_rs::SyncDevice::{recv, send}`.
    TunRsSync,
    /// `tun_rs::AsyncDevice::{recv, send}` on a current-thread runtime.
    TunRsAsync,
    /// `tun::Device::{recv, send}` (the `tun` crate, blocking).
    Tun,
    /// `tokio_tun::Tun::{recv, send}` on a current-thread runtime.
    TokioTun,
    /// flywheel's offload path on a `vnet_hdr` device with TCP offloads: `recv` with the
    /// virtio-net header, `gso::split`, `send_batch_coalesced` (N5: offload never hurts a
    /// load without GSO). Echo only.
    FlywheelOffload,
}

impl Impl {
    /// The echo rows: every implementation, and flywheel's offload path for N5.
    pub(crate) const ECHO: [Impl; 7] = [
        Impl::FlywheelSync,
        Impl::FlywheelTokio,
        Impl::FlywheelOffload,
        Impl::TunRsSync,
        Impl::TunRsAsync,
        Impl::Tun,
        Impl::TokioTun,
    ];

    /// Every single-packet implementation, ours first.
    pub(crate) const ALL: [Impl; 6] = [
        Impl::FlywheelSync,
        Impl::FlywheelTokio,
        Impl::TunRsSync,
        Impl::TunRsAsync,
        Impl::Tun,
        Impl::TokioTun,
    ];

    /// The name in the tables.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Impl::FlywheelSync => "flywheel_sync",
            Impl::FlywheelTokio => "flywheel_tokio",
            Impl::TunRsSync => "tun-rs_sync",
            Impl::TunRsAsync => "tun-rs_async",
            Impl::Tun => "tun",
            Impl::TokioTun => "tokio-tun",
            Impl::FlywheelOffload => "flywheel_offload",
        }
    }

    /// Create the TUN device `name` inside `netns` with this implementation's own builder.
    /// The async implementations register with `rt`'s reactor, so their loop must run on it.
    pub(crate) fn open(self, netns: &Netns, name: &str, rt: &Handle) -> Result<Endpoint, String> {
        let opened = match self {
            Impl::FlywheelSync | Impl::FlywheelTokio => tuntap::Device::builder()
                .name(name)
                .pi(false)
                .netns(netns.clone())
                .create()
                .map(|dev| {
                    if self == Impl::FlywheelSync {
                        Endpoint::Sync(SyncDev::Flywheel(dev))
                    } else {
                        Endpoint::Async(AsyncDev::Flywheel(dev))
                    }
                })
                .map_err(|e| e.to_string()),
            Impl::FlywheelOffload => tuntap::Device::builder()
                .name(name)
                .offload(tuntap::Offload::TCP)
                .netns(netns.clone())
                .create()
                .map(Endpoint::Offload)
                .map_err(|e| e.to_string()),
            Impl::TunRsSync => in_netns(netns, || {
                tun_rs::DeviceBuilder::new()
                    .name(name)
                    .build_sync()
                    .map(|d| Endpoint::Sync(SyncDev::TunRs(d)))
                    .map_err(|e| e.to_string())
            }),
            Impl::TunRsAsync => in_netns(netns, || {
                let _runtime = rt.enter();
                tun_rs::DeviceBuilder::new()
                    .name(name)
                    .build_async()
                    .map(|d| Endpoint::Async(AsyncDev::TunRs(d)))
                    .map_err(|e| e.to_string())
            }),
            Impl::Tun => in_netns(netns, || {
                let mut config = tun::Configuration::default();
                config.tun_name(name);
                tun::create(&config)
                    .map(|d| Endpoint::Sync(SyncDev::Tun(d)))
                    .map_err(|e| e.to_string())
            }),
            Impl::TokioTun => in_netns(netns, || {
                let _runtime = rt.enter();
                tokio_tun::Tun::builder()
                    .name(name)
                    .build()
                    .map_err(|e| e.to_string())
                    .and_then(|mut queues| {
                        queues
                            .pop()
                            .map(|t| Endpoint::Async(AsyncDev::TokioTun(t)))
                            .ok_or_else(|| "no queue returned".to_owned())
                    })
            }),
        };
        opened.map_err(|e| format!("{}: creating TUN device {name}: {e}", self.name()))
    }
}

fn in_netns(
    netns: &Netns,
    f: impl FnOnce() -> Result<Endpoint, String> + Send,
) -> Result<Endpoint, String> {
    netns
        .run(f)
        .map_err(|e| format!("entering {}: {e}", netns.name()))?
}

/// A forwarder's two devices of `imp`: `names.0` in namespace `a` with `addrs.0/24` and a route
/// to `addrs.1/24`, and the mirror image in `b`; with the runtime their async endpoints are
/// registered on (the forwarder thread drives it).
pub(crate) fn open_pair(
    imp: Impl,
    (a, b): (&Netns, &Netns),
    (name_a, name_b): (&str, &str),
    (addr_a, addr_b): (Ipv4Addr, Ipv4Addr),
) -> Result<(Endpoint, Endpoint, Runtime), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let dev_a = imp.open(a, name_a, rt.handle())?;
    let dev_b = imp.open(b, name_b, rt.handle())?;
    configure(a, name_a, addr_a, Some(addr_b))?;
    configure(b, name_b, addr_b, Some(addr_a))?;
    Ok((dev_a, dev_b, rt))
}

/// Give the device `name` in `netns` the address `addr/24`, a route to `route_to/24` if given,
/// and bring it up. Done over netlink the same way for every implementation, so all of them
/// run on an identically configured device.
pub(crate) fn configure(
    netns: &Netns,
    name: &str,
    addr: Ipv4Addr,
    route_to: Option<Ipv4Addr>,
) -> Result<(), String> {
    let link = Link::open_in(netns, name).map_err(|e| format!("link {name}: {e}"))?;
    link.add_address(addr.into(), 24)
        .map_err(|e| format!("address {addr}/24 on {name}: {e}"))?;
    if let Some(len) = txqueuelen() {
        link.set_txqueuelen(len)
            .map_err(|e| format!("txqueuelen {len} on {name}: {e}"))?;
    }
    link.up().map_err(|e| format!("up {name}: {e}"))?;
    if let Some(to) = route_to {
        let dst = Ipv4Addr::from(to.to_bits() & !0xff);
        link.add_route(&Route::new(dst.into(), 24))
            .map_err(|e| format!("route {dst}/24 dev {name}: {e}"))?;
    }
    Ok(())
}

/// The transmit queue length every device gets, from `FLYWHEEL_BENCH_TXQUEUELEN` (an
/// experiment knob: where TCP's retransmits come from); the kernel's default (500) without.
fn txqueuelen() -> Option<u32> {
    std::env::var("FLYWHEEL_BENCH_TXQUEUELEN")
        .ok()
        .and_then(|v| v.parse().ok())
}

/// An opened device, blocking or tokio.
pub(crate) enum Endpoint {
    /// Driven by a blocking loop on its own thread.
    Sync(SyncDev),
    /// Driven by a future on the runtime it was opened with.
    Async(AsyncDev),
    /// A flywheel `vnet_hdr` device driven through its offload path.
    Offload(tuntap::Device),
}

/// A device with blocking single-packet I/O.
pub(crate) enum SyncDev {
    /// flywheel's `tuntap`.
    Flywheel(tuntap::Device),
    /// `tun-rs`.
    TunRs(tun_rs::SyncDevice),
    /// `tun`.
    Tun(tun::Device),
}

impl SyncDev {
    /// Read one packet.
    pub(crate) fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            SyncDev::Flywheel(d) => d.recv(buf).map_err(io::Error::other),
            SyncDev::TunRs(d) => d.recv(buf),
            SyncDev::Tun(d) => d.recv(buf),
        }
    }

    /// Write one packet.
    pub(crate) fn send(&self, packet: &[u8]) -> io::Result<usize> {
        match self {
            SyncDev::Flywheel(d) => d.send(packet).map_err(io::Error::other),
            SyncDev::TunRs(d) => d.send(packet),
            SyncDev::Tun(d) => d.send(packet),
        }
    }
}

/// A device with tokio single-packet I/O.
pub(crate) enum AsyncDev {
    /// flywheel's `tuntap`, `_async` methods.
    Flywheel(tuntap::Device),
    /// `tun-rs`'s `AsyncDevice`.
    TunRs(tun_rs::AsyncDevice),
    /// `tokio-tun`.
    TokioTun(tokio_tun::Tun),
}

impl AsyncDev {
    /// Read one packet.
    pub(crate) async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            AsyncDev::Flywheel(d) => d.recv_async(buf).await.map_err(io::Error::other),
            AsyncDev::TunRs(d) => d.recv(buf).await,
            AsyncDev::TokioTun(d) => d.recv(buf).await,
        }
    }

    /// Write one packet.
    pub(crate) async fn send(&self, packet: &[u8]) -> io::Result<usize> {
        match self {
            AsyncDev::Flywheel(d) => d.send_async(packet).await.map_err(io::Error::other),
            AsyncDev::TunRs(d) => d.send(packet).await,
            AsyncDev::TokioTun(d) => d.send(packet).await,
        }
    }
}

//! N1/N2: TCP forward between two TUN devices with offloads on, so the kernel hands the
//! forwarder 64 KiB super-packets. N1 splits each into wire-sized segments (per-segment
//! access, what a VPN does) and writes them back coalesced: flywheel's `gso::split` +
//! `send_batch_coalesced` against tun-rs's `recv_multiple` + `send_multiple`. N2 passes the
//! super-packets through whole with their virtio-net header. The kernel's own veth pair,
//! with no forwarder at all, is the ceiling.

use std::net::Ipv4Addr;
use std::process::Command;

use tuntap::gso;
use tuntap::vnet::{Offload, VNET_HDR_LEN, VnetHdr};

use super::endpoint::configure;
use super::env::BenchNetns;
use super::forward::{ForwardRun, drive, thread_pair};
use super::packet::is_stop;

/// Segment buffers per super-packet: 64 KiB of 536-byte segments fit (tun-rs's
/// `IDEAL_BATCH_SIZE` is the same 128).
const SEGMENTS: usize = 128;

/// Bytes per segment buffer: an MTU-sized packet (1500) with room to spare.
const SEGMENT_BUF: usize = 2_048;

/// One offload configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OffloadImpl {
    /// flywheel: `recv` with `vnet_hdr`, `gso::split` into segment buffers,
    /// `send_batch_coalesced`.
    FlywheelSegments,
    /// tun-rs: `recv_multiple` (its GSO split) and `send_multiple` (its GRO table).
    TunRsSegments,
    /// flywheel: `recv` and `send` of the raw super-packet with its header.
    FlywheelPassthrough,
    /// tun-rs: `recv` and `send` of the raw super-packet with its header.
    TunRsPassthrough,
    /// A veth pair between the namespaces: the kernel forwards, no userspace at all.
    Veth,
}

impl OffloadImpl {
    /// Every configuration.
    pub(crate) const ALL: [OffloadImpl; 5] = [
        OffloadImpl::FlywheelSegments,
        OffloadImpl::TunRsSegments,
        OffloadImpl::FlywheelPassthrough,
        OffloadImpl::TunRsPassthrough,
        OffloadImpl::Veth,
    ];

    /// The name in the tables.
    pub(crate) fn name(self) -> &'static str {
        match self {
            OffloadImpl::FlywheelSegments => "flywheel_segments",
            OffloadImpl::TunRsSegments => "tun-rs_segments",
            OffloadImpl::FlywheelPassthrough => "flywheel_passthrough",
            OffloadImpl::TunRsPassthrough => "tun-rs_passthrough",
            OffloadImpl::Veth => "veth",
        }
    }

    /// The configuration flywheel's figure is compared with in the tables.
    pub(crate) fn ours(self) -> OffloadImpl {
        match self {
            OffloadImpl::FlywheelSegments | OffloadImpl::TunRsSegments => {
                OffloadImpl::FlywheelSegments
            }
            _ => OffloadImpl::FlywheelPassthrough,
        }
    }
}

/// Run one configuration between `flyoa<run>` in `a` (10.203.<2run>.1/24) and `flyob<run>` in
/// `b` (10.203.<2run+1>.1/24) while `bytes` go from A to B.
pub(crate) fn run_once(
    a: &BenchNetns,
    b: &BenchNetns,
    imp: OffloadImpl,
    run: u8,
    bytes: u64,
    (program_cpu, load_cpu): (usize, usize),
) -> Result<ForwardRun, String> {
    let (name_a, name_b) = (format!("flyoa{run}"), format!("flyob{run}"));
    let addr_a = Ipv4Addr::new(10, 203, 2 * run, 1);
    let addr_b = Ipv4Addr::new(10, 203, 2 * run + 1, 1);
    let spawn = |f: Box<dyn FnOnce() -> std::io::Result<u64> + Send>| {
        std::thread::Builder::new()
            .name(format!("fwd-{}", imp.name()))
            .spawn(f)
            .map_err(|e| format!("spawning the forwarder: {e}"))
    };
    let forwarder = match imp {
        OffloadImpl::FlywheelSegments | OffloadImpl::FlywheelPassthrough => {
            let open = |ns: &BenchNetns, name: &str| {
                tuntap::Device::builder()
                    .name(name)
                    .offload(Offload::TCP)
                    .netns(ns.ns.clone())
                    .create()
                    .map_err(|e| format!("{}: creating {name}: {e}", imp.name()))
            };
            let (dev_a, dev_b) = (open(a, &name_a)?, open(b, &name_b)?);
            configure(&a.ns, &name_a, addr_a, Some(addr_b))?;
            configure(&b.ns, &name_b, addr_b, Some(addr_a))?;
            let copy = if imp == OffloadImpl::FlywheelSegments {
                flywheel_segments
            } else {
                flywheel_passthrough
            };
            Some(spawn(Box::new(move || {
                thread_pair(dev_a, dev_b, program_cpu, copy)
            }))?)
        }
        OffloadImpl::TunRsSegments | OffloadImpl::TunRsPassthrough => {
            let open = |ns: &BenchNetns, name: &str| {
                ns.ns
                    .run(|| {
                        tun_rs::DeviceBuilder::new()
                            .name(name)
                            .offload(true)
                            .build_sync()
                    })
                    .map_err(|e| e.to_string())?
                    .map_err(|e| format!("{}: creating {name}: {e}", imp.name()))
            };
            let (dev_a, dev_b) = (open(a, &name_a)?, open(b, &name_b)?);
            configure(&a.ns, &name_a, addr_a, Some(addr_b))?;
            configure(&b.ns, &name_b, addr_b, Some(addr_a))?;
            let copy = if imp == OffloadImpl::TunRsSegments {
                tun_rs_segments
            } else {
                tun_rs_passthrough
            };
            Some(spawn(Box::new(move || {
                thread_pair(dev_a, dev_b, program_cpu, copy)
            }))?)
        }
        OffloadImpl::Veth => {
            veth(a, b, &name_a, &name_b, addr_a, addr_b)?;
            None
        }
    };
    drive(
        (a, &name_a),
        (b, &name_b),
        (addr_a, addr_b),
        bytes,
        load_cpu,
        forwarder,
    )
    .map_err(|e| format!("{}: {e}", imp.name()))
}

/// A veth pair `name_a` (in `a`) – `name_b` (in `b`), addressed and routed like the TUN pairs.
fn veth(
    a: &BenchNetns,
    b: &BenchNetns,
    name_a: &str,
    name_b: &str,
    addr_a: Ipv4Addr,
    addr_b: Ipv4Addr,
) -> Result<(), String> {
    let ip = |args: &[&str]| -> Result<(), String> {
        let status = Command::new("ip")
            .args(args)
            .status()
            .map_err(|e| format!("running ip {}: {e}", args.join(" ")))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("ip {} failed: {status}", args.join(" ")))
        }
    };
    let (ns_a, ns_b) = (a.ns.name(), b.ns.name());
    ip(&[
        "-n", ns_a, "link", "add", name_a, "type", "veth", "peer", "name", name_b, "netns", ns_b,
    ])?;
    configure(&a.ns, name_a, addr_a, Some(addr_b))?;
    configure(&b.ns, name_b, addr_b, Some(addr_a))?;
    Ok(())
}

/// Split each super-packet into segment buffers, then write them coalesced.
pub(crate) fn flywheel_segments(from: &tuntap::Device, to: &tuntap::Device) -> std::io::Result<()> {
    let mut raw = vec![0u8; VNET_HDR_LEN + 65_535];
    let mut segments = vec![vec![0u8; SEGMENT_BUF]; SEGMENTS];
    let mut lens = [0usize; SEGMENTS];
    loop {
        let n = from.recv(&mut raw).map_err(std::io::Error::other)?;
        let hdr = VnetHdr::parse(&raw[..n]).map_err(std::io::Error::other)?;
        let packet = &raw[VNET_HDR_LEN..n];
        if is_stop(packet) {
            return Ok(());
        }
        let mut count = 0;
        for segment in gso::split(&hdr, packet).map_err(std::io::Error::other)? {
            let slot = segments
                .get_mut(count)
                .ok_or_else(|| std::io::Error::other("more segments than buffers"))?;
            lens[count] = segment
                .write_to(slot)
                .ok_or_else(|| std::io::Error::other("segment larger than its buffer"))?;
            count += 1;
        }
        let batch: Vec<&[u8]> = segments[..count]
            .iter()
            .zip(&lens)
            .map(|(buf, &len)| &buf[..len])
            .collect();
        to.send_batch_coalesced(&batch)
            .map_err(std::io::Error::other)?;
    }
}

/// Pass each super-packet through whole, header included.
pub(crate) fn flywheel_passthrough(
    from: &tuntap::Device,
    to: &tuntap::Device,
) -> std::io::Result<()> {
    let mut raw = vec![0u8; VNET_HDR_LEN + 65_535];
    loop {
        let n = from.recv(&mut raw).map_err(std::io::Error::other)?;
        if is_stop(raw.get(VNET_HDR_LEN..n).unwrap_or_default()) {
            return Ok(());
        }
        to.send(&raw[..n]).map_err(std::io::Error::other)?;
    }
}

/// tun-rs's own offload loop: `recv_multiple` splits, `send_multiple` coalesces.
///
/// As tun-rs documents it: `IDEAL_BATCH_SIZE` buffers, one `GROTable` reused across calls,
/// `offset = VIRTIO_NET_HDR_LEN` so `send_multiple` can put each frame's header in front of
/// it. One thing the docs leave out and its GRO code (after wireguard-go's) needs: a segment
/// only merges into a buffer whose *capacity* holds the whole super-packet
/// (`2 * offset + 65_535`); with MTU-sized buffers every merge ends in `InsufficientCap` and
/// each segment is written on its own. Hence the capacity, with a length of `offset + MTU`.
fn tun_rs_segments(from: &tun_rs::SyncDevice, to: &tun_rs::SyncDevice) -> std::io::Result<()> {
    let offset = tun_rs::VIRTIO_NET_HDR_LEN;
    let len = offset + SEGMENT_BUF;
    let mut original = vec![0u8; offset + 65_535];
    let mut bufs: Vec<Vec<u8>> = (0..tun_rs::IDEAL_BATCH_SIZE)
        .map(|_| {
            let mut buf = Vec::with_capacity(2 * offset + 65_535);
            buf.resize(len, 0);
            buf
        })
        .collect();
    let mut sizes = vec![0usize; tun_rs::IDEAL_BATCH_SIZE];
    let mut gro = tun_rs::GROTable::default();
    loop {
        let n = from.recv_multiple(&mut original, &mut bufs, &mut sizes, offset)?;
        if (0..n).any(|i| is_stop(&bufs[i][offset..offset + sizes[i]])) {
            return Ok(());
        }
        for (buf, &size) in bufs.iter_mut().zip(&sizes).take(n) {
            buf.truncate(offset + size);
        }
        to.send_multiple(&mut gro, &mut bufs[..n], offset)?;
        for buf in &mut bufs[..n] {
            buf.resize(len, 0);
        }
    }
}

/// Pass each super-packet through whole with tun-rs, header included.
fn tun_rs_passthrough(from: &tun_rs::SyncDevice, to: &tun_rs::SyncDevice) -> std::io::Result<()> {
    let offset = tun_rs::VIRTIO_NET_HDR_LEN;
    let mut raw = vec![0u8; offset + 65_535];
    loop {
        let n = from.recv(&mut raw)?;
        if is_stop(raw.get(offset..n).unwrap_or_default()) {
            return Ok(());
        }
        to.send(&raw[..n])?;
    }
}

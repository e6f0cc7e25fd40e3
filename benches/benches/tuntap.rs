//! tuntap: the GSO split (zero-copy segment views) against a copy-per-segment baseline, and,
//! as root, the blocking and tokio send paths of a TUN device inside a network namespace the
//! bench creates and deletes. Without root the device benches are skipped with a message.

use std::net::{Ipv4Addr, UdpSocket};
use std::process::Command;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tuntap::gso;
use tuntap::vnet::VnetHdr;

/// A 64 KiB TCP/IPv4 super-packet with its virtio-net header (gso_size 1448).
fn super_packet() -> (VnetHdr, Vec<u8>) {
    let payload = 65_535 - 40;
    let mut p = vec![0u8; 40 + payload];
    p[0] = 0x45;
    p[8] = 64;
    p[9] = 6;
    p[12..16].copy_from_slice(&[10, 0, 0, 1]);
    p[16..20].copy_from_slice(&[10, 0, 0, 2]);
    p[32] = 5 << 4;
    p[33] = 0x18;
    for (i, b) in p[40..].iter_mut().enumerate() {
        *b = i as u8;
    }
    let mut raw = [0u8; 10];
    raw[0] = 1;
    raw[1] = 1;
    raw[2..4].copy_from_slice(&40u16.to_le_bytes());
    raw[4..6].copy_from_slice(&1448u16.to_le_bytes());
    raw[6..8].copy_from_slice(&20u16.to_le_bytes());
    raw[8..10].copy_from_slice(&16u16.to_le_bytes());
    (VnetHdr::parse(&raw).expect("valid header"), p)
}

/// The baseline: copy headers and payload of each segment into its own buffer and checksum it
/// there, as a copy-based splitter does.
fn split_by_copy(packet: &[u8], mss: usize) -> usize {
    let mut total = 0;
    for chunk in packet[40..].chunks(mss) {
        let mut seg = Vec::with_capacity(40 + chunk.len());
        seg.extend_from_slice(&packet[..40]);
        seg.extend_from_slice(chunk);
        let sum: u32 = seg
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
            .sum();
        total += seg.len() + (sum & 1) as usize;
    }
    total
}

fn gso_split(c: &mut Criterion) {
    let (hdr, packet) = super_packet();
    let mut group = c.benchmark_group("tuntap/gso_split_64k");
    group.throughput(Throughput::Bytes(packet.len() as u64));
    group.bench_function(BenchmarkId::new("flywheel_views", 1448), |b| {
        b.iter(|| {
            let mut n = 0;
            for seg in gso::split(&hdr, std::hint::black_box(&packet)).expect("split") {
                n += seg.len();
            }
            n
        })
    });
    group.bench_function(BenchmarkId::new("copy_per_segment", 1448), |b| {
        b.iter(|| split_by_copy(std::hint::black_box(&packet), 1448))
    });
    group.finish();
}

/// A namespace made for the bench, deleted on drop.
struct BenchNetns(String);

impl Drop for BenchNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn can_use_tun() -> bool {
    let root = std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false);
    root && std::path::Path::new("/dev/net/tun").exists()
}

fn device_send(c: &mut Criterion) {
    if !can_use_tun() {
        eprintln!("SKIPPED (needs root): tuntap device benches");
        return;
    }
    let ns = BenchNetns(format!("flywheel-bench-{}", std::process::id()));
    if !Command::new("ip")
        .args(["netns", "add", &ns.0])
        .status()
        .is_ok_and(|s| s.success())
    {
        eprintln!("SKIPPED: cannot create a network namespace");
        return;
    }
    let netns = tuntap::Netns::open(&ns.0).expect("open netns");
    // The device and the socket are opened inside the namespace and stay bound to it; the
    // measuring happens on this thread.
    let (dev, sink) = netns
        .run(|| {
            let dev = tuntap::Device::builder()
                .name("flybench")
                .open()
                .expect("device");
            let link = dev.link().expect("link");
            link.add_address(Ipv4Addr::new(10, 99, 0, 1).into(), 24)
                .expect("address");
            link.up().expect("up");
            let sink = UdpSocket::bind("10.99.0.1:0").expect("bind");
            sink.set_nonblocking(true).expect("nonblocking");
            (dev, sink)
        })
        .expect("enter netns");
    let port = sink.local_addr().expect("addr").port();
    // A 64-byte UDP payload from a peer inside the namespace's own /24 to the sink.
    let packet = udp4([10, 99, 0, 2], 7, [10, 99, 0, 1], port, &[0u8; 64]);
    let mut drain = [0u8; 128];
    let mut group = c.benchmark_group("tuntap/send_64b");
    group.throughput(Throughput::Elements(1));
    group.bench_function("flywheel_sync", |b| {
        b.iter(|| {
            dev.send(&packet).expect("send");
            while sink.recv(&mut drain).is_ok() {}
        })
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("rt");
    group.bench_function("flywheel_tokio", |b| {
        b.iter(|| {
            rt.block_on(dev.send_async(&packet)).expect("send");
            while sink.recv(&mut drain).is_ok() {}
        })
    });
    group.finish();
}

fn udp4(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, payload: &[u8]) -> Vec<u8> {
    let total = 28 + payload.len();
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    let mut sum: u32 = p[..20]
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    p[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    p[20..22].copy_from_slice(&sport.to_be_bytes());
    p[22..24].copy_from_slice(&dport.to_be_bytes());
    p[24..26].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    p[28..].copy_from_slice(payload);
    p
}

criterion_group!(benches, gso_split, device_send);
criterion_main!(benches);

//! `tun-ping`: a TUN device that answers ICMP echo for a peer address in userspace.
//!
//! ```text
//! sudo cargo run --example tun-ping                       # 10.0.0.1/24 on flyping0, peer 10.0.0.2
//! ping 10.0.0.2                                            # in another terminal
//! sudo cargo run --example tun-ping -- --address 10.9.0.1/24 --peer 10.9.0.7 --netns lab --count 3
//! ```
//!
//! It creates a TUN device (`--name`, default `flyping%d`), gives it `--address`, brings it up,
//! and reads every packet the kernel routes into it. An IPv4 ICMP echo request for `--peer` is
//! answered with an echo reply written back into the device, so `ping PEER` works although no
//! host has that address; every packet read or written is printed. `--netns NAME` creates the
//! device in a network namespace made with `ip netns add NAME`, without `ip netns exec`.
//! `--count N` exits after N replies. The device is not persistent: it goes away on exit.
//! Needs CAP_NET_ADMIN (root).

use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;

use tuntap::{Device, Link, Mode, Netns};

/// Command-line settings.
struct Options {
    name: String,
    address: Ipv4Addr,
    prefix_len: u8,
    peer: Ipv4Addr,
    netns: Option<String>,
    count: Option<u64>,
}

fn main() -> ExitCode {
    match parse(std::env::args().skip(1).collect()).and_then(|o| run(&o)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tun-ping: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse(args: Vec<String>) -> Result<Options, String> {
    let mut options = Options {
        name: "flyping%d".to_owned(),
        address: Ipv4Addr::new(10, 0, 0, 1),
        prefix_len: 24,
        peer: Ipv4Addr::new(10, 0, 0, 2),
        netns: None,
        count: None,
    };
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--name" => options.name = value()?,
            "--address" => {
                let text = value()?;
                let (addr, len) = text.split_once('/').unwrap_or((&text, "24"));
                options.address = addr
                    .parse()
                    .map_err(|_| format!("--address: `{addr}` is not an IPv4 address"))?;
                options.prefix_len =
                    len.parse().ok().filter(|l| *l <= 32).ok_or_else(|| {
                        format!("--address: `{len}` is not a prefix length 0..=32")
                    })?;
            }
            "--peer" => {
                let text = value()?;
                options.peer = text
                    .parse()
                    .map_err(|_| format!("--peer: `{text}` is not an IPv4 address"))?;
            }
            "--netns" => options.netns = Some(value()?),
            "--count" => {
                let text = value()?;
                options.count = Some(
                    text.parse()
                        .map_err(|_| format!("--count takes a number, not `{text}`"))?,
                );
            }
            "-h" | "--help" => {
                return Err("usage: tun-ping [--name NAME] [--address A.B.C.D/LEN] \
                            [--peer A.B.C.D] [--netns NAME] [--count N]"
                    .to_owned());
            }
            other => return Err(format!("unknown flag `{other}` (see --help)")),
        }
    }
    if options.peer == options.address {
        return Err(format!(
            "the peer {} must differ from the device's own address",
            options.peer
        ));
    }
    Ok(options)
}

#[allow(
    clippy::print_stdout,
    reason = "the example prints each packet it sees"
)]
fn run(options: &Options) -> Result<(), String> {
    let netns = options
        .netns
        .as_deref()
        .map(Netns::open)
        .transpose()
        .map_err(|e| e.to_string())?;
    let mut builder = Device::builder()
        .name(options.name.as_str())
        .mode(Mode::Tun);
    if let Some(ns) = &netns {
        builder = builder.netns(ns.clone());
    }
    let device = builder.open().map_err(|e| e.to_string())?;
    let link = match &netns {
        Some(ns) => Link::open_in(ns, device.name()),
        None => Link::open(device.name()),
    }
    .map_err(|e| e.to_string())?;
    link.add_address(IpAddr::V4(options.address), options.prefix_len)
        .map_err(|e| e.to_string())?;
    link.up().map_err(|e| e.to_string())?;
    println!(
        "{}: {}/{} up; answering ICMP echo for {} (try: ping {})",
        device.name(),
        options.address,
        options.prefix_len,
        options.peer,
        options.peer
    );

    let mut buf = vec![0u8; 65536];
    let mut replies = 0u64;
    while options.count.is_none_or(|n| replies < n) {
        let len = device.recv(&mut buf).map_err(|e| e.to_string())?;
        let packet = &mut buf[..len];
        println!("recv {len:>5} bytes  {}", describe(packet));
        if echo_request_for(packet, options.peer) {
            make_echo_reply(packet);
            device.send(packet).map_err(|e| e.to_string())?;
            replies += 1;
            println!("sent {len:>5} bytes  {}", describe(packet));
        }
    }
    println!("{replies} echo replies sent; bye");
    Ok(())
}

/// A one-line summary of an IP packet.
fn describe(packet: &[u8]) -> String {
    match packet.first().map(|b| b >> 4) {
        Some(4) if packet.len() >= 20 => {
            let src = Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]);
            let dst = Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]);
            let header = usize::from(packet[0] & 0x0f) * 4;
            let what = match (packet[9], packet.get(header..)) {
                (1, Some(icmp)) if icmp.len() >= 8 => {
                    let id = u16::from_be_bytes([icmp[4], icmp[5]]);
                    let seq = u16::from_be_bytes([icmp[6], icmp[7]]);
                    match icmp[0] {
                        8 => format!("ICMP echo request id={id} seq={seq}"),
                        0 => format!("ICMP echo reply id={id} seq={seq}"),
                        t => format!("ICMP type {t}"),
                    }
                }
                (6, _) => "TCP".to_owned(),
                (17, _) => "UDP".to_owned(),
                (p, _) => format!("IP protocol {p}"),
            };
            format!("{src} > {dst}  {what}")
        }
        Some(6) => "IPv6 (ignored)".to_owned(),
        _ => "not an IP packet (ignored)".to_owned(),
    }
}

/// Whether `packet` is a well-formed IPv4 ICMP echo request addressed to `peer`.
fn echo_request_for(packet: &[u8], peer: Ipv4Addr) -> bool {
    let Some(&first) = packet.first() else {
        return false;
    };
    let header = usize::from(first & 0x0f) * 4;
    first >> 4 == 4
        && header >= 20
        && packet.len() >= header + 8
        && usize::from(u16::from_be_bytes([packet[2], packet[3]])) == packet.len()
        && packet[9] == 1
        && packet[16..20] == peer.octets()
        && packet[header] == 8
        && packet[header + 1] == 0
}

/// Turns a checked echo request into its reply in place: swap the addresses, a fresh TTL,
/// ICMP type 0, both checksums recomputed.
fn make_echo_reply(packet: &mut [u8]) {
    let header = usize::from(packet[0] & 0x0f) * 4;
    let (src, dst) = packet[12..20].split_at_mut(4);
    src.swap_with_slice(dst);
    packet[8] = 64;
    packet[10..12].fill(0);
    let sum = tuntap::internet_checksum(&packet[..header]);
    packet[10..12].copy_from_slice(&sum.to_be_bytes());
    let icmp = &mut packet[header..];
    icmp[0] = 0;
    icmp[2..4].fill(0);
    let sum = tuntap::internet_checksum(icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
}

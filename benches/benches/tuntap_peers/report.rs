//! Medians over the rounds and the markdown tables.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::echo::{EchoRun, Probe};
use super::endpoint::Impl;
use super::forward::ForwardRun;
use super::offload::OffloadImpl;
use super::udp::{UdpImpl, UdpRun};

/// An implementation as the tables list it.
pub(crate) trait Listed: Copy + PartialEq {
    /// Its name in the tables.
    fn label(self) -> &'static str;
    /// Its place in the tables.
    fn order(self) -> usize;
}

impl Listed for Impl {
    fn label(self) -> &'static str {
        self.name()
    }
    fn order(self) -> usize {
        Impl::ECHO
            .iter()
            .position(|&i| i == self)
            .unwrap_or(usize::MAX)
    }
}

impl Listed for OffloadImpl {
    fn label(self) -> &'static str {
        self.name()
    }
    fn order(self) -> usize {
        OffloadImpl::ALL
            .iter()
            .position(|&i| i == self)
            .unwrap_or(usize::MAX)
    }
}

impl Listed for UdpImpl {
    fn label(self) -> &'static str {
        self.name()
    }
    fn order(self) -> usize {
        UdpImpl::ALL
            .iter()
            .position(|&i| i == self)
            .unwrap_or(usize::MAX)
    }
}

/// The median of `values` (0 when empty).
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn spread(values: &[f64]) -> (f64, f64) {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lo, hi)
}

/// The runs of each implementation, in table order.
pub(crate) type Runs<T, K = Impl> = BTreeMap<usize, (K, Vec<T>)>;

/// Add one run of `imp`.
pub(crate) fn record<T, K: Listed>(runs: &mut Runs<T, K>, imp: K, run: T) {
    runs.entry(imp.order())
        .or_insert_with(|| (imp, Vec::new()))
        .1
        .push(run);
}

/// The N3/N5 table of one probe: pps and CPU/packet medians, ratios of flywheel's sync path
/// to each, and the goals' figures.
pub(crate) fn echo_table(
    probe: Probe,
    runs: &Runs<EchoRun>,
    count: u64,
    cpus: (usize, usize),
) -> String {
    let what = match probe {
        Probe::Udp => "UDP echo of {count} 64-byte datagrams",
        Probe::Icmp => "ICMP echo (ping) of {count} 64-byte requests from a raw socket",
    }
    .replace("{count}", &count.to_string());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n## tuntap/echo_{} (N3, N5)\n\n{what}, 64 in flight, answered by a userspace responder \
         on a TUN device, per implementation; responder on CPU {}, load on CPU {}; \
         implementations interleaved, median (min..max) over {} round(s). Ratios: \
         flywheel_sync / this (pps above 1 and CPU below 1 mean flywheel is better). \
         `flywheel_offload` is flywheel's offload path (`vnet_hdr` with TCP offloads, \
         `gso::split`, `send_batch_coalesced`) on this load without GSO.\n",
        probe.name(),
        cpus.0,
        cpus.1,
        rounds(runs)
    );
    let _ = writeln!(
        out,
        "| implementation | kpps | spread | CPU ns/packet | spread | lost | pps ratio | CPU ratio |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    let summary = |r: &[EchoRun]| {
        let pps: Vec<f64> = r.iter().map(|r| r.pps / 1e3).collect();
        let cpu: Vec<f64> = r.iter().map(|r| r.cpu_ns_per_packet).collect();
        (pps, cpu, r.iter().map(|r| r.lost).sum::<u64>())
    };
    let medians = |imp: Impl| {
        runs.values()
            .find(|(i, _)| *i == imp)
            .map(|(_, r)| summary(r))
            .map(|(p, c, _)| (median(&p), median(&c)))
    };
    let ours = medians(Impl::FlywheelSync);
    for (imp, r) in runs.values() {
        let (pps, cpu, lost) = summary(r);
        let (p_lo, p_hi) = spread(&pps);
        let (c_lo, c_hi) = spread(&cpu);
        let (pr, cr) = if *imp == Impl::FlywheelSync {
            ("—".to_owned(), "—".to_owned())
        } else {
            ratios(ours, median(&pps), median(&cpu))
        };
        let _ = writeln!(
            out,
            "| {} | {:.1} | {p_lo:.1}..{p_hi:.1} | {:.0} | {c_lo:.0}..{c_hi:.0} | {lost} | {pr} | {cr} |",
            imp.name(),
            median(&pps),
            median(&cpu),
        );
    }
    // The goals' own figures (reported, never asserted).
    let best_crate = [Impl::TunRsSync, Impl::TunRsAsync, Impl::Tun, Impl::TokioTun]
        .into_iter()
        .filter_map(|i| medians(i).map(|m| (i, m)))
        .max_by(|a, b| a.1.0.total_cmp(&b.1.0));
    if let (Some((o_pps, o_cpu)), Some((best, (b_pps, b_cpu)))) = (ours, best_crate) {
        let _ = writeln!(
            out,
            "\nN3: flywheel_sync / best crate ({}) = {:.3} pps (goal >= 1.0), {:.3} CPU/packet \
             (goal <= 0.95).",
            best.name(),
            o_pps / b_pps,
            o_cpu / b_cpu
        );
    }
    let sync_ratio = |imp: Impl| {
        ours.zip(medians(imp))
            .map(|((o, _), (x, _))| format!("{:.3}", x / o))
            .unwrap_or_else(|| "—".to_owned())
    };
    let _ = writeln!(
        out,
        "N3: flywheel_tokio / flywheel_sync = {} pps (goal >= 0.98). N5: flywheel_offload / \
         flywheel_sync = {} pps (goal >= 0.97).",
        sync_ratio(Impl::FlywheelTokio),
        sync_ratio(Impl::FlywheelOffload)
    );
    out
}

/// The N4 table: Gb/s, forwarder CPU s/GB and retransmits, ratios of flywheel's sync path to
/// each.
pub(crate) fn forward_table(runs: &Runs<ForwardRun>, bytes: u64, cpus: (usize, usize)) -> String {
    let intro = format!(
        "\n## tuntap/tcp_forward (N4)\n\nOne TCP stream of {} MiB from namespace A to namespace B \
         through a userspace forwarder copying single packets between two TUN devices (MTU \
         1500, no offload); forwarder on CPU {}, both TCP ends on CPU {}; median (min..max) over \
         {} round(s). Ratios: flywheel_sync / this.\n",
        bytes >> 20,
        cpus.0,
        cpus.1,
        rounds(runs)
    );
    gbps_table(&intro, runs, |_| Impl::FlywheelSync)
}

/// The N1/N2 table: offloads on, per-segment forwarding and whole super-packet passthrough,
/// and veth as the ceiling.
pub(crate) fn offload_table(
    runs: &Runs<ForwardRun, OffloadImpl>,
    bytes: u64,
    cpus: (usize, usize),
) -> String {
    let intro = format!(
        "\n## tuntap/tcp_forward_offload (N1, N2)\n\nOne TCP stream of {} MiB from namespace A \
         to namespace B, TUN devices with TCP offloads (TSO4/6, CSUM). `_segments`: every \
         super-packet split into wire-sized segments and written back coalesced (N1); \
         `_passthrough`: super-packets forwarded whole with their virtio-net header (N2); \
         `veth`: a veth pair, the kernel alone (no forwarder, no forwarder CPU). Forwarder on \
         CPU {}, both TCP ends on CPU {}; median (min..max) over {} round(s). Ratios: \
         flywheel_segments / this for the segment rows, flywheel_passthrough / this for the \
         others.\n",
        bytes >> 20,
        cpus.0,
        cpus.1,
        rounds(runs)
    );
    gbps_table(&intro, runs, OffloadImpl::ours)
}

/// The N6 table: UDP Gb/s, forwarder CPU s/GB and loss per configuration, ratios against
/// the single-packet path with the same `UDP_SEGMENT` sender.
pub(crate) fn udp_table(runs: &Runs<UdpRun, UdpImpl>, bytes: u64, cpus: (usize, usize)) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n## tuntap/udp_forward (N6)\n\n{} MiB of {}-byte UDP datagrams from namespace A to a \
         `UDP_GRO` receiver in namespace B through a forwarder between two TUN devices; the \
         sender keeps in flight at most 3/4 of what the sending TUN queue holds (500 packets: \
         525 kB of datagrams, 2 MiB with USO), by the receiver's count in shared memory; \
         loss is what was written off after 100 ms without progress. \
         `single_plain_sender`: one `send` per datagram, single-packet forwarder; \
         `single_gso_sender`: `UDP_SEGMENT` sends (the kernel segments before the device), \
         single-packet forwarder; `uso_segments`: USO on the devices, `gso::split` + \
         `send_batch_coalesced`; `uso_passthrough`: USO, super-packets forwarded whole. \
         Forwarder on CPU {}, sender and receiver on CPU {}; median (min..max) over {} \
         round(s). Ratios: this / single_gso_sender (above 1: faster).\n",
        bytes >> 20,
        super::udp::DATAGRAM,
        cpus.0,
        cpus.1,
        rounds(runs)
    );
    let _ = writeln!(
        out,
        "| configuration | Gb/s | spread | CPU s/GB | spread | loss % | Gb/s ratio | CPU ratio |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    let medians = |imp: UdpImpl| {
        runs.values().find(|(i, _)| *i == imp).map(|(_, r)| {
            let g: Vec<f64> = r.iter().map(|r| r.gbps).collect();
            let c: Vec<f64> = r.iter().map(|r| r.cpu_s_per_gb).collect();
            (median(&g), median(&c))
        })
    };
    for (imp, r) in runs.values() {
        let g: Vec<f64> = r.iter().map(|r| r.gbps).collect();
        let c: Vec<f64> = r.iter().map(|r| r.cpu_s_per_gb).collect();
        let l: Vec<f64> = r.iter().map(|r| r.loss * 100.0).collect();
        let (g_lo, g_hi) = spread(&g);
        let (c_lo, c_hi) = spread(&c);
        let (gr, cr) = match medians(imp.reference()) {
            Some((rg, rc)) if *imp != imp.reference() && rg > 0.0 && rc > 0.0 => (
                format!("{:.3}", median(&g) / rg),
                format!("{:.3}", median(&c) / rc),
            ),
            _ => ("—".to_owned(), "—".to_owned()),
        };
        let _ = writeln!(
            out,
            "| {} | {:.2} | {g_lo:.2}..{g_hi:.2} | {:.2} | {c_lo:.2}..{c_hi:.2} | {:.1} | {gr} | {cr} |",
            imp.name(),
            median(&g),
            median(&c),
            median(&l),
        );
    }
    let best_single = [UdpImpl::SinglePlain, UdpImpl::SingleGso]
        .into_iter()
        .filter_map(|i| medians(i).map(|m| (i, m.0)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    if let (Some((seg, _)), Some((single, single_gbps))) =
        (medians(UdpImpl::UsoSegments), best_single)
    {
        let _ = writeln!(
            out,
            "\nN6: uso_segments / the faster single-packet row ({}) = {:.2}x Gb/s (goal >= 3x).",
            single.name(),
            seg / single_gbps
        );
    }
    out
}

fn rounds<T, K>(runs: &Runs<T, K>) -> usize {
    runs.values().map(|(_, r)| r.len()).max().unwrap_or(0)
}

/// A Gb/s table; each row's ratios are against the row of `ours(row)`.
fn gbps_table<K: Listed>(intro: &str, runs: &Runs<ForwardRun, K>, ours: fn(K) -> K) -> String {
    let mut out = intro.to_owned();
    out.push('\n');
    let _ = writeln!(
        out,
        "| implementation | Gb/s | spread | CPU s/GB | spread | retransmits | TUN drops | Gb/s ratio | CPU ratio |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    let summary = |r: &[ForwardRun]| {
        let g: Vec<f64> = r.iter().map(|r| r.gbps).collect();
        let c: Vec<f64> = r.iter().map(|r| r.cpu_s_per_gb).collect();
        (g, c, r.iter().map(|r| r.retransmits).sum::<u64>())
    };
    let drops = |r: &[ForwardRun]| r.iter().map(|r| r.tun_drops).sum::<u64>();
    for (imp, r) in runs.values() {
        let (g, c, retrans) = summary(r);
        let (g_lo, g_hi) = spread(&g);
        let (c_lo, c_hi) = spread(&c);
        let reference = ours(*imp);
        let theirs = runs
            .values()
            .find(|(i, _)| *i == reference)
            .map(|(_, r)| summary(r))
            .map(|(g, c, _)| (median(&g), median(&c)));
        let (gr, cr) = if *imp == reference {
            ("—".to_owned(), "—".to_owned())
        } else {
            ratios(theirs, median(&g), median(&c))
        };
        let _ = writeln!(
            out,
            "| {} | {:.2} | {g_lo:.2}..{g_hi:.2} | {:.2} | {c_lo:.2}..{c_hi:.2} | {retrans} | {} | {gr} | {cr} |",
            imp.label(),
            median(&g),
            median(&c),
            drops(r),
        );
    }
    out
}

/// Throughput and CPU ratios of `ours` to a row; "—" where a figure is missing or zero (veth
/// has no forwarder CPU).
fn ratios(ours: Option<(f64, f64)>, rate: f64, cpu: f64) -> (String, String) {
    let ratio = |o: f64, x: f64| {
        if o > 0.0 && x > 0.0 {
            format!("{:.3}", o / x)
        } else {
            "—".to_owned()
        }
    };
    match ours {
        Some((o_rate, o_cpu)) => (ratio(o_rate, rate), ratio(o_cpu, cpu)),
        None => ("—".to_owned(), "—".to_owned()),
    }
}

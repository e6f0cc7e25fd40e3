//! Medians over the rounds and the markdown tables.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::echo::EchoRun;
use super::endpoint::Impl;
use super::forward::ForwardRun;

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

/// The runs of each implementation, in [`Impl::ALL`] order.
pub(crate) type Runs<T> = BTreeMap<usize, (Impl, Vec<T>)>;

/// Add one run of `imp`.
pub(crate) fn record<T>(runs: &mut Runs<T>, imp: Impl, run: T) {
    let at = Impl::ALL
        .iter()
        .position(|&i| i == imp)
        .unwrap_or(usize::MAX);
    runs.entry(at)
        .or_insert_with(|| (imp, Vec::new()))
        .1
        .push(run);
}

/// The N3 table: pps and CPU/packet medians, ratios of flywheel's sync path to each.
pub(crate) fn echo_table(runs: &Runs<EchoRun>, count: u64, cpus: (usize, usize)) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## tuntap/echo (N3)\n\nUDP echo of {count} 64-byte requests (64 in flight) answered by a \
         userspace responder on a TUN device, per implementation; responder on CPU {}, load on \
         CPU {}; implementations interleaved, median (min..max) over {} round(s). Ratios: \
         flywheel_sync / this (pps above 1 and CPU below 1 mean flywheel is better).\n",
        cpus.0,
        cpus.1,
        runs.values().map(|(_, r)| r.len()).max().unwrap_or(0)
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
    let ours = runs
        .values()
        .find(|(i, _)| *i == Impl::FlywheelSync)
        .map(|(_, r)| summary(r))
        .map(|(p, c, _)| (median(&p), median(&c)));
    for (imp, r) in runs.values() {
        let (pps, cpu, lost) = summary(r);
        let (p_lo, p_hi) = spread(&pps);
        let (c_lo, c_hi) = spread(&cpu);
        let (pr, cr) = ratios(ours, *imp, median(&pps), median(&cpu));
        let _ = writeln!(
            out,
            "| {} | {:.1} | {p_lo:.1}..{p_hi:.1} | {:.0} | {c_lo:.0}..{c_hi:.0} | {lost} | {pr} | {cr} |",
            imp.name(),
            median(&pps),
            median(&cpu),
        );
    }
    out
}

/// The N4 table: Gb/s, forwarder CPU s/GB and retransmits, ratios of flywheel's sync path to
/// each.
pub(crate) fn forward_table(runs: &Runs<ForwardRun>, bytes: u64, cpus: (usize, usize)) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n## tuntap/tcp_forward (N4)\n\nOne TCP stream of {} MiB from namespace A to namespace B \
         through a userspace forwarder copying single packets between two TUN devices (MTU \
         1500, no offload); forwarder on CPU {}, both TCP ends on CPU {}; median (min..max) over \
         {} round(s). Ratios: flywheel_sync / this.\n",
        bytes >> 20,
        cpus.0,
        cpus.1,
        runs.values().map(|(_, r)| r.len()).max().unwrap_or(0)
    );
    let _ = writeln!(
        out,
        "| implementation | Gb/s | spread | CPU s/GB | spread | retransmits | Gb/s ratio | CPU ratio |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    let summary = |r: &[ForwardRun]| {
        let g: Vec<f64> = r.iter().map(|r| r.gbps).collect();
        let c: Vec<f64> = r.iter().map(|r| r.cpu_s_per_gb).collect();
        (g, c, r.iter().map(|r| r.retransmits).sum::<u64>())
    };
    let ours = runs
        .values()
        .find(|(i, _)| *i == Impl::FlywheelSync)
        .map(|(_, r)| summary(r))
        .map(|(g, c, _)| (median(&g), median(&c)));
    for (imp, r) in runs.values() {
        let (g, c, retrans) = summary(r);
        let (g_lo, g_hi) = spread(&g);
        let (c_lo, c_hi) = spread(&c);
        let (gr, cr) = ratios(ours, *imp, median(&g), median(&c));
        let _ = writeln!(
            out,
            "| {} | {:.2} | {g_lo:.2}..{g_hi:.2} | {:.2} | {c_lo:.2}..{c_hi:.2} | {retrans} | {gr} | {cr} |",
            imp.name(),
            median(&g),
            median(&c),
        );
    }
    out
}

/// Throughput and CPU ratios of flywheel's sync path to `imp`, "—" for itself.
fn ratios(ours: Option<(f64, f64)>, imp: Impl, rate: f64, cpu: f64) -> (String, String) {
    match ours {
        Some((o_rate, o_cpu)) if imp != Impl::FlywheelSync && rate > 0.0 && cpu > 0.0 => (
            format!("{:.3}", o_rate / rate),
            format!("{:.3}", o_cpu / cpu),
        ),
        _ => ("—".to_owned(), "—".to_owned()),
    }
}

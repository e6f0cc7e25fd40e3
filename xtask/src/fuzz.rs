//! `cargo xtask fuzz [TARGET...] [--seconds N]`: builds the fuzz targets in `fuzz/` with
//! libFuzzer's coverage instrumentation on the stable toolchain, then runs each for N seconds
//! (default 60) from its committed seeds, and reports executions and coverage.
//!
//! Why not `cargo fuzz`: it needs a nightly toolchain for its default sanitizer and is one more
//! tool to install; the instrumentation libFuzzer needs is a set of stable `-C` flags
//! ([`INSTRUMENT`]), so the xtask passes them itself and runs the binaries directly. Without
//! AddressSanitizer a memory error in safe Rust cannot happen anyway; what the fuzzers look
//! for is panics, aborts (stack overflow, allocation failure), timeouts and broken invariants
//! (the targets assert them), with debug assertions and overflow checks on.
//!
//! Each run works on a copy of the seeds in `target/fuzz/corpus/TARGET` (kept between runs, so a
//! longer run continues from what shorter ones found); a crash leaves its input in
//! `target/fuzz/artifacts/TARGET/` and fails the command.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::cmd::{Step, seconds};

/// Every target: `fuzz/fuzz_targets/NAME.rs`, seeds in `fuzz/seeds/NAME/`.
pub(crate) const TARGETS: &[&str] = &[
    "fake_apiserver_request",
    "informer_list_split",
    "gso_split",
    "vnet_hdr",
    "gro_coalesce",
];

/// The flags that make rustc instrument code for libFuzzer (what `cargo fuzz` passes too).
const INSTRUMENT: &str = "-Cpasses=sancov-module \
    -Cllvm-args=-sanitizer-coverage-level=4 \
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
    -Cllvm-args=-sanitizer-coverage-pc-table \
    -Cllvm-args=-sanitizer-coverage-trace-compares \
    --cfg fuzzing -Cdebug-assertions -Coverflow-checks";

/// What one run found.
pub(crate) struct Report {
    pub(crate) target: &'static str,
    pub(crate) runs: u64,
    pub(crate) coverage: u64,
    pub(crate) features: u64,
    pub(crate) corpus: u64,
    pub(crate) seconds: u64,
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut seconds_each = 60u64;
    let mut chosen: Vec<&'static str> = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--seconds" => seconds_each = crate::cmd::positive(&mut it, "--seconds")?,
            name => {
                let target = TARGETS
                    .iter()
                    .find(|t| **t == name)
                    .ok_or_else(|| format!("unknown fuzz target `{name}` (known: {TARGETS:?})"))?;
                chosen.push(target);
            }
        }
    }
    if chosen.is_empty() {
        chosen = TARGETS.to_vec();
    }
    let reports = fuzz(&chosen, seconds_each)?;
    print_reports(&reports);
    Ok(())
}

/// Builds the targets and runs each of `targets` for `seconds_each`.
pub(crate) fn fuzz(targets: &[&'static str], seconds_each: u64) -> Result<Vec<Report>, String> {
    let root = crate::project_root();
    let host = host_triple()?;
    let target_dir = root.join("target").join("fuzz");
    let manifest = root.join("fuzz").join("Cargo.toml");
    let build = Step::new(
        "fuzz build",
        "cargo",
        &[
            "build",
            "--release",
            "--bins",
            "--manifest-path",
            &manifest.to_string_lossy(),
            "--target",
            &host,
            "--target-dir",
            &target_dir.to_string_lossy(),
        ],
    )
    .env("RUSTFLAGS", INSTRUMENT);
    eprintln!("==> {}", build.shell_line());
    let took = build.run()?;
    eprintln!("<== fuzz targets built in {}", seconds(took));
    let bin_dir = target_dir.join(&host).join("release");
    targets
        .iter()
        .map(|target| run_target(&root, &bin_dir, &target_dir, target, seconds_each))
        .collect()
}

fn run_target(
    root: &Path,
    bin_dir: &Path,
    target_dir: &Path,
    target: &'static str,
    seconds_each: u64,
) -> Result<Report, String> {
    let corpus = target_dir.join("corpus").join(target);
    let artifacts = target_dir.join("artifacts").join(target);
    std::fs::create_dir_all(&corpus).map_err(|e| format!("{}: {e}", corpus.display()))?;
    std::fs::create_dir_all(&artifacts).map_err(|e| format!("{}: {e}", artifacts.display()))?;
    let seeds = root.join("fuzz").join("seeds").join(target);
    copy_seeds(&seeds, &corpus)?;
    let binary = bin_dir.join(target);
    let args = [
        corpus.to_string_lossy().into_owned(),
        format!("-max_total_time={seconds_each}"),
        "-timeout=10".to_owned(),
        "-rss_limit_mb=4096".to_owned(),
        "-max_len=8192".to_owned(),
        "-print_final_stats=1".to_owned(),
        format!("-artifact_prefix={}/", artifacts.display()),
    ];
    eprintln!("==> {} {}", binary.display(), args.join(" "));
    let output = Command::new(&binary)
        .args(&args)
        .current_dir(root)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("could not start {}: {e}", binary.display()))?;
    let log = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "fuzz target `{target}` found a failure ({}); its input is in {}\n{}",
            output.status,
            artifacts.display(),
            tail.join("\n")
        ));
    }
    let report = parse_report(target, &log, seconds_each);
    eprintln!(
        "<== {target}: {} runs, coverage {} edges, {} features, corpus {}",
        report.runs, report.coverage, report.features, report.corpus
    );
    Ok(report)
}

/// Copies the committed seeds into the working corpus (files already there are kept).
fn copy_seeds(seeds: &Path, corpus: &Path) -> Result<(), String> {
    let Ok(entries) = std::fs::read_dir(seeds) else {
        return Ok(()); // a target may have no seeds: libFuzzer starts from nothing
    };
    for entry in entries.flatten() {
        let to = corpus.join(entry.file_name());
        if !to.exists() {
            std::fs::copy(entry.path(), &to).map_err(|e| format!("{}: {e}", to.display()))?;
        }
    }
    Ok(())
}

/// Reads libFuzzer's last status line (`#N DONE cov: C ft: F corp: K/...`) and final stats.
fn parse_report(target: &'static str, log: &str, seconds_each: u64) -> Report {
    let field = |line: &str, key: &str| -> Option<u64> {
        let mut words = line.split_whitespace();
        words.find(|w| *w == key)?;
        words.next()?.split('/').next()?.parse().ok()
    };
    let status = log
        .lines()
        .rev()
        .find(|l| l.starts_with('#') && l.contains("cov:"))
        .unwrap_or_default();
    let stat = |name: &str| -> Option<u64> {
        log.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
    };
    Report {
        target,
        runs: stat("stat::number_of_executed_units:")
            .or_else(|| {
                status
                    .trim_start_matches('#')
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or(0),
        coverage: field(status, "cov:").unwrap_or(0),
        features: field(status, "ft:").unwrap_or(0),
        corpus: field(status, "corp:").unwrap_or(0),
        seconds: seconds_each,
    }
}

pub(crate) fn print_reports(reports: &[Report]) {
    eprintln!("\nfuzz summary (libFuzzer, stable toolchain, no sanitizer):");
    eprintln!(
        "  {:<24} {:>8} {:>12} {:>10} {:>10} {:>8}",
        "target", "seconds", "executions", "coverage", "features", "corpus"
    );
    for r in reports {
        eprintln!(
            "  {:<24} {:>8} {:>12} {:>10} {:>10} {:>8}",
            r.target, r.seconds, r.runs, r.coverage, r.features, r.corpus
        );
    }
}

/// The host's target triple, from `rustc -vV`: the targets are built for it explicitly so the
/// instrumentation flags reach the targets and not the build scripts.
fn host_triple() -> Result<String, String> {
    let output = Command::new("rustc")
        .arg("-vV")
        .output()
        .map_err(|e| format!("could not run rustc: {e}"))?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .ok_or_else(|| "rustc -vV printed no host triple".to_owned())
}

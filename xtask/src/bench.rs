//! `cargo xtask bench [FILTER] [--quick] [--rounds N]`: runs the criterion benches (the bench
//! targets whose name starts with FILTER, or all) and writes
//! `target/bench-report.md` with, per group and input size, the median of every implementation
//! and the ratio of flywheel's to each peer's.
//!
//! Benches name the implementation as the criterion function id (`flywheel`, `tokio`, ...) and
//! the input size as the parameter. With `--rounds N` the whole suite runs N times (so the
//! implementations interleave over time on a noisy machine) and the report takes the median of
//! the per-round medians, with the spread.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::cmd::Step;

type Key = (String, String, String); // group, parameter, implementation

/// implementation, median, min, max
type Row<'a> = (&'a str, f64, f64, f64);

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut filter: Option<&str> = None;
    let mut quick = false;
    let mut rounds = 1usize;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--rounds" => rounds = crate::cmd::positive(&mut it, "--rounds")?,
            other if other.starts_with('-') => return Err(format!("unknown flag `{other}`")),
            other => filter = Some(other),
        }
    }

    let criterion_dir = criterion_home();
    let mut samples: BTreeMap<Key, Vec<f64>> = BTreeMap::new();
    for round in 1..=rounds {
        eprintln!("==> bench round {round}/{rounds}");
        let _ = std::fs::remove_dir_all(&criterion_dir);
        let _ = std::fs::remove_dir_all(crate::project_root().join("target").join("bench-extra"));
        // FILTER picks bench targets by name prefix: `timer_wheel` runs `timer_wheel` and
        // `timer_wheel_memory`.
        let target = filter.map(|f| format!("{f}*"));
        let mut bench_args = vec!["bench", "-p", "benches"];
        if let Some(t) = &target {
            bench_args.extend(["--bench", t.as_str()]);
        }
        bench_args.push("--");
        if quick {
            bench_args.push("--quick");
        }
        Step::new("bench", "cargo", &bench_args).run()?;
        for (key, median) in read_estimates(&criterion_dir)? {
            samples.entry(key).or_default().push(median);
        }
    }

    let mut report = render(&samples, rounds);
    // Tables the benches write themselves (memory, allocations, accuracy), from the last round.
    let extra_dir = crate::project_root().join("target").join("bench-extra");
    if let Ok(entries) = std::fs::read_dir(&extra_dir) {
        let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        for file in files {
            if let Ok(text) = std::fs::read_to_string(&file) {
                report.push('\n');
                report.push_str(&text);
            }
        }
    }
    let path = crate::project_root().join("target").join("bench-report.md");
    std::fs::write(&path, &report).map_err(|e| format!("writing {}: {e}", path.display()))?;
    eprintln!("{report}");
    eprintln!("report written to {}", path.display());
    Ok(())
}

/// Every `benchmark.json` + `new/estimates.json` pair under `dir`: key and median (ns).
fn read_estimates(dir: &Path) -> Result<Vec<(Key, f64)>, String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n == "new") {
                    if let Some(found) = read_one(&path) {
                        out.push(found);
                    }
                } else if path
                    .file_name()
                    .is_none_or(|n| n != "base" && n != "report")
                {
                    stack.push(path);
                }
            }
        }
    }
    Ok(out)
}

fn read_one(new_dir: &Path) -> Option<(Key, f64)> {
    let read = |name: &str| -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(new_dir.join(name)).ok()?;
        serde_json::from_str(&text).ok()
    };
    let bench = read("benchmark.json")?;
    let estimates = read("estimates.json")?;
    let group = bench.get("group_id")?.as_str()?.to_owned();
    let function = bench
        .get("function_id")
        .and_then(|f| f.as_str())
        .unwrap_or("")
        .to_owned();
    let value = bench
        .get("value_str")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_owned();
    let median = estimates.get("median")?.get("point_estimate")?.as_f64()?;
    // Per-element figures when the bench declared a throughput in elements.
    let per = bench
        .get("throughput")
        .and_then(|t| t.get("Elements"))
        .and_then(|n| n.as_f64())
        .filter(|&n| n > 0.0)
        .unwrap_or(1.0);
    Some(((group, value, function), median / per))
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn render(samples: &BTreeMap<Key, Vec<f64>>, rounds: usize) -> String {
    let mut by_group: BTreeMap<(&str, &str), Vec<Row<'_>>> = BTreeMap::new();
    for ((group, value, function), values) in samples {
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        by_group
            .entry((group, value))
            .or_default()
            .push((function, median(values), lo, hi));
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Bench report\n\nMedian time per element (ns) over {rounds} round(s); spread is min..max of the \
         per-round medians. Ratio = flywheel / peer (below 1 means flywheel is faster).\n"
    );
    let mut last_group = "";
    for ((group, value), impls) in &by_group {
        if *group != last_group {
            let _ = writeln!(out, "\n## {group}\n");
            let _ = writeln!(
                out,
                "| input | implementation | median ns | spread | flywheel / this |"
            );
            let _ = writeln!(out, "|---|---|---|---|---|");
            last_group = group;
        }
        let ours = impls
            .iter()
            .find(|(f, ..)| f.starts_with("flywheel"))
            .map(|(_, m, ..)| *m);
        for (function, m, lo, hi) in impls {
            let ratio = match ours {
                Some(o) if !function.starts_with("flywheel") && *m > 0.0 => format!("{:.3}", o / m),
                _ => "—".to_owned(),
            };
            let _ = writeln!(
                out,
                "| {value} | {function} | {m:.2} | {lo:.2}..{hi:.2} | {ratio} |"
            );
        }
    }
    out
}

/// Where criterion writes its results: `CRITERION_HOME`, else `criterion/` in cargo's target
/// dir (`CARGO_TARGET_DIR`, relative to the workspace root, else `target/`), as criterion does.
fn criterion_home() -> std::path::PathBuf {
    let root = crate::project_root();
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return root.join(home);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), |dir| root.join(dir));
    target.join("criterion")
}

//! `cargo xtask ci`: fmt, clippy, tests, privileged tests, docs, benches in test mode.
//!
//! Privileged tests are the ones that open TUN devices and create network namespaces: the whole
//! `tuntap` package. They run when we are root; otherwise the step prints a loud
//! `SKIPPED (needs root)` line, and under `CI=true` it fails instead.

use std::time::Duration;

use crate::cmd::{Step, available, seconds};

/// Packages whose tests need root and /dev/net/tun.
const PRIVILEGED_PACKAGES: &[&str] = &["tuntap"];

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if let Some(extra) = args.first() {
        return Err(format!("`ci` takes no arguments, got `{extra}`"));
    }
    let nextest = available("cargo", &["nextest", "--version"]);
    let root = is_root();
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let present: Vec<&str> = PRIVILEGED_PACKAGES
        .iter()
        .copied()
        .filter(|p| crate::project_root().join("crates").join(p).is_dir())
        .collect();

    let mut steps: Vec<Step> = vec![
        Step::new("fmt", "cargo", &["fmt", "--all", "--", "--check"]),
        Step::new(
            "clippy",
            "cargo",
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--all-features",
                "--",
                "-D",
                "warnings",
            ],
        ),
    ];
    let mut exclude: Vec<&str> = Vec::new();
    for p in &present {
        exclude.push("--exclude");
        exclude.push(p);
    }
    let mut test_args: Vec<&str> = if nextest {
        vec![
            "nextest",
            "run",
            "--workspace",
            "--all-features",
            "--no-fail-fast",
        ]
    } else {
        vec!["test", "--workspace", "--all-features", "--no-fail-fast"]
    };
    test_args.extend(&exclude);
    steps.push(Step::new("tests", "cargo", &test_args));
    steps.push(Step::new(
        "doctests",
        "cargo",
        &["test", "--workspace", "--all-features", "--doc"],
    ));

    let mut privileged: Vec<Step> = Vec::new();
    for p in &present {
        let args: Vec<&str> = if nextest {
            vec![
                "nextest",
                "run",
                "--all-features",
                "--no-fail-fast",
                "-p",
                p,
            ]
        } else {
            vec!["test", "--all-features", "--no-fail-fast", "-p", p]
        };
        privileged.push(Step::new("privileged tests", "cargo", &args));
    }

    let docs = Step::new(
        "docs",
        "cargo",
        &["doc", "--workspace", "--no-deps", "--all-features"],
    )
    .env("RUSTDOCFLAGS", "-D warnings");
    let benches = Step::new(
        "benches (test mode)",
        "cargo",
        &["test", "-p", "benches", "--benches", "--", "--test"],
    );

    let mut summary: Vec<(String, Duration)> = Vec::new();
    let mut run_step = |step: &Step| -> Result<(), String> {
        eprintln!("==> {} : {}", step.name, step.shell_line());
        let took = step.run()?;
        eprintln!("<== {} ok in {}", step.name, seconds(took));
        summary.push((step.name.to_owned(), took));
        Ok(())
    };

    let result = (|| {
        for step in &steps {
            run_step(step)?;
        }
        if root {
            for step in &privileged {
                run_step(step)?;
            }
        } else if !privileged.is_empty() {
            let line = format!(
                "SKIPPED (needs root): privileged tests of {} — rerun as root: {}",
                present.join(", "),
                privileged
                    .iter()
                    .map(Step::shell_line)
                    .collect::<Vec<_>>()
                    .join(" && ")
            );
            eprintln!("!!!!! {line}");
            if in_ci {
                return Err(format!("CI=true and not root: {line}"));
            }
        }
        run_step(&docs)?;
        run_step(&benches)
    })();

    eprintln!("\nsummary:");
    let mut total = Duration::ZERO;
    for (name, took) in &summary {
        eprintln!("  ok   {name:<22} {}", seconds(*took));
        total += *took;
    }
    eprintln!("  total {:<21} {}", "", seconds(total));
    match result {
        Ok(()) => {
            eprintln!("cargo xtask ci: all {} steps passed", summary.len());
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Whether we run as root (uid 0), read from /proc so the xtask needs no libc.
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}

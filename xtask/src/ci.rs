//! `cargo xtask ci`: fmt, clippy, tests, privileged tests, docs (public and private items),
//! benches in test mode, and every fuzz target for a short bounded time from its seeds.
//!
//! Privileged tests are the ones that open TUN devices and create network namespaces: the whole
//! `tuntap` package. They run when we are root; otherwise the step prints a loud
//! `SKIPPED (needs root)` line, and under `CI=true` it fails instead.
//!
//! `--exclude PKG` (repeatable) leaves a package out of every cargo step, for a package that is
//! half-written in a working tree; CI passes none.

use std::time::Duration;

use crate::cmd::{Step, available, seconds};

/// Seconds each fuzz target runs in CI (`--exclude fuzz` skips the step).
const CI_FUZZ_SECONDS: u64 = 15;

/// Packages whose tests need root and /dev/net/tun.
const PRIVILEGED_PACKAGES: &[&str] = &["tuntap"];

/// `base` followed by `--exclude P` for each package in `packages`, then `tail`.
fn cargo_args(base: &[&str], packages: &[&str], tail: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = base.iter().map(|s| (*s).to_owned()).collect();
    for p in packages {
        args.push("--exclude".to_owned());
        args.push((*p).to_owned());
    }
    args.extend(tail.iter().map(|s| (*s).to_owned()));
    args
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut excluded: Vec<&str> = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match (arg.as_str(), it.next()) {
            ("--exclude", Some(pkg)) => excluded.push(pkg),
            _ => return Err(format!("`ci` takes only `--exclude PKG`, got `{arg}`")),
        }
    }
    let nextest = available("cargo", &["nextest", "--version"]);
    let root = is_root();
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let privileged_present: Vec<&str> = PRIVILEGED_PACKAGES
        .iter()
        .copied()
        .filter(|p| crate::project_root().join("crates").join(p).is_dir())
        .filter(|p| !excluded.contains(p))
        .collect();
    let mut not_in_tests = excluded.clone();
    not_in_tests.extend(&privileged_present);

    let test_base: &[&str] = if nextest {
        &[
            "nextest",
            "run",
            "--workspace",
            "--all-features",
            "--no-fail-fast",
        ]
    } else {
        &["test", "--workspace", "--all-features", "--no-fail-fast"]
    };
    let steps = vec![
        Step::new("fmt", "cargo", &["fmt", "--all", "--", "--check"]),
        Step::new(
            "clippy",
            "cargo",
            &cargo_args(
                &["clippy", "--workspace", "--all-targets", "--all-features"],
                &excluded,
                &["--", "-D", "warnings"],
            ),
        ),
        Step::new("tests", "cargo", &cargo_args(test_base, &not_in_tests, &[])),
        Step::new(
            "doctests",
            "cargo",
            &cargo_args(
                &["test", "--workspace", "--all-features", "--doc"],
                &excluded,
                &[],
            ),
        ),
    ];
    let privileged: Vec<Step> = privileged_present
        .iter()
        .map(|p| {
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
            Step::new("privileged tests", "cargo", &args)
        })
        .collect();
    let docs = Step::new(
        "docs",
        "cargo",
        &cargo_args(
            &["doc", "--workspace", "--no-deps", "--all-features"],
            &excluded,
            &[],
        ),
    )
    .env("RUSTDOCFLAGS", "-D warnings");
    // The private items too: their doc links break as easily, and a contributor reads them.
    let private_docs = Step::new(
        "private docs",
        "cargo",
        &cargo_args(
            &[
                "doc",
                "--workspace",
                "--no-deps",
                "--all-features",
                "--document-private-items",
            ],
            &excluded,
            &[],
        ),
    )
    .env("RUSTDOCFLAGS", "-D warnings");
    let benches = Step::new(
        "benches (test mode)",
        "cargo",
        &["test", "-p", "benches", "--benches", "--", "--test"],
    );

    let fuzzing = !excluded.contains(&"fuzz");
    let fuzz_seconds = CI_FUZZ_SECONDS.to_string();
    let fuzz = Step::new(
        "fuzz",
        "cargo",
        &["xtask", "fuzz", "--seconds", fuzz_seconds.as_str()],
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
                privileged_present.join(", "),
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
        run_step(&private_docs)?;
        run_step(&benches)?;
        if fuzzing {
            run_step(&fuzz)?;
        }
        Ok(())
    })();

    eprintln!("\nsummary:");
    let mut total = Duration::ZERO;
    for (name, took) in &summary {
        eprintln!("  ok   {name:<22} {}", seconds(*took));
        total += *took;
    }
    eprintln!("  total {:<21} {}", "", seconds(total));
    result?;
    eprintln!("cargo xtask ci: all {} steps passed", summary.len());
    Ok(())
}

/// Whether we run as root (uid 0), read from /proc so the xtask needs no libc.
pub(crate) fn is_root() -> bool {
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

//! `cargo xtask soak [--cases N] [--fault-seeds M] [--fuzz-seconds S]`: every proptest model
//! test, in release, with N cases each (default 100 000; CI runs them with the crates' own
//! smaller defaults), then the informer's fault-schedule test with M seeds (default 1 000, the
//! reliability goal; CI runs 12), then every fuzz target for S seconds (default 720, an hour for
//! the five; CI runs each for 15).

use crate::cmd::{Step, seconds};

/// (package, test target) of every model test.
const MODELS: &[(&str, &str)] = &[
    ("timer-wheel", "wheel_model"),
    ("workqueue", "model"),
    ("delta-fifo", "model"),
    ("informer", "indexer_model"),
    ("tuntap", "gso"),
    ("tuntap", "gro"),
];

/// (package, test target, env var taking the seed count) of every fault-schedule test.
const SCHEDULES: &[(&str, &str, &str)] = &[("informer", "fault_schedule", "FLYWHEEL_FAULT_SEEDS")];

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut cases = 100_000u64;
    let mut fault_seeds = 1_000u64;
    let mut fuzz_seconds = 720u64;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--cases" => cases = crate::cmd::positive(&mut it, "--cases")?,
            "--fault-seeds" => fault_seeds = crate::cmd::positive(&mut it, "--fault-seeds")?,
            "--fuzz-seconds" => fuzz_seconds = crate::cmd::positive(&mut it, "--fuzz-seconds")?,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let cases = cases.to_string();
    for (package, test) in MODELS {
        if !crate::project_root().join("crates").join(package).is_dir() {
            continue;
        }
        let step = release_test(package, test).env("PROPTEST_CASES", &cases);
        eprintln!("==> {}", step.shell_line());
        let took = step.run()?;
        eprintln!(
            "<== {package}/{test}: {cases} cases ok in {}",
            seconds(took)
        );
    }
    let fault_seeds = fault_seeds.to_string();
    for (package, test, seeds_var) in SCHEDULES {
        if !crate::project_root().join("crates").join(package).is_dir() {
            continue;
        }
        let step = release_test(package, test).env(seeds_var, &fault_seeds);
        eprintln!("==> {}", step.shell_line());
        let took = step.run()?;
        eprintln!(
            "<== {package}/{test}: {fault_seeds} fault schedules ok in {}",
            seconds(took)
        );
    }
    let reports = crate::fuzz::fuzz(crate::fuzz::TARGETS, fuzz_seconds)?;
    crate::fuzz::print_reports(&reports);
    Ok(())
}

/// `cargo test --release --all-features -p PACKAGE --test TEST`, a soak step.
fn release_test(package: &str, test: &str) -> Step {
    Step::new(
        "soak",
        "cargo",
        &[
            "test",
            "--release",
            "--all-features",
            "-p",
            package,
            "--test",
            test,
        ],
    )
}

//! `cargo xtask demo [NAME...] [--render]`: terminal recordings of the runnable examples.
//!
//! Without `--render`: builds every example once, then runs each demo's commands on a
//! [`WIDTH`]×[`HEIGHT`] pseudo-terminal and writes `docs/demos/<name>.cast` (asciicast v2), with
//! a `$ cargo run ...` line before each command as a shell would show it. Every example in
//! `examples/Cargo.toml` must have a demo here; `xtask/tests/demos.rs` replays the casts and
//! fails when one is missing or no longer matches what its example prints.
//!
//! With `--render`: turns the casts into animated SVGs next to them (see [`render`]).
//!
//! Demos that need root (`tunctl`) run in a network namespace of their own, made and removed
//! here; without root they are skipped loudly and their committed cast is kept.

mod cast;
mod ping;
mod pty;
mod render;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use cast::Cast;

/// Terminal columns of every recording.
const WIDTH: u16 = 110;
/// Terminal rows of every recording.
const HEIGHT: u16 = 30;
/// Cast time between a prompt line and its command's first output, and between commands: long
/// enough for a viewer to read the command.
const PROMPT_PAUSE: Duration = Duration::from_millis(600);

/// Work run beside a demo's commands, given the demo's network namespace.
type Load = fn(&str) -> Result<(), String>;

/// One recording: commands of one example, run in order.
struct Demo {
    /// The example's name in `examples/Cargo.toml`, and the cast's file name.
    name: &'static str,
    title: &'static str,
    /// Each command's arguments and whether it should succeed.
    commands: &'static [(&'static [&'static str], bool)],
    /// Needs root and runs in a network namespace of its own.
    privileged: bool,
    /// Run on a thread while each command runs, with the demo's namespace (privileged demos).
    load: Option<Load>,
}

const DEMOS: &[Demo] = &[
    Demo {
        name: "controller",
        title: "flywheel: the pod controller against an embedded fake API server",
        commands: &[
            (&["--embedded", "--duration", "5"], true),
            (&["--embedded", "--replicas", "3", "--duration", "8"], true),
        ],
        privileged: false,
        load: None,
    },
    Demo {
        name: "timers",
        title: "flywheel: Go-style timers on a timing wheel, real and fake clock",
        commands: &[(&[], true)],
        privileged: false,
        load: None,
    },
    Demo {
        name: "delta-fifo",
        title: "flywheel: a DeltaFIFO consumer loop and a relist tombstone",
        commands: &[(&[], true)],
        privileged: false,
        load: None,
    },
    Demo {
        name: "informer",
        title: "flywheel: a shared informer with two handlers and an index",
        commands: &[(&[], true)],
        privileged: false,
        load: None,
    },
    Demo {
        name: "tunctl",
        title: "flywheel: ip tuntap's own arguments and output (as root, in a fresh network namespace)",
        commands: &[
            (&["add", "dev", "fly0", "mode", "tap", "user", "1000"], true),
            (
                &[
                    "add",
                    "dev",
                    "fly1",
                    "mode",
                    "tun",
                    "multi_queue",
                    "vnet_hdr",
                ],
                true,
            ),
            (&["add", "dev", "fly2", "mode", "bridge"], false),
            (&["show"], true),
            (&["del", "dev", "fly0", "mode", "tap"], true),
            (&["show"], true),
        ],
        privileged: true,
        load: None,
    },
    Demo {
        name: "tun-ping",
        title: "flywheel: a TUN device answering ping from userspace (as root, in a fresh network namespace)",
        commands: &[(&["--count", "3"], true)],
        privileged: true,
        load: Some(|netns| ping::ping_in(netns, std::net::Ipv4Addr::new(10, 0, 0, 2), 3)),
    },
];

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut names: Vec<&str> = Vec::new();
    let mut rendering = false;
    for arg in args {
        match arg.as_str() {
            "--render" => rendering = true,
            other if other.starts_with('-') => {
                return Err(format!(
                    "unknown flag `{other}` (demo takes NAME... and --render)"
                ));
            }
            other => names.push(other),
        }
    }
    check_every_example_has_a_demo()?;
    let chosen: Vec<&Demo> = if names.is_empty() {
        DEMOS.iter().collect()
    } else {
        names
            .iter()
            .map(|name| {
                DEMOS.iter().find(|d| d.name == *name).ok_or_else(|| {
                    let known: Vec<&str> = DEMOS.iter().map(|d| d.name).collect();
                    format!("no demo `{name}`; known: {}", known.join(", "))
                })
            })
            .collect::<Result<_, _>>()?
    };
    let dir = crate::project_root().join("docs").join("demos");
    if rendering {
        for demo in chosen {
            let cast = dir.join(format!("{}.cast", demo.name));
            let svg = dir.join(format!("{}.svg", demo.name));
            if !cast.is_file() {
                return Err(format!(
                    "{} is missing: record it first with `cargo xtask demo {}`",
                    cast.display(),
                    demo.name
                ));
            }
            render::render(&cast, &svg)?;
            eprintln!("{}: {}", svg.display(), size(&svg));
        }
        return Ok(());
    }

    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let binaries = build_examples()?;
    let root = crate::ci::is_root();
    for demo in chosen {
        if demo.privileged && !root {
            eprintln!(
                "!!!!! SKIPPED (needs root): demo `{}` — its committed cast is kept; rerun as root: cargo xtask demo {}",
                demo.name, demo.name
            );
            continue;
        }
        let binary = binaries.get(demo.name).ok_or_else(|| {
            format!(
                "cargo built no example `{}`: is it in examples/Cargo.toml?",
                demo.name
            )
        })?;
        let cast = record(demo, binary)?;
        let path = dir.join(format!("{}.cast", demo.name));
        std::fs::write(&path, cast.to_asciicast())
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        eprintln!(
            "<== {}: {} events, {:.1}s, {}",
            path.display(),
            cast.len(),
            cast.duration().as_secs_f64(),
            size(&path)
        );
    }
    Ok(())
}

/// Records every command of `demo`, each after a prompt line showing it.
fn record(demo: &Demo, binary: &Path) -> Result<Cast, String> {
    eprintln!("==> recording {}", demo.name);
    let mut cast = Cast::new(WIDTH, HEIGHT, demo.title, cast::timestamp()?);
    let netns = demo.privileged.then(NetNs::create).transpose()?;
    for (i, (args, should_succeed)) in demo.commands.iter().enumerate() {
        if i > 0 {
            cast.wait(PROMPT_PAUSE);
        }
        let mut prompt = format!("$ cargo run -q --example {}", demo.name);
        if !args.is_empty() {
            prompt.push_str(" -- ");
            prompt.push_str(&args.join(" "));
        }
        eprintln!("    {prompt}");
        cast.output(format!("{prompt}\r\n").as_bytes());
        cast.wait(PROMPT_PAUSE);

        let command = match &netns {
            Some(ns) => ns.command(binary, args),
            None => {
                let mut command = Command::new(binary);
                command.args(*args);
                command
            }
        };
        let load = match (demo.load, &netns) {
            (Some(load), Some(ns)) => {
                let name = ns.0.clone();
                Some(std::thread::spawn(move || load(&name)))
            }
            _ => None,
        };
        let output = pty::run(terminal_env(command), WIDTH, HEIGHT)?;
        if let Some(load) = load {
            load.join()
                .map_err(|_| format!("the load of demo `{}` panicked", demo.name))??;
        }
        let mut last = Duration::ZERO;
        for chunk in &output.chunks {
            cast.wait(chunk.at.saturating_sub(last));
            last = chunk.at;
            cast.output(&chunk.bytes);
        }
        cast.flush();
        if output.status.success() != *should_succeed {
            let printed: Vec<u8> = output.chunks.iter().flat_map(|c| c.bytes.clone()).collect();
            return Err(format!(
                "`{prompt}` {} ({}); it printed:\n{}",
                if *should_succeed {
                    "failed"
                } else {
                    "succeeded but the demo shows it failing"
                },
                output.status,
                String::from_utf8_lossy(&printed)
            ));
        }
    }
    Ok(cast)
}

/// The environment a recorded command sees: a colour terminal of the recorded size, no log noise.
fn terminal_env(mut command: Command) -> Command {
    command
        .env("TERM", "xterm-256color")
        .env("COLUMNS", WIDTH.to_string())
        .env("LINES", HEIGHT.to_string())
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE")
        .current_dir(crate::project_root());
    command
}

/// Builds every example once; returns each example's executable by name.
fn build_examples() -> Result<BTreeMap<String, PathBuf>, String> {
    let args = [
        "build",
        "-p",
        "examples",
        "--examples",
        "--message-format=json-render-diagnostics",
    ];
    eprintln!("==> cargo {}", args.join(" "));
    let output = Command::new("cargo")
        .args(args)
        .current_dir(crate::project_root())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("could not start cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "building the examples failed ({}); rerun by hand: cargo {}",
            output.status,
            args.join(" ")
        ));
    }
    let mut binaries = BTreeMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let is_example = message["target"]["kind"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|k| k == "example"));
        if message["reason"] == "compiler-artifact"
            && is_example
            && let (Some(name), Some(exe)) = (
                message["target"]["name"].as_str(),
                message["executable"].as_str(),
            )
        {
            binaries.insert(name.to_owned(), PathBuf::from(exe));
        }
    }
    Ok(binaries)
}

/// The example names declared in `examples/Cargo.toml` (`name = "..."` under `[[example]]`).
fn example_names() -> Result<Vec<String>, String> {
    let path = crate::project_root().join("examples").join("Cargo.toml");
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let mut names = Vec::new();
    let mut in_example = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_example = line == "[[example]]";
        } else if in_example && let Some(value) = line.strip_prefix("name") {
            let name = value
                .trim_start()
                .trim_start_matches('=')
                .trim()
                .trim_matches('"');
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

fn check_every_example_has_a_demo() -> Result<(), String> {
    let missing: Vec<String> = example_names()?
        .into_iter()
        .filter(|name| !DEMOS.iter().any(|d| d.name == name))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "examples without a demo: {} (add them to DEMOS in xtask/src/demo.rs)",
            missing.join(", ")
        ))
    }
}

/// A network namespace made for one demo, removed when dropped.
struct NetNs(String);

impl NetNs {
    fn create() -> Result<NetNs, String> {
        let name = format!("flywheel-demo-{}", std::process::id());
        crate::cmd::Step::new("netns", "ip", &["netns", "add", &name]).run()?;
        Ok(NetNs(name))
    }

    /// `ip netns exec NAME binary args...`.
    fn command(&self, binary: &Path, args: &[&str]) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.0])
            .arg(binary)
            .args(args);
        command
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if let Err(e) = crate::cmd::Step::new("netns", "ip", &["netns", "del", &self.0]).run() {
            eprintln!("demo: could not remove network namespace {}: {e}", self.0);
        }
    }
}

/// `3.2 KiB`.
fn size(path: &Path) -> String {
    match std::fs::metadata(path) {
        Ok(m) => format!("{:.1} KiB", m.len() as f64 / 1024.0),
        Err(e) => format!("size unknown: {e}"),
    }
}

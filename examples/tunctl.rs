//! `ip tuntap` in a few lines of flywheel: add, delete and show TUN/TAP devices.
//!
//! ```text
//! cargo run --example tunctl -- add fly0 [--mode tun|tap] [--user NAME|ID] [--group NAME|ID] \
//!                                 [--pi] [--vnet-hdr] [--multi-queue N]
//! cargo run --example tunctl -- del fly0
//! cargo run --example tunctl -- show
//! ```
//!
//! `add` makes a persistent device (as `ip tuntap add` does); `del` removes it. Needs
//! CAP_NET_ADMIN (root). Every mistake is a typed error, printed with its context.

use std::process::ExitCode;

use tuntap::{Device, Mode};

#[allow(
    clippy::print_stdout,
    reason = "a command-line tool prints its results"
)]
fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("add") => add(&args[1..]),
        Some("del") | Some("delete") => match args.get(1) {
            Some(name) => Device::delete(name).map_err(|e| e.to_string()),
            None => Err("del needs a device name".to_owned()),
        },
        Some("show") | Some("list") | None => show(),
        Some(other) => Err(format!("unknown command `{other}`: use add, del or show")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tunctl: {e}");
            ExitCode::FAILURE
        }
    }
}

fn add(args: &[String]) -> Result<(), String> {
    let (name, flags) = args.split_first().ok_or("add needs a device name")?;
    let mut builder = Device::builder().name(name.as_str()).persist(true);
    let mut it = flags.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        builder = match flag.as_str() {
            "--mode" => match value()?.as_str() {
                "tun" => builder.mode(Mode::Tun),
                "tap" => builder.mode(Mode::Tap),
                other => return Err(format!("--mode is tun or tap, not `{other}`")),
            },
            "--user" => builder.user(principal(value()?)),
            "--group" => builder.group(principal(value()?)),
            "--pi" => builder.pi(true),
            "--vnet-hdr" => builder.vnet_hdr(true),
            "--multi-queue" => {
                let queues = value()?;
                builder.multi_queue(
                    queues
                        .parse()
                        .map_err(|_| format!("--multi-queue takes a number, not `{queues}`"))?,
                )
            }
            other => return Err(format!("unknown flag `{other}`")),
        };
    }
    let device = builder.create().map_err(|e| e.to_string())?;
    #[allow(
        clippy::print_stdout,
        reason = "a command-line tool prints its results"
    )]
    {
        println!("created {} (persistent)", device.name());
    }
    Ok(())
}

/// A user or group given as a number is an id, anything else a name.
fn principal(value: &str) -> tuntap::Principal {
    match value.parse::<u32>() {
        Ok(id) => id.into(),
        Err(_) => value.into(),
    }
}

#[allow(
    clippy::print_stdout,
    reason = "a command-line tool prints its results"
)]
fn show() -> Result<(), String> {
    for dev in tuntap::list().map_err(|e| e.to_string())? {
        let mut flags = vec![match dev.mode {
            Mode::Tun => "tun",
            Mode::Tap => "tap",
        }];
        if !dev.pi {
            flags.push("no_pi");
        }
        if dev.vnet_hdr {
            flags.push("vnet_hdr");
        }
        if dev.multi_queue {
            flags.push("multi_queue");
        }
        if dev.persist {
            flags.push("persist");
        }
        let mut line = format!("{}: {}", dev.name, flags.join(" "));
        if let Some(uid) = dev.owner {
            line.push_str(&format!(" user {uid}"));
        }
        if let Some(gid) = dev.group {
            line.push_str(&format!(" group {gid}"));
        }
        if dev.multi_queue {
            line.push_str(&format!(" queues {}", dev.queues));
        }
        if !dev.processes.is_empty() {
            let attached: Vec<String> = dev
                .processes
                .iter()
                .map(|p| format!("{}({})", p.comm, p.pid))
                .collect();
            line.push_str(&format!(" attached: {}", attached.join(" ")));
        }
        println!("{line}");
    }
    Ok(())
}

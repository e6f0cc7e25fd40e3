//! `ip tuntap` in a few lines of flywheel: add, delete and show TUN/TAP devices, with the same
//! arguments as `ip tuntap`.
//!
//! ```text
//! cargo run --example tunctl -- add dev tun0 mode tun user 1000 multi_queue
//! cargo run --example tunctl -- add name tap%d mode tap group netdev vnet_hdr pi
//! cargo run --example tunctl -- show            # same lines as `ip tuntap show`
//! cargo run --example tunctl -- -d show         # and the attached processes, as `ip -d`
//! cargo run --example tunctl -- del dev tun0 mode tun
//! ```
//!
//! `add` makes a persistent device, as `ip tuntap add` does; `del` removes it and, like `ip`,
//! needs the mode (which must match the device). `one_queue` is accepted and has had no effect
//! since Linux 3.8. Needs CAP_NET_ADMIN (root). Every mistake is a typed error, printed with
//! its context. `help`, `-h` or `--help` prints the usage on stdout; a non-UTF-8 argument is a
//! usage error (exit status 2).

use std::process::ExitCode;

use tuntap::{Device, DeviceBuilder, Mode};

/// What the command line asks for, parsed from `ip tuntap`'s grammar.
#[derive(Debug, Default)]
struct Request {
    name: Option<String>,
    mode: Option<Mode>,
    user: Option<String>,
    group: Option<String>,
    one_queue: bool,
    pi: bool,
    vnet_hdr: bool,
    multi_queue: bool,
}

#[allow(clippy::print_stdout, reason = "help prints the usage")]
fn main() -> ExitCode {
    let mut args = Vec::new();
    for arg in std::env::args_os().skip(1) {
        match arg.into_string() {
            Ok(arg) => args.push(arg),
            Err(arg) => {
                eprintln!(
                    "tunctl: argument `{}` is not valid UTF-8\n{USAGE}",
                    arg.to_string_lossy()
                );
                return ExitCode::from(2);
            }
        }
    }
    let details = matches!(args.first().map(String::as_str), Some("-d" | "-details"));
    if details {
        args.remove(0);
    }
    let command = args.first().cloned().unwrap_or_else(|| "show".to_owned());
    if matches!(command.as_str(), "help" | "-h" | "--help")
        || args.iter().any(|arg| arg == "-h" || arg == "--help")
    {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let result =
        parse(args.get(1..).unwrap_or_default()).and_then(|request| match command.as_str() {
            "add" => add(&request),
            "del" | "delete" => del(&request),
            "show" | "list" | "lst" => show(&request, details),
            other => Err(format!(
                "unknown command `{other}`: use add, del, show or help"
            )),
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tunctl: {e}");
            eprintln!("{USAGE}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: tunctl [-d] { add | del | show | list | lst | help } [ dev PHYS_DEV ]
       [ mode { tun | tap } ] [ user USER ] [ group GROUP ]
       [ one_queue ] [ pi ] [ vnet_hdr ] [ multi_queue ] [ name NAME ]";

/// Parses `ip tuntap`'s words: `dev NAME` and `name NAME` are the same, later words win.
fn parse(words: &[String]) -> Result<Request, String> {
    let mut request = Request::default();
    let mut it = words.iter();
    while let Some(word) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("`{word}` needs a value"))
        };
        match word.as_str() {
            "dev" | "name" => request.name = Some(value()?),
            "mode" => {
                request.mode = Some(match value()?.as_str() {
                    "tun" => Mode::Tun,
                    "tap" => Mode::Tap,
                    other => return Err(format!("mode is tun or tap, not `{other}`")),
                })
            }
            "user" => request.user = Some(value()?),
            "group" => request.group = Some(value()?),
            "one_queue" => request.one_queue = true,
            "pi" => request.pi = true,
            "vnet_hdr" => request.vnet_hdr = true,
            "multi_queue" => request.multi_queue = true,
            // A bare word is the device name, as `ip tuntap del tun0 mode tun` allows.
            other if request.name.is_none() && !other.starts_with('-') => {
                request.name = Some(other.to_owned())
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(request)
}

fn add(request: &Request) -> Result<(), String> {
    let mode = request
        .mode
        .ok_or("add: you failed to specify a tunnel mode (mode tun|tap)")?;
    let mut builder: DeviceBuilder = Device::builder()
        .mode(mode)
        .pi(request.pi)
        .vnet_hdr(request.vnet_hdr)
        .one_queue(request.one_queue)
        .persist(true);
    if let Some(name) = &request.name {
        builder = builder.name(name.as_str());
    }
    if let Some(user) = &request.user {
        builder = builder.user(principal(user));
    }
    if let Some(group) = &request.group {
        builder = builder.group(principal(group));
    }
    if request.multi_queue {
        builder = builder.multi_queue(1);
    }
    // `create`, not `open`: like `ip tuntap add`, an existing name is an error (EBUSY).
    let device = builder.create().map_err(|e| e.to_string())?;
    eprintln!("created {} (persistent)", device.name());
    Ok(())
}

fn del(request: &Request) -> Result<(), String> {
    let name = request.name.as_deref().ok_or("del needs `dev NAME`")?;
    let mode = request
        .mode
        .ok_or("del: you failed to specify a tunnel mode (mode tun|tap)")?;
    let info = tuntap::lookup(name).map_err(|e| e.to_string())?;
    if info.mode != mode {
        return Err(format!("{name} is a {} device, not {mode}", info.mode));
    }
    Device::delete(name).map_err(|e| e.to_string())
}

/// A user or group given as a number is an id, anything else a name.
fn principal(value: &str) -> tuntap::Principal {
    match value.parse::<u32>() {
        Ok(id) => id.into(),
        Err(_) => value.into(),
    }
}

/// Every device (or the one named, or those of one mode), one line each as `ip tuntap show`.
#[allow(
    clippy::print_stdout,
    reason = "a command-line tool prints its results"
)]
fn show(request: &Request, details: bool) -> Result<(), String> {
    for dev in tuntap::list().map_err(|e| e.to_string())? {
        if request.name.as_ref().is_some_and(|n| *n != dev.name)
            || request.mode.is_some_and(|m| m != dev.mode)
        {
            continue;
        }
        if details {
            println!("{dev:#}");
        } else {
            println!("{dev}");
        }
    }
    Ok(())
}

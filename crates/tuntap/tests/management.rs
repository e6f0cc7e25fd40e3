//! Management: create, attach, persist, delete, list, multi-queue and the typed errors.
//! Every test runs in its own network namespace (see `common`).

mod common;

use std::os::unix::ffi::OsStrExt;

use common::{TestNetns, eventually, private_dev_net, privileged};
use tuntap::{Device, Error, Mode, Offload};

#[test]
fn create_persist_attach_and_delete() {
    if !privileged("create_persist_attach_and_delete") {
        return;
    }
    let ns = TestNetns::new();
    ns.run(|| {
        let dev = Device::builder()
            .name("fly0")
            .persist(true)
            .user("root")
            .group(0)
            .open()
            .unwrap();
        assert_eq!(dev.name(), "fly0");
        assert_eq!(dev.mode(), Mode::Tun);
        let info = tuntap::lookup("fly0").unwrap();
        assert!(info.persist);
        assert_eq!(info.owner, Some(0));
        assert_eq!(info.group, Some(0));
        assert_eq!(info.queues, 1);
        assert!(
            info.processes.iter().any(|p| p.pid == std::process::id()),
            "{info:?}"
        );
        drop(dev);

        // Persistent: still there with no queue attached. The close is final only once no
        // child forked by a parallel test still holds a copy of the descriptor: poll.
        assert!(eventually(500, || tuntap::lookup("fly0").unwrap().queues == 0));

        // Attach with matching flags works; mismatches are typed errors naming the flag.
        let again = Device::builder().name("fly0").attach().unwrap();
        assert_eq!(tuntap::lookup("fly0").unwrap().queues, 1);
        assert!(matches!(
            Device::builder().name("fly0").attach(),
            Err(Error::Busy { .. })
        ));
        drop(again);
        assert!(eventually(500, || tuntap::lookup("fly0").unwrap().queues == 0));
        for (builder, flag) in [
            (Device::builder().name("fly0").mode(Mode::Tap), "mode"),
            (Device::builder().name("fly0").vnet_hdr(true), "vnet_hdr"),
            (Device::builder().name("fly0").pi(true), "pi"),
            (Device::builder().name("fly0").multi_queue(2), "multi_queue"),
        ] {
            match builder.attach() {
                Err(Error::FlagMismatch { flag: f, name, .. }) => {
                    assert_eq!((f, name.as_str()), (flag, "fly0"));
                }
                other => panic!("expected a {flag} mismatch, got {other:?}"),
            }
        }
        assert!(matches!(
            Device::builder().name("fly0").create(),
            Err(Error::Busy { .. })
        ));

        Device::delete("fly0").unwrap();
        assert!(eventually(500, || matches!(
            tuntap::lookup("fly0"),
            Err(Error::NotFound { .. })
        )));
        assert!(matches!(
            Device::delete("fly0"),
            Err(Error::NotFound { .. })
        ));
    });
}

#[test]
fn non_persistent_device_goes_away_with_its_queue() {
    if !privileged("non_persistent_device_goes_away_with_its_queue") {
        return;
    }
    let ns = TestNetns::new();
    ns.run(|| {
        let dev = Device::builder()
            .name("flyx%d")
            .mode(Mode::Tap)
            .create()
            .unwrap();
        let name = dev.name().to_owned();
        assert!(
            name.starts_with("flyx") && name[4..].parse::<u32>().is_ok(),
            "{name}"
        );
        let info = tuntap::lookup(&name).unwrap();
        assert_eq!(info.mode, Mode::Tap);
        assert!(!info.persist && !info.pi && !info.vnet_hdr && !info.multi_queue);
        drop(dev);
        assert!(eventually(500, || matches!(
            tuntap::lookup(&name),
            Err(Error::NotFound { .. })
        )));
    });
}

#[test]
fn list_reports_every_device_with_its_flags() {
    if !privileged("list_reports_every_device_with_its_flags") {
        return;
    }
    let ns = TestNetns::new();
    ns.run(|| {
        let a = Device::builder().name("flya").pi(true).open().unwrap();
        let b = Device::builder()
            .name("flyb")
            .mode(Mode::Tap)
            .vnet_hdr(true)
            .multi_queue(2)
            .open()
            .unwrap();
        let all = tuntap::list().unwrap();
        let names: Vec<&str> = all.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["flya", "flyb"], "loopback is not a tun device");
        assert!(all[0].pi && all[0].mode == Mode::Tun && all[0].queues == 1);
        assert!(all[1].vnet_hdr && all[1].multi_queue && all[1].queues == 2);
        assert!(all[1].processes.iter().any(|p| p.pid == std::process::id()));
        drop((a, b));
        assert!(eventually(500, || tuntap::list().unwrap().is_empty()));
        // `lo` exists but is not TUN/TAP.
        assert!(matches!(tuntap::lookup("lo"), Err(Error::NotTunTap { .. })));
    });
    // list_in looks into the namespace from outside.
    ns.run(|| {
        Device::builder()
            .name("flyc")
            .persist(true)
            .open()
            .map(drop)
    })
    .unwrap();
    let inside = tuntap::list_in(&ns.netns).unwrap();
    assert_eq!(inside.len(), 1);
    assert!(inside[0].persist);
    Device::delete_in(&ns.netns, "flyc").unwrap();
    assert!(eventually(500, || tuntap::list_in(&ns.netns)
        .unwrap()
        .is_empty()));
}

/// Linux allows any bytes but `/`, NUL and whitespace in an interface name; a name that is not
/// UTF-8 cannot be a `String`. Such a link is skipped, and every other device is still listed
/// (it used to fail the whole dump).
#[test]
fn list_skips_a_link_whose_name_is_not_utf8() {
    if !privileged("list_skips_a_link_whose_name_is_not_utf8") {
        return;
    }
    let ns = TestNetns::new();
    // A TUN device, so that the test needs no other link driver (no `dummy` module here).
    let status = std::process::Command::new("ip")
        .args(["-n", &ns.name, "tuntap", "add", "dev"])
        .arg(std::ffi::OsStr::from_bytes(b"\xff\xfe"))
        .args(["mode", "tun"])
        .status()
        .expect("run ip");
    assert!(status.success(), "ip tuntap add dev $'\\xff\\xfe'");
    ns.ip(&["tuntap", "add", "dev", "flyok", "mode", "tap"]);
    let names = |list: tuntap::Result<Vec<tuntap::DeviceInfo>>| -> Vec<String> {
        list.expect("list").into_iter().map(|d| d.name).collect()
    };
    assert_eq!(names(tuntap::list_in(&ns.netns)), ["flyok"]);
    assert_eq!(ns.run(|| names(tuntap::list())), ["flyok"]);
    // The lookup of a device by its (UTF-8) name is unaffected.
    let ok = ns.run(|| tuntap::lookup("flyok")).expect("lookup");
    assert_eq!(ok.mode, Mode::Tap);
    Device::delete_in(&ns.netns, "flyok").unwrap();
    assert!(eventually(500, || tuntap::list_in(&ns.netns)
        .unwrap()
        .is_empty()));
}

/// Golden comparison: for devices made by `ip tuntap add` and by our builder alike, the lines
/// of `ip tuntap show` equal our `list_in` printed with `Display`.
#[test]
fn list_matches_ip_tuntap_show() {
    if !privileged("list_matches_ip_tuntap_show") {
        return;
    }
    let ns = TestNetns::new();
    ns.ip(&["tuntap", "add", "dev", "ipa", "mode", "tun"]);
    ns.ip(&[
        "tuntap", "add", "dev", "ipb", "mode", "tap", "pi", "user", "1000", "group", "100",
    ]);
    ns.ip(&[
        "tuntap",
        "add",
        "dev",
        "ipc",
        "mode",
        "tun",
        "vnet_hdr",
        "multi_queue",
    ]);
    ns.run(|| {
        Device::builder()
            .name("flyd")
            .mode(Mode::Tap)
            .vnet_hdr(true)
            .user(1234u32)
            .persist(true)
            .open()
            .map(drop)
            .unwrap();
        Device::builder()
            .name("flye")
            .pi(true)
            .group(0u32)
            .multi_queue(2)
            .persist(true)
            .open()
            .map(drop)
            .unwrap();
    });
    let ours: Vec<String> = tuntap::list_in(&ns.netns)
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut theirs: Vec<String> = ns
        .ip(&["tuntap", "show"])
        .lines()
        .map(str::to_owned)
        .collect();
    theirs.sort();
    assert_eq!(ours, theirs);
    assert_eq!(ours.len(), 5, "{ours:?}");
    for name in ["ipa", "ipb", "ipc", "flyd", "flye"] {
        Device::delete_in(&ns.netns, name).unwrap();
    }
}

#[test]
fn multi_queue_attach_detach_and_add() {
    if !privileged("multi_queue_attach_detach_and_add") {
        return;
    }
    let ns = TestNetns::new();
    ns.run(|| {
        let mut dev = Device::builder()
            .name("flymq")
            .multi_queue(3)
            .open()
            .unwrap();
        assert_eq!(dev.queues().len(), 3);
        assert_eq!(tuntap::lookup("flymq").unwrap().queues, 3);
        dev.queues()[1].detach().unwrap();
        let info = tuntap::lookup("flymq").unwrap();
        assert_eq!((info.queues, info.disabled_queues), (2, 1));
        assert!(
            dev.queues()[1].detach().is_err(),
            "detaching twice is refused"
        );
        dev.queues()[1].attach().unwrap();
        dev.add_queue().unwrap();
        assert_eq!(tuntap::lookup("flymq").unwrap().queues, 4);
        let queues = dev.into_queues();
        assert_eq!(queues.len(), 4);
        // A single-queue device refuses TUNSETQUEUE and extra queues.
        let mut single = Device::builder().name("flysq").open().unwrap();
        assert!(single.detach().is_err());
        assert!(matches!(
            single.add_queue(),
            Err(Error::FlagMismatch {
                flag: "multi_queue",
                ..
            })
        ));
    });
}

#[test]
fn device_in_named_netns_without_ip_netns_exec() {
    if !privileged("device_in_named_netns_without_ip_netns_exec") {
        return;
    }
    let ns = TestNetns::new();
    // From the test's own thread (host namespace): the device lands in `ns`.
    let dev = Device::builder()
        .name("flyns")
        .netns(ns.netns.clone())
        .open()
        .unwrap();
    assert!(ns.ip(&["link", "show", "flyns"]).contains("flyns"));
    assert!(matches!(
        tuntap::lookup("flyns"),
        Err(Error::NotFound { .. })
    ));
    let link = dev.link().unwrap();
    link.up().unwrap();
    assert!(link.is_up().unwrap());
    drop(link);
    drop(dev);
    assert!(eventually(500, || !ns.ip(&["link"]).contains("flyns")));
}

#[test]
fn vnet_hdr_device_takes_offloads() {
    if !privileged("vnet_hdr_device_takes_offloads") {
        return;
    }
    let ns = TestNetns::new();
    ns.run(|| {
        let dev = Device::builder()
            .name("flyvn")
            .offload(Offload::TCP)
            .open()
            .unwrap();
        assert!(dev.has_vnet_hdr());
        let applied = dev
            .set_offload(Offload::TCP | Offload::USO4 | Offload::USO6)
            .unwrap();
        assert!(applied.contains(Offload::TCP));
        dev.set_offload(Offload::NONE).unwrap();
        let plain = Device::builder().name("flypl").open().unwrap();
        assert!(matches!(
            plain.set_offload(Offload::CSUM),
            Err(Error::FlagMismatch { .. })
        ));
    });
}

#[test]
fn bad_input_is_a_typed_error() {
    if !privileged("bad_input_is_a_typed_error") {
        return;
    }
    let ns = TestNetns::new();
    ns.run(|| {
        for name in ["a-name-far-too-long", "a/b", "", "..", "a b"] {
            assert!(
                matches!(
                    Device::builder().name(name).open(),
                    Err(Error::InvalidName { .. })
                ),
                "{name:?}"
            );
        }
        assert!(matches!(
            Device::builder()
                .name("fly0")
                .user("no-such-user-flywheel")
                .open(),
            Err(Error::UnknownUser { .. })
        ));
        assert!(matches!(
            Device::builder()
                .name("fly0")
                .group("no-such-group-flywheel")
                .open(),
            Err(Error::UnknownGroup { .. })
        ));
        assert!(matches!(
            Device::builder().name("nope0").attach(),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            Device::builder().attach(),
            Err(Error::InvalidName { .. })
        ));
        assert!(matches!(
            tuntap::lookup("no/pe"),
            Err(Error::InvalidName { .. })
        ));
        // A descriptor that is not a TUN/TAP file.
        let null = std::fs::File::open("/dev/null").unwrap();
        assert!(matches!(
            Device::from_fd(null.into()),
            Err(Error::BadFd { .. })
        ));
        // An unattached /dev/net/tun file.
        let tun = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/net/tun")
            .unwrap();
        assert!(matches!(
            Device::from_fd(tun.into()),
            Err(Error::BadFd { .. })
        ));
        // No device was left behind by any of this.
        assert!(eventually(500, || tuntap::list().unwrap().is_empty()));
    });
}

#[test]
fn opening_without_cap_net_admin_is_permission_denied() {
    if !privileged("opening_without_cap_net_admin_is_permission_denied") {
        return;
    }
    let ns = TestNetns::new();
    ns.run(|| {
        // A persistent device owned by uid 4242, made while privileged.
        Device::builder()
            .name("flyown")
            .persist(true)
            .user(4242)
            .open()
            .map(drop)
            .unwrap();
        assert!(eventually(500, || tuntap::lookup("flyown").unwrap().queues == 0));
        // Capabilities are per thread: drop CAP_NET_ADMIN in a scoped thread only.
        on_own_thread(|| {
            tuntap::sys::drop_net_admin_in_this_thread().unwrap();
            assert_denied(Device::builder().name("flynew").open(), "TUNSETIFF");
            assert_denied(Device::builder().name("flyown").attach(), "TUNSETIFF");
        });
        Device::delete("flyown").unwrap();
    });
}

#[test]
fn a_missing_dev_net_tun_is_a_typed_error() {
    if !privileged("a_missing_dev_net_tun_is_a_typed_error") {
        return;
    }
    let ns = TestNetns::new();
    ns.run(|| {
        on_own_thread(|| {
            private_dev_net(None);
            let err = Device::builder().name("fly0").open().unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::NoTunDriver {
                        path: "/dev/net/tun",
                        ..
                    }
                ),
                "{err:?}"
            );
            assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
            assert!(err.to_string().contains("modprobe tun"), "{err}");
            let err = tuntap::features().unwrap_err();
            assert!(matches!(err, Error::NoTunDriver { .. }), "{err:?}");
        });
        // Nothing was made.
        assert!(tuntap::list().unwrap().is_empty());
    });
}

#[test]
fn the_owner_attaches_as_an_ordinary_user() {
    // Privilege separation as `ip tuntap add ... user U group G` intends it: root makes
    // persistent devices, then a process running as U (no capabilities) attaches to the
    // devices it owns or whose group it is in, and to no other.
    if !privileged("the_owner_attaches_as_an_ordinary_user") {
        return;
    }
    const USER: u32 = 4242;
    const GROUP: u32 = 4343;
    let ns = TestNetns::new();
    ns.run(|| {
        let make = |name: &str, user: Option<u32>, group: Option<u32>| {
            let mut builder = Device::builder().name(name).persist(true);
            if let Some(uid) = user {
                builder = builder.user(uid);
            }
            if let Some(gid) = group {
                builder = builder.group(gid);
            }
            builder.open().map(drop).unwrap();
        };
        make("flyown", Some(USER), None);
        make("flygrp", None, Some(GROUP));
        make("flyother", Some(USER + 1), Some(GROUP + 1));
        assert!(eventually(500, || {
            tuntap::list().unwrap().iter().all(|d| d.queues == 0)
        }));
        on_own_thread(|| {
            // The node must be usable by others, as it is on most distributions
            // (this machine's is 0600).
            private_dev_net(Some(0o666));
            tuntap::sys::become_user_in_this_thread(USER, GROUP).unwrap();
            assert_eq!(nix::unistd::geteuid().as_raw(), USER);

            let own = Device::builder().name("flyown").attach().unwrap();
            assert_eq!(own.name(), "flyown");
            let by_group = Device::builder().name("flygrp").attach().unwrap();
            assert_eq!(by_group.name(), "flygrp");
            assert_denied(Device::builder().name("flyother").attach(), "TUNSETIFF");
            // Nor may an ordinary user make a new device.
            assert_denied(Device::builder().name("flynew").open(), "TUNSETIFF");
        });
        for name in ["flyown", "flygrp", "flyother"] {
            Device::delete(name).unwrap();
        }
        assert!(eventually(500, || tuntap::list().unwrap().is_empty()));
    });
}

#[test]
fn features_probe_reports_the_driver() {
    if !privileged("features_probe_reports_the_driver") {
        return;
    }
    let f = tuntap::features().unwrap();
    assert!(
        f.tun() && f.tap() && f.no_pi() && f.vnet_hdr() && f.multi_queue(),
        "{f:?}"
    );
}

/// Runs `f` on a thread of its own, whose capabilities, credentials or mounts it may change
/// without touching the rest of the process, and waits for it.
fn on_own_thread(f: impl FnOnce() + Send) {
    std::thread::scope(|s| s.spawn(f).join().unwrap());
}

/// Asserts that `result` is a permission refusal of `op`.
fn assert_denied(result: tuntap::Result<Device>, op: &str) {
    match result {
        Err(Error::PermissionDenied { op: denied, .. }) if denied == op => {}
        other => panic!("expected {op} to be refused, got {other:?}"),
    }
}

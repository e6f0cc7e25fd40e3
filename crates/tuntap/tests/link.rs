//! Link configuration over netlink: up/down, MTU, txqueuelen, addresses, routes, namespaces
//! and link events. Checked against `ip` itself.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use common::{TestNetns, eventually, privileged};
use tuntap::{Device, Error, Link, LinkEventKind, LinkEvents, Route};

#[test]
fn up_down_mtu_txqueuelen() {
    if !privileged("up_down_mtu_txqueuelen") {
        return;
    }
    let ns = TestNetns::new();
    ns.run(|| {
        let dev = Device::builder().name("flyl0").open().unwrap();
        let link = dev.link().unwrap();
        assert!(!link.is_up().unwrap());
        link.up().unwrap();
        assert!(link.is_up().unwrap());
        link.set_mtu(1280).unwrap();
        assert_eq!(link.mtu().unwrap(), 1280);
        link.set_txqueuelen(77).unwrap();
        assert!(ns.ip(&["link", "show", "flyl0"]).contains("qlen 77"));
        link.down().unwrap();
        assert!(!link.is_up().unwrap());
        assert!(
            matches!(link.set_mtu(10), Err(Error::Netlink { .. })),
            "MTU below the minimum"
        );
        assert!(matches!(Link::open("nope0"), Err(Error::NotFound { .. })));
    });
}

#[test]
fn the_builder_sets_txqueuelen() {
    if !privileged("the_builder_sets_txqueuelen") {
        return;
    }
    let ns = TestNetns::new();
    ns.run(|| {
        let _dev = Device::builder()
            .name("flyl9")
            .txqueuelen(2000)
            .open()
            .unwrap();
        assert!(ns.ip(&["link", "show", "flyl9"]).contains("qlen 2000"));
        // Without the option the kernel's default stays.
        let _other = Device::builder().name("flyl8").open().unwrap();
        assert!(ns.ip(&["link", "show", "flyl8"]).contains("qlen 500"));
    });
}

#[test]
fn addresses_and_routes() {
    if !privileged("addresses_and_routes") {
        return;
    }
    let ns = TestNetns::new();
    ns.run(|| {
        let dev = Device::builder().name("flyl1").open().unwrap();
        let link = dev.link().unwrap();
        link.up().unwrap();
        let v4: IpAddr = Ipv4Addr::new(10, 78, 0, 1).into();
        let v6: IpAddr = "fd00:78::1".parse::<Ipv6Addr>().unwrap().into();
        link.add_address(v4, 24).unwrap();
        link.add_address(v6, 64).unwrap();
        let addrs = link.addresses().unwrap();
        assert!(
            addrs.contains(&(v4, 24)) && addrs.contains(&(v6, 64)),
            "{addrs:?}"
        );
        assert!(
            matches!(link.add_address(v4, 24), Err(Error::Netlink { .. })),
            "EEXIST"
        );
        assert!(
            ns.ip(&["addr", "show", "flyl1"]).contains("10.78.0.255"),
            "broadcast set"
        );

        let gw: IpAddr = Ipv4Addr::new(10, 78, 0, 2).into();
        link.add_route(
            &Route::new(Ipv4Addr::new(10, 79, 0, 0).into(), 16)
                .via(gw)
                .metric(42),
        )
        .unwrap();
        link.add_route(&Route::default_v4().via(gw).table(100))
            .unwrap();
        link.add_route(
            &Route::new("fd00:79::".parse::<Ipv6Addr>().unwrap().into(), 48).table(1000),
        )
        .unwrap();
        link.add_route(&Route::default_v6().metric(7)).unwrap();
        let main = ns.ip(&["route", "show"]);
        assert!(
            main.contains("10.79.0.0/16 via 10.78.0.2 dev flyl1") && main.contains("metric 42"),
            "{main}"
        );
        assert!(
            ns.ip(&["route", "show", "table", "100"])
                .contains("default via 10.78.0.2 dev flyl1")
        );
        assert!(
            ns.ip(&["-6", "route", "show", "table", "1000"])
                .contains("fd00:79::/48 dev flyl1")
        );
        let v6 = ns.ip(&["-6", "route", "show", "default"]);
        assert!(
            v6.contains("default dev flyl1") && v6.contains("metric 7"),
            "{v6}"
        );

        link.del_route(&Route::default_v4().via(gw).table(100))
            .unwrap();
        assert!(
            !ns.ip(&["route", "show", "table", "100"])
                .contains("default")
        );
        link.del_address(v4, 24).unwrap();
        assert!(!link.addresses().unwrap().contains(&(v4, 24)));
        assert!(link.del_address(v4, 24).is_err());
    });
}

#[test]
fn move_to_another_namespace() {
    if !privileged("move_to_another_namespace") {
        return;
    }
    let a = TestNetns::new();
    let b = TestNetns::new();
    let dev = Device::builder()
        .name("flymv")
        .netns(a.netns.clone())
        .open()
        .unwrap();
    dev.link().unwrap().set_netns(&b.netns).unwrap();
    assert!(b.ip(&["link", "show", "flymv"]).contains("flymv"));
    assert!(b.run(|| tuntap::lookup("flymv")).is_ok());
    assert!(matches!(
        a.run(|| tuntap::lookup("flymv")),
        Err(Error::NotFound { .. })
    ));
    // Still usable: the queue follows the device.
    let link = Link::open_in(&b.netns, "flymv").unwrap();
    link.up().unwrap();
    drop(dev);
    assert!(eventually(500, || !b.ip(&["link"]).contains("flymv")));
}

#[test]
fn link_events_stream() {
    if !privileged("link_events_stream") {
        return;
    }
    let ns = TestNetns::new();
    let mut events = LinkEvents::subscribe_in(&ns.netns).unwrap();
    let dev = Device::builder()
        .name("flyev")
        .netns(ns.netns.clone())
        .open()
        .unwrap();
    dev.link().unwrap().up().unwrap();
    let mut saw_new = false;
    let mut saw_up = false;
    for _ in 0..50 {
        let Some(ev) = events.next_timeout(Duration::from_secs(5)).unwrap() else {
            break;
        };
        if ev.name == "flyev" && ev.kind == LinkEventKind::Changed {
            saw_new = true;
            saw_up |= ev.up;
        }
        if saw_new && saw_up {
            break;
        }
    }
    assert!(saw_new && saw_up);
    drop(dev);
    let mut saw_removed = false;
    for _ in 0..50 {
        let Some(ev) = events.next_timeout(Duration::from_secs(5)).unwrap() else {
            break;
        };
        if ev.name == "flyev" && ev.kind == LinkEventKind::Removed {
            saw_removed = true;
            break;
        }
    }
    assert!(saw_removed);
}

#[cfg(feature = "async")]
#[tokio::test(flavor = "current_thread")]
async fn link_events_awaited_on_tokio() {
    if !privileged("link_events_awaited_on_tokio") {
        return;
    }
    let ns = TestNetns::new();
    let mut events = LinkEvents::subscribe_in(&ns.netns).unwrap();
    // Nothing happened yet: the wait is pending, and dropping it loses nothing.
    assert!(
        tokio::time::timeout(Duration::from_millis(50), events.next_async())
            .await
            .is_err()
    );
    let dev = Device::builder()
        .name("flyaev")
        .netns(ns.netns.clone())
        .open()
        .unwrap();
    dev.link().unwrap().up().unwrap();
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(10), events.next_async())
            .await
            .expect("an event within the bound")
            .unwrap()
    };
    let mut saw_up = false;
    for _ in 0..50 {
        let ev = next().await;
        if ev.name == "flyaev" && ev.kind == LinkEventKind::Changed && ev.up {
            saw_up = true;
            break;
        }
    }
    assert!(saw_up, "the device came up");
    drop(dev);
    let mut saw_removed = false;
    for _ in 0..50 {
        let ev = next().await;
        if ev.name == "flyaev" && ev.kind == LinkEventKind::Removed {
            saw_removed = true;
            break;
        }
    }
    assert!(saw_removed, "the device went away");
}

#[cfg(feature = "async")]
#[test]
fn link_events_await_needs_a_runtime() {
    if !privileged("link_events_await_needs_a_runtime") {
        return;
    }
    let mut events = LinkEvents::subscribe().unwrap();
    let result = spin_until_ready(events.next_async());
    assert!(matches!(result, Err(Error::NoRuntime { .. })), "{result:?}");
}

/// Polls a future to completion on this thread, without any tokio runtime.
#[cfg(feature = "async")]
fn spin_until_ready<F: std::future::Future>(future: F) -> F::Output {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

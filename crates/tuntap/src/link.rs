//! [`Link`]: configure an interface over rtnetlink (up/down, addresses, MTU, routes, namespace)
//! and [`LinkEvents`], a stream of link changes. All blocking; no async runtime needed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::error::{Error, Result};
use crate::netlink::{NlSocket, RTMGRP_LINK};
use crate::netns::Netns;

/// `RT_TABLE_MAIN`: the table routes go to unless told otherwise.
const RT_TABLE_MAIN: u32 = 254;

/// A network interface, configured over a netlink socket bound to its namespace.
///
/// # Examples
///
/// ```no_run
/// use std::net::Ipv4Addr;
/// use tuntap::{Device, Route};
///
/// let dev = Device::builder().name("fly0").open()?;
/// let link = dev.link()?;
/// link.set_mtu(1400)?;
/// link.add_address(Ipv4Addr::new(10, 7, 0, 1).into(), 24)?;
/// link.up()?;
/// link.add_route(&Route::new(Ipv4Addr::new(10, 8, 0, 0).into(), 16).metric(50))?;
/// # Ok::<(), tuntap::Error>(())
/// ```
#[derive(Debug)]
pub struct Link {
    nl: NlSocket,
    index: u32,
    name: String,
}

impl Link {
    /// The interface `name` of the caller's network namespace.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when there is no such interface.
    pub fn open(name: &str) -> Result<Self> {
        crate::builder::validate_name(name)?;
        let nl = NlSocket::open(0).map_err(|e| Error::netlink(name, "socket", e))?;
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
        let answers = nl
            .request(RouteNetlinkMessage::GetLink(msg), 0, false)
            .map_err(|e| Error::netlink(name, "RTM_GETLINK", e))?;
        let index = answers
            .iter()
            .find_map(|m| match m {
                RouteNetlinkMessage::NewLink(link) => Some(link.header.index),
                _ => None,
            })
            .ok_or_else(|| Error::NotFound {
                name: name.to_owned(),
            })?;
        Ok(Link {
            nl,
            index,
            name: name.to_owned(),
        })
    }

    /// The interface `name` inside `netns`; the handle keeps talking to that namespace.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open), and [`Error::Netns`].
    pub fn open_in(netns: &Netns, name: &str) -> Result<Self> {
        netns.run(|| Link::open(name))?
    }

    /// The interface index.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Bring the interface up (`ip link set NAME up`).
    ///
    /// # Errors
    ///
    /// [`Error::Netlink`] or [`Error::PermissionDenied`] when the kernel refuses.
    pub fn up(&self) -> Result<()> {
        self.set_flags(true)
    }

    /// Bring the interface down.
    ///
    /// # Errors
    ///
    /// As [`up`](Self::up).
    pub fn down(&self) -> Result<()> {
        self.set_flags(false)
    }

    /// Whether the interface is administratively up.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if it is gone.
    pub fn is_up(&self) -> Result<bool> {
        Ok(self.fetch()?.header.flags.contains(LinkFlags::Up))
    }

    /// The MTU.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if it is gone.
    pub fn mtu(&self) -> Result<u32> {
        let link = self.fetch()?;
        Ok(link
            .attributes
            .iter()
            .find_map(|a| match a {
                LinkAttribute::Mtu(m) => Some(*m),
                _ => None,
            })
            .unwrap_or(0))
    }

    /// Set the MTU (`ip link set NAME mtu N`).
    ///
    /// # Errors
    ///
    /// [`Error::Netlink`] (`EINVAL`) for an MTU the device refuses.
    pub fn set_mtu(&self, mtu: u32) -> Result<()> {
        self.set_attribute(LinkAttribute::Mtu(mtu), "RTM_SETLINK mtu")
    }

    /// Set the transmit queue length (`ip link set NAME txqueuelen N`).
    ///
    /// # Errors
    ///
    /// [`Error::Netlink`] when the kernel refuses.
    pub fn set_txqueuelen(&self, len: u32) -> Result<()> {
        self.set_attribute(LinkAttribute::TxQueueLen(len), "RTM_SETLINK txqueuelen")
    }

    /// Move the interface to another network namespace (`ip link set NAME netns NS`). This
    /// handle keeps talking to the old namespace: open a new [`Link`] there.
    ///
    /// # Errors
    ///
    /// [`Error::Netlink`] when the kernel refuses.
    pub fn set_netns(&self, netns: &Netns) -> Result<()> {
        let fd = netns.as_fd().as_raw_fd();
        self.set_attribute(LinkAttribute::NetNsFd(fd), "RTM_SETLINK netns")
    }

    /// Add an address with its prefix length (`ip addr add ADDR/PREFIX dev NAME`).
    ///
    /// # Errors
    ///
    /// [`Error::Netlink`] (`EEXIST` if present, `EINVAL` for a bad prefix).
    pub fn add_address(&self, addr: IpAddr, prefix_len: u8) -> Result<()> {
        let msg = self.address_message(addr, prefix_len);
        self.nl
            .request(
                RouteNetlinkMessage::NewAddress(msg),
                NLM_F_CREATE | NLM_F_EXCL,
                false,
            )
            .map(drop)
            .map_err(|e| Error::netlink(&self.name, "RTM_NEWADDR", e))
    }

    /// Remove an address.
    ///
    /// # Errors
    ///
    /// [`Error::Netlink`] (`EADDRNOTAVAIL` when absent).
    pub fn del_address(&self, addr: IpAddr, prefix_len: u8) -> Result<()> {
        let msg = self.address_message(addr, prefix_len);
        self.nl
            .request(RouteNetlinkMessage::DelAddress(msg), 0, false)
            .map(drop)
            .map_err(|e| Error::netlink(&self.name, "RTM_DELADDR", e))
    }

    /// The addresses on this interface, with their prefix lengths.
    ///
    /// # Errors
    ///
    /// [`Error::Netlink`] if the dump fails.
    pub fn addresses(&self) -> Result<Vec<(IpAddr, u8)>> {
        let answers = self
            .nl
            .request(
                RouteNetlinkMessage::GetAddress(AddressMessage::default()),
                0,
                true,
            )
            .map_err(|e| Error::netlink(&self.name, "RTM_GETADDR", e))?;
        Ok(answers
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) if a.header.index == self.index => {
                    let prefix = a.header.prefix_len;
                    a.attributes.into_iter().find_map(|attr| match attr {
                        AddressAttribute::Address(ip) => Some((ip, prefix)),
                        _ => None,
                    })
                }
                _ => None,
            })
            .collect())
    }

    /// Add a route through this interface (`ip route add ... dev NAME`).
    ///
    /// # Errors
    ///
    /// [`Error::Netlink`] (`EEXIST` if present, `ENETUNREACH` for an unreachable gateway).
    pub fn add_route(&self, route: &Route) -> Result<()> {
        self.nl
            .request(
                RouteNetlinkMessage::NewRoute(route.message(self.index)),
                NLM_F_CREATE | NLM_F_EXCL,
                false,
            )
            .map(drop)
            .map_err(|e| Error::netlink(&self.name, "RTM_NEWROUTE", e))
    }

    /// Remove a route through this interface.
    ///
    /// # Errors
    ///
    /// [`Error::Netlink`] (`ESRCH` when absent).
    pub fn del_route(&self, route: &Route) -> Result<()> {
        self.nl
            .request(
                RouteNetlinkMessage::DelRoute(route.message(self.index)),
                0,
                false,
            )
            .map(drop)
            .map_err(|e| Error::netlink(&self.name, "RTM_DELROUTE", e))
    }

    /// Delete the interface over netlink (`ip link del NAME`), whatever holds it.
    ///
    /// # Errors
    ///
    /// [`Error::Netlink`] or [`Error::NotFound`].
    pub fn delete(self) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = self.index;
        self.nl
            .request(RouteNetlinkMessage::DelLink(msg), 0, false)
            .map(drop)
            .map_err(|e| Error::netlink(&self.name, "RTM_DELLINK", e))
    }

    fn fetch(&self) -> Result<LinkMessage> {
        let mut msg = LinkMessage::default();
        msg.header.index = self.index;
        let answers = self
            .nl
            .request(RouteNetlinkMessage::GetLink(msg), 0, false)
            .map_err(|e| Error::netlink(&self.name, "RTM_GETLINK", e))?;
        answers
            .into_iter()
            .find_map(|m| match m {
                RouteNetlinkMessage::NewLink(link) => Some(link),
                _ => None,
            })
            .ok_or_else(|| Error::NotFound {
                name: self.name.clone(),
            })
    }

    fn set_flags(&self, up: bool) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = self.index;
        msg.header.change_mask = LinkFlags::Up;
        if up {
            msg.header.flags = LinkFlags::Up;
        }
        self.nl
            .request(RouteNetlinkMessage::SetLink(msg), 0, false)
            .map(drop)
            .map_err(|e| {
                Error::netlink(
                    &self.name,
                    if up {
                        "RTM_SETLINK up"
                    } else {
                        "RTM_SETLINK down"
                    },
                    e,
                )
            })
    }

    fn set_attribute(&self, attr: LinkAttribute, op: &'static str) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = self.index;
        msg.attributes.push(attr);
        self.nl
            .request(RouteNetlinkMessage::SetLink(msg), 0, false)
            .map(drop)
            .map_err(|e| Error::netlink(&self.name, op, e))
    }

    fn address_message(&self, addr: IpAddr, prefix_len: u8) -> AddressMessage {
        let mut msg = AddressMessage::default();
        msg.header.family = family(addr);
        msg.header.prefix_len = prefix_len;
        msg.header.index = self.index;
        msg.attributes.push(AddressAttribute::Local(addr));
        msg.attributes.push(AddressAttribute::Address(addr));
        if let IpAddr::V4(v4) = addr
            && prefix_len < 31
        {
            let host_bits = u32::MAX.checked_shr(u32::from(prefix_len)).unwrap_or(0);
            let broadcast = Ipv4Addr::from(u32::from(v4) | host_bits);
            msg.attributes.push(AddressAttribute::Broadcast(broadcast));
        }
        msg
    }
}

/// A route to add or remove through a [`Link`] (`ip route add DEST/PREFIX [via GW] [table T]
/// [metric M] dev NAME`).
///
/// # Examples
///
/// ```
/// use std::net::Ipv4Addr;
/// use tuntap::Route;
///
/// let route = Route::default_v4().via(Ipv4Addr::new(10, 7, 0, 2).into()).table(100).metric(10);
/// assert_eq!(route.prefix_len(), 0);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    destination: IpAddr,
    prefix_len: u8,
    gateway: Option<IpAddr>,
    table: u32,
    metric: Option<u32>,
}

impl Route {
    /// A route to `destination/prefix_len`, in the main table.
    pub fn new(destination: IpAddr, prefix_len: u8) -> Self {
        Route {
            destination,
            prefix_len,
            gateway: None,
            table: RT_TABLE_MAIN,
            metric: None,
        }
    }

    /// The IPv4 default route (`0.0.0.0/0`).
    pub fn default_v4() -> Self {
        Route::new(Ipv4Addr::UNSPECIFIED.into(), 0)
    }

    /// The IPv6 default route (`::/0`).
    pub fn default_v6() -> Self {
        Route::new(Ipv6Addr::UNSPECIFIED.into(), 0)
    }

    /// Through this gateway (`via`); without one the destination is on-link.
    pub fn via(mut self, gateway: IpAddr) -> Self {
        self.gateway = Some(gateway);
        self
    }

    /// In this routing table (`table`); 254 is `main`.
    pub fn table(mut self, table: u32) -> Self {
        self.table = table;
        self
    }

    /// With this metric (`metric`, `RTA_PRIORITY`).
    pub fn metric(mut self, metric: u32) -> Self {
        self.metric = Some(metric);
        self
    }

    /// The destination prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    fn message(&self, oif: u32) -> RouteMessage {
        let mut msg = RouteMessage::default();
        msg.header.address_family = family(self.destination);
        msg.header.destination_prefix_length = self.prefix_len;
        msg.header.protocol = RouteProtocol::Static;
        msg.header.kind = RouteType::Unicast;
        msg.header.scope = if self.gateway.is_some() {
            RouteScope::Universe
        } else {
            RouteScope::Link
        };
        match u8::try_from(self.table) {
            Ok(small) => msg.header.table = small,
            Err(_) => {
                msg.header.table = 252; // RT_TABLE_COMPAT: the real id is in RTA_TABLE
                msg.attributes.push(RouteAttribute::Table(self.table));
            }
        }
        if self.prefix_len > 0 {
            msg.attributes
                .push(RouteAttribute::Destination(RouteAddress::from(
                    self.destination,
                )));
        }
        if let Some(gw) = self.gateway {
            msg.attributes
                .push(RouteAttribute::Gateway(RouteAddress::from(gw)));
        }
        if let Some(metric) = self.metric {
            msg.attributes.push(RouteAttribute::Priority(metric));
        }
        msg.attributes.push(RouteAttribute::Oif(oif));
        msg
    }
}

/// A change to a network interface, from [`LinkEvents`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkEvent {
    /// What happened.
    pub kind: LinkEventKind,
    /// Interface index.
    pub index: u32,
    /// Interface name (empty if the kernel did not send it).
    pub name: String,
    /// Administratively up after the change.
    pub up: bool,
    /// The carrier is up (`IFF_LOWER_UP`): for TUN/TAP, a queue is attached.
    pub lower_up: bool,
}

/// The kind of a [`LinkEvent`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkEventKind {
    /// Created or changed (`RTM_NEWLINK`).
    Changed,
    /// Removed (`RTM_DELLINK`).
    Removed,
}

/// A stream of link changes of one network namespace (`ip monitor link`): blocking as an
/// [`Iterator`] or with [`next_timeout`](Self::next_timeout), or awaited with
/// [`next_async`](Self::next_async) (feature `async`).
///
/// # Examples
///
/// ```no_run
/// let mut events = tuntap::LinkEvents::subscribe()?;
/// for event in events.by_ref().take(3) {
///     println!("{:?}", event?);
/// }
/// # Ok::<(), tuntap::Error>(())
/// ```
#[derive(Debug)]
pub struct LinkEvents {
    nl: NlSocket,
    pending: std::collections::VecDeque<LinkEvent>,
    /// The socket registered with tokio, on the first [`next_async`](Self::next_async).
    #[cfg(feature = "async")]
    registered: Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>>,
}

impl LinkEvents {
    /// Subscribe to the link changes of the caller's namespace.
    ///
    /// # Errors
    ///
    /// [`Error::Netlink`] if the socket cannot be opened.
    pub fn subscribe() -> Result<Self> {
        let nl = NlSocket::open(RTMGRP_LINK).map_err(|e| Error::netlink("", "subscribe", e))?;
        Ok(LinkEvents {
            nl,
            pending: Default::default(),
            #[cfg(feature = "async")]
            registered: None,
        })
    }

    /// Subscribe to the link changes of `netns`.
    ///
    /// # Errors
    ///
    /// As [`subscribe`](Self::subscribe), and [`Error::Netns`].
    pub fn subscribe_in(netns: &Netns) -> Result<Self> {
        netns.run(LinkEvents::subscribe)?
    }

    /// The next event, waiting at most `timeout`; `Ok(None)` when none came in time.
    ///
    /// # Errors
    ///
    /// [`Error::Netlink`] if reading fails (e.g. `ENOBUFS` when events were lost).
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<LinkEvent>> {
        if let Some(event) = self.pending.pop_front() {
            return Ok(Some(event));
        }
        let millis = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        let mut fds = [PollFd::new(self.nl.as_fd(), PollFlags::POLLIN)];
        let ready = poll(
            &mut fds,
            PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX),
        )
        .map_err(|e| Error::netlink("", "poll", e.into()))?;
        if ready == 0 {
            return Ok(None);
        }
        self.fill()?;
        Ok(self.pending.pop_front())
    }

    fn fill(&mut self) -> Result<()> {
        let messages = self
            .nl
            .recv_notifications()
            .map_err(|e| Error::netlink("", "recv", e))?;
        push_events(&mut self.pending, messages);
        Ok(())
    }

    /// The next event, waiting on tokio's reactor instead of blocking a thread.
    ///
    /// Cancel-safe: an event read but not yet returned stays queued for the next call.
    ///
    /// # Errors
    ///
    /// [`Error::NoRuntime`] outside a tokio runtime; [`Error::Netlink`] if registering or
    /// reading the socket fails (e.g. `ENOBUFS` when events were lost).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), tuntap::Error> {
    /// let mut events = tuntap::LinkEvents::subscribe()?;
    /// let event = events.next_async().await?;
    /// println!("{} is up: {}", event.name, event.up);
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "async")]
    pub async fn next_async(&mut self) -> Result<LinkEvent> {
        if self.registered.is_none() {
            if tokio::runtime::Handle::try_current().is_err() {
                return Err(Error::NoRuntime {
                    op: "LinkEvents::next_async",
                });
            }
            let fd = self
                .nl
                .as_fd()
                .try_clone_to_owned()
                .map_err(|e| Error::netlink("", "dup", e))?;
            let registered = crate::sys::register_async(fd, tokio::io::Interest::READABLE)
                .map_err(|e| Error::netlink("", "register with tokio", e))?;
            self.registered = Some(registered);
        }
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(event);
            }
            let Some(registered) = &self.registered else {
                return Err(Error::Unsupported {
                    name: String::new(),
                    op: "LinkEvents::next_async",
                    reason: "the socket is not registered with tokio",
                });
            };
            let mut ready = registered
                .readable()
                .await
                .map_err(|e| Error::netlink("", "poll", e))?;
            match self.nl.try_recv_notifications() {
                Ok(messages) => push_events(&mut self.pending, messages),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => ready.clear_ready(),
                Err(e) => return Err(Error::netlink("", "recv", e)),
            }
        }
    }
}

/// Turns link notifications into events at the back of `pending`.
fn push_events(
    pending: &mut std::collections::VecDeque<LinkEvent>,
    messages: Vec<RouteNetlinkMessage>,
) {
    for message in messages {
        let (kind, link) = match message {
            RouteNetlinkMessage::NewLink(link) => (LinkEventKind::Changed, link),
            RouteNetlinkMessage::DelLink(link) => (LinkEventKind::Removed, link),
            _ => continue,
        };
        let name = link
            .attributes
            .iter()
            .find_map(|a| match a {
                LinkAttribute::IfName(n) => Some(n.clone()),
                _ => None,
            })
            .unwrap_or_default();
        pending.push_back(LinkEvent {
            kind,
            index: link.header.index,
            name,
            up: link.header.flags.contains(LinkFlags::Up),
            lower_up: link.header.flags.contains(LinkFlags::LowerUp),
        });
    }
}

impl Iterator for LinkEvents {
    type Item = Result<LinkEvent>;

    /// Block until the next event.
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(Ok(event));
            }
            if let Err(e) = self.fill() {
                return Some(Err(e));
            }
        }
    }
}

fn family(addr: IpAddr) -> AddressFamily {
    match addr {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

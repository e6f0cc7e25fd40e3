//! A small blocking `NETLINK_ROUTE` client: one request, its answers, then the ack.
//!
//! The messages are those of `netlink-packet-route` (the layer `rtnetlink` is built on), sent over
//! a plain blocking socket so that link configuration needs no async runtime. A socket belongs to
//! the network namespace of the thread that opened it, for its whole life.
//!
//! # Ground rules
//!
//! `lock` is held from sending a request until its last answer is read, so concurrent callers on
//! one socket never read each other's answers; sequence numbers still tell them apart.
//!
//! # Answers that do not parse
//!
//! The kernel may send what `netlink-packet-route` cannot decode: a link whose name is not UTF-8
//! (Linux allows any bytes but `/`, NUL and whitespace) fails the whole message. In a dump such
//! an answer is skipped and the rest of the dump is still read and returned, so one odd link
//! does not hide every other one; the answer to a single request, and a notification, that does
//! not parse is still an error.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkBuffer, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::RouteNetlinkMessage;
use nix::errno::Errno;
use nix::sys::socket::{
    self, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType,
};

/// Room for one datagram of a dump: the kernel sizes dump datagrams to the larger of a page
/// and 32 KiB, so 64 KiB never truncates.
const RECV_BUF: usize = 64 * 1024;

/// `RTMGRP_LINK`: the multicast group of link changes.
pub(crate) const RTMGRP_LINK: u32 = 1;

/// A blocking rtnetlink socket bound to the caller thread's network namespace.
#[derive(Debug)]
pub(crate) struct NlSocket {
    fd: OwnedFd,
    seq: AtomicU32,
    lock: Mutex<()>,
}

impl NlSocket {
    /// Open a socket in the calling thread's network namespace, subscribed to `groups`.
    pub(crate) fn open(groups: u32) -> io::Result<Self> {
        let fd = socket::socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )?;
        socket::bind(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            &NetlinkAddr::new(0, groups),
        )?;
        Ok(NlSocket {
            fd,
            seq: AtomicU32::new(1),
            lock: Mutex::new(()),
        })
    }

    /// Send `msg` with `NLM_F_REQUEST | NLM_F_ACK` (plus `NLM_F_DUMP` when `dump`) and collect
    /// every answer until the ack or the end of the dump.
    pub(crate) fn request(
        &self,
        msg: RouteNetlinkMessage,
        extra_flags: u16,
        dump: bool,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        let _guard = self
            .lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let mut req = NetlinkMessage::from(msg);
        req.header.flags = NLM_F_REQUEST | extra_flags | if dump { NLM_F_DUMP } else { NLM_F_ACK };
        req.header.sequence_number = seq;
        req.finalize();
        let mut out = vec![0; req.buffer_len()];
        req.serialize(&mut out);
        let kernel = NetlinkAddr::new(0, 0);
        retry_eintr(|| socket::sendto(self.fd.as_raw(), &out, &kernel, MsgFlags::empty()))?;

        let mut answers = Vec::new();
        let mut buf = vec![0; RECV_BUF];
        loop {
            let n = retry_eintr(|| socket::recv(self.fd.as_raw(), &mut buf, MsgFlags::empty()))?;
            let mut done = false;
            for received in parse_datagram(&buf[..n])? {
                if received.sequence_number != seq {
                    continue; // a late answer to an earlier, abandoned request
                }
                let message = match received.message {
                    Ok(message) => message,
                    // One entry of a dump that does not parse: skip it (see the module doc).
                    Err(_) if dump => continue,
                    Err(error) => return Err(error),
                };
                match message.payload {
                    NetlinkPayload::Done(_) => done = true,
                    NetlinkPayload::Error(err) => match err.code {
                        None => done = true,
                        Some(_) => return Err(err.to_io()),
                    },
                    NetlinkPayload::InnerMessage(inner) => answers.push(inner),
                    _ => {}
                }
            }
            if done {
                return Ok(answers);
            }
        }
    }

    /// Block until the next datagram of multicast notifications and return its messages.
    pub(crate) fn recv_notifications(&self) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.recv_notifications_with(MsgFlags::empty())
    }

    /// The next datagram of notifications if one is waiting, else `WouldBlock`.
    #[cfg(feature = "async")]
    pub(crate) fn try_recv_notifications(&self) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.recv_notifications_with(MsgFlags::MSG_DONTWAIT)
    }

    fn recv_notifications_with(&self, flags: MsgFlags) -> io::Result<Vec<RouteNetlinkMessage>> {
        let mut buf = vec![0; RECV_BUF];
        let n = retry_eintr(|| socket::recv(self.fd.as_raw(), &mut buf, flags))?;
        let mut notifications = Vec::new();
        for received in parse_datagram(&buf[..n])? {
            if let NetlinkPayload::InnerMessage(inner) = received.message?.payload {
                notifications.push(inner);
            }
        }
        Ok(notifications)
    }
}

impl AsFd for NlSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// `nix::sys::socket` still takes raw fds for `sendto`/`recv`.
trait AsRaw {
    fn as_raw(&self) -> std::os::fd::RawFd;
}

impl AsRaw for OwnedFd {
    fn as_raw(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(self)
    }
}

fn retry_eintr<T>(mut f: impl FnMut() -> nix::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(Errno::EINTR) => continue,
            other => return other.map_err(io::Error::from),
        }
    }
}

/// One netlink message of a datagram: its sequence number, read from the header, and the
/// message if it parsed.
struct Received {
    sequence_number: u32,
    message: io::Result<NetlinkMessage<RouteNetlinkMessage>>,
}

/// Split one datagram into its netlink messages. A message that does not parse is returned as
/// an error in its place; only a datagram whose framing is broken fails as a whole, since the
/// messages after a bad length cannot be found.
fn parse_datagram(mut data: &[u8]) -> io::Result<Vec<Received>> {
    let mut messages = Vec::new();
    while !data.is_empty() {
        let header = NetlinkBuffer::new_checked(data)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        let len = header.length() as usize;
        let sequence_number = header.sequence_number();
        let message = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[..len])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()));
        messages.push(Received {
            sequence_number,
            message,
        });
        // Messages are aligned to 4 bytes within a datagram.
        let aligned = (len + 3) & !3;
        data = data.get(aligned..).unwrap_or(&[]);
    }
    Ok(messages)
}

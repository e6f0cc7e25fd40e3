//! The driver of the offload write path: write a [`Plan`] frame by frame, falling back to the
//! original segments when the kernel refuses a super-packet.
//!
//! # Implementation
//!
//! [`drive`] is written once, as an `async fn` over a [`Writer`], and serves both faces: the
//! tokio twin awaits it with a writer that waits on the reactor, and the blocking face polls
//! it exactly once with a writer that never suspends (it blocks in the kernel instead), so the
//! future is always ready after that one poll ([`now`]).

use std::io::IoSlice;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use crate::error::{Error, Result};
use crate::gro::{DEFAULT_MAX_SEGMENTS, Frame, Plan, Protocols};
use crate::vnet::{VNET_HDR_LEN, VnetHdr};

/// What a batch came to.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// Input packets the kernel took.
    pub(crate) sent: usize,
    /// Protocols whose super-packets the kernel refused while their segments went through.
    pub(crate) refused: Protocols,
    /// The error that ended the batch early.
    pub(crate) error: Option<Error>,
}

impl Outcome {
    /// `send_batch`'s convention: the error if nothing was sent, else the count.
    pub(crate) fn into_result(self) -> Result<usize> {
        match self.error {
            Some(e) if self.sent == 0 => Err(e),
            _ => Ok(self.sent),
        }
    }
}

/// The prefixes every frame carries on this device.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Prefix {
    /// A 4-byte `struct tun_pi`.
    pub(crate) pi: bool,
    /// A `virtio_net_hdr`.
    pub(crate) vnet: bool,
}

impl Prefix {
    /// The prefixes to write before a packet, in order: `pi` (the `tun_pi` for it) if the
    /// device has one, then `hdr` if it has `vnet_hdr`; an absent one is empty.
    fn slices<'a>(self, pi: &'a [u8; 4], hdr: &'a [u8; VNET_HDR_LEN]) -> [&'a [u8]; 2] {
        [
            if self.pi { pi } else { &[] },
            if self.vnet { hdr } else { &[] },
        ]
    }
}

/// The `struct tun_pi` for an IP packet: no flags, the EtherType from the IP version.
fn pi_header(packet: &[u8]) -> [u8; 4] {
    let ethertype: u16 = match packet.first().map(|b| b >> 4) {
        Some(4) => 0x0800,
        Some(6) => 0x86dd,
        _ => 0,
    };
    let [hi, lo] = ethertype.to_be_bytes();
    [0, 0, hi, lo]
}

/// Where frames go: a queue, blocking or async, or a fake in tests.
pub(crate) trait Writer {
    /// Write one frame gathered from `bufs` whole; `coalesced` says it is a super-packet. A
    /// single slice should be written with `write(2)`, not `writev(2)`.
    async fn write(&mut self, bufs: &[IoSlice<'_>], coalesced: bool) -> Result<usize>;
}

/// Frames up to this long (prefixes included) are copied into one buffer and written as a
/// single slice, which the writers turn into a plain `write(2)`: a gathered `writev(2)` of
/// header and packet cost 40-55 ns more per call than `write(2)` on Linux 6.18 (measured on
/// a TUN device, 84- to 1500-byte packets), more than copying a small packet does. Larger
/// frames are gathered without copying.
const FLAT_MAX: usize = 512;

/// Write one frame (prefixes and packet) with one call of `write`.
async fn write_one<W: Writer>(
    write: &mut W,
    prefix: Prefix,
    hdr: &[u8; VNET_HDR_LEN],
    packet: &[u8],
    coalesced: bool,
) -> Result<()> {
    let pi = pi_header(packet);
    let [pi, hdr] = prefix.slices(&pi, hdr);
    let parts: [&[u8]; 3] = [pi, hdr, packet];
    let total: usize = parts.iter().map(|p| p.len()).sum();
    if total <= FLAT_MAX {
        let mut flat = [0u8; FLAT_MAX];
        let mut at = 0;
        for part in parts {
            flat[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        return write
            .write(&[IoSlice::new(&flat[..total])], coalesced)
            .await
            .map(drop);
    }
    let mut bufs = [IoSlice::new(&[]); 3];
    let mut n = 0;
    for part in parts.into_iter().filter(|p| !p.is_empty()) {
        bufs[n] = IoSlice::new(part);
        n += 1;
    }
    write.write(&bufs[..n], coalesced).await.map(drop)
}

/// `IoSlice`s kept on the stack for a super-packet: prefixes, headers and
/// [`DEFAULT_MAX_SEGMENTS`] payloads. A super-packet of more segments (a raised
/// [`Config::max_segments`](crate::gro::Config::max_segments)) takes a vector.
const STACK_PARTS: usize = 3 + DEFAULT_MAX_SEGMENTS;

/// The kernel's limit on the pieces of one `writev(2)` (`UIO_MAXIOV`).
const IOV_MAX: usize = 1024;

/// Write a super-packet with one gathered write: prefixes, its rewritten headers and each
/// member's payload where it lies, so userspace copies no payload. A frame of more pieces
/// than one `writev(2)` takes is assembled first.
async fn write_gathered<W: Writer>(
    write: &mut W,
    prefix: Prefix,
    hdr: &[u8; VNET_HDR_LEN],
    frame: &Frame<'_>,
) -> Result<()> {
    let mut parts = frame.parts();
    let headers = parts.next();
    let pi = pi_header(headers.unwrap_or_default());
    let prefixes = prefix.slices(&pi, hdr);
    let count = prefixes.iter().filter(|p| !p.is_empty()).count() + 1 + frame.segments();
    let Some(headers) = headers.filter(|_| count <= IOV_MAX) else {
        let packet = frame.packet();
        return write_one(write, prefix, hdr, &packet, true).await;
    };
    let mut stack = [IoSlice::new(&[]); STACK_PARTS];
    let mut heap = Vec::new();
    let bufs: &mut [IoSlice<'_>] = if count <= STACK_PARTS {
        &mut stack[..count]
    } else {
        heap.resize(count, IoSlice::new(&[]));
        &mut heap
    };
    let pieces = prefixes
        .into_iter()
        .filter(|p| !p.is_empty())
        .chain(std::iter::once(headers))
        .chain(parts);
    for (slot, piece) in bufs.iter_mut().zip(pieces) {
        *slot = IoSlice::new(piece);
    }
    write.write(bufs, true).await.map(drop)
}

/// Write every frame of `plan` (built from `packets`) in order.
///
/// A super-packet refused with `EINVAL` is written again as its original segments, each with a
/// plain header; when the first of them goes through, the kernel refused the offload rather
/// than the packets, and the protocol is reported in [`Outcome::refused`] (later super-packets
/// of that protocol in this batch go straight to segments). Any other error ends the batch.
pub(crate) async fn drive<W: Writer>(
    plan: &Plan<'_>,
    packets: &[&[u8]],
    prefix: Prefix,
    mut write: W,
) -> Outcome {
    let plain = VnetHdr::NONE.to_bytes();
    let mut out = Outcome {
        sent: 0,
        refused: Protocols::NONE,
        error: None,
    };
    for frame in plan.frames() {
        let mut fell_back = false;
        if frame.is_coalesced() && !out.refused.contains(frame.protocol()) {
            let hdr = frame.vnet_hdr().to_bytes();
            match write_gathered(&mut write, prefix, &hdr, &frame).await {
                Ok(()) => {
                    out.sent += frame.segments();
                    continue;
                }
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => fell_back = true,
                Err(e) => {
                    out.error = Some(e);
                    return out;
                }
            }
        }
        for (k, m) in frame.members().enumerate() {
            match write_one(&mut write, prefix, &plain, packets[m], false).await {
                Ok(()) => {
                    out.sent += 1;
                    if k == 0 && fell_back {
                        out.refused |= frame.protocol();
                    }
                }
                Err(e) => {
                    out.error = Some(e);
                    return out;
                }
            }
        }
    }
    out
}

/// Write a batch of one packet: there is nothing to merge, so no plan is made and the packet
/// goes out with a plain header, exactly the frame [`drive`] would write for it. This keeps
/// the offload path as cheap as a plain write for a program that sends packet by packet.
pub(crate) async fn drive_one<W: Writer>(packet: &[u8], prefix: Prefix, mut write: W) -> Outcome {
    let plain = VnetHdr::NONE.to_bytes();
    let result = write_one(&mut write, prefix, &plain, packet, false).await;
    Outcome {
        sent: usize::from(result.is_ok()),
        refused: Protocols::NONE,
        error: result.err(),
    }
}

/// Run a future whose every await completes at once (see the module docs).
///
/// # Panics
///
/// If the future suspends, which is a bug in the caller's writer.
pub(crate) fn now<T>(fut: impl Future<Output = T>) -> T {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!("the blocking writer of send_batch_coalesced never suspends"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gro::{Batch, Config};
    use crate::vnet::GsoType;

    use crate::test_packets::{Pkt, run};

    /// A writer from a closure.
    struct Fake<F>(F);

    impl<F: FnMut(&[IoSlice<'_>], bool) -> Result<usize>> Writer for Fake<F> {
        async fn write(&mut self, bufs: &[IoSlice<'_>], coalesced: bool) -> Result<usize> {
            (self.0)(bufs, coalesced)
        }
    }

    /// What a fake writer saw: (vnet header, packet) per successful write.
    type Written = Vec<(VnetHdr, Vec<u8>)>;

    fn einval() -> Error {
        Error::os("fake", "writev", nix::errno::Errno::EINVAL)
    }

    /// A batch of two TCP4 runs, a UDP run and a TCP6 run, separated by a pure ACK.
    fn batch() -> Vec<Vec<u8>> {
        let mut other = Pkt::tcp4(Vec::new());
        other.sport = 1;
        let mut pkts = run(&Pkt::tcp4(Vec::new()), 3, 100, 100);
        pkts.push(pkts[2].next(Vec::new()));
        pkts.extend(run(&other, 2, 100, 100));
        pkts.extend(run(&Pkt::udp4(Vec::new()), 2, 100, 50));
        pkts.extend(run(&Pkt::tcp6(Vec::new()), 2, 100, 100));
        pkts.iter().map(Pkt::build).collect()
    }

    /// Drive `bytes` through a fake device that refuses GSO frames of `refuse` with `EINVAL`
    /// and fails the write number `fail_at` (counting from 0) with `EIO`.
    fn fake(
        bytes: &[Vec<u8>],
        prefix: Prefix,
        refuse: &[GsoType],
        fail_at: Option<usize>,
    ) -> (Outcome, Written, usize) {
        let refs: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
        let mut gro = Batch::new();
        let config = if prefix.vnet {
            Config::default()
        } else {
            Config::default().protocols(Protocols::NONE)
        };
        let plan = gro.coalesce(&refs, &config);
        let mut written = Written::new();
        let mut calls = 0;
        let out = now(drive(
            &plan,
            &refs,
            prefix,
            Fake(|bufs: &[IoSlice<'_>], coalesced: bool| {
                calls += 1;
                if fail_at == Some(calls - 1) {
                    return Err(Error::os("fake", "writev", nix::errno::Errno::EIO));
                }
                let joined: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
                let rest = if prefix.pi {
                    assert_eq!(&joined[..2], &[0, 0]);
                    &joined[4..]
                } else {
                    &joined[..]
                };
                let (hdr, packet) = if prefix.vnet {
                    (VnetHdr::parse(rest).unwrap(), rest[VNET_HDR_LEN..].to_vec())
                } else {
                    (VnetHdr::NONE, rest.to_vec())
                };
                assert_eq!(coalesced, hdr.gso_type != GsoType::None);
                if refuse.contains(&hdr.gso_type) {
                    return Err(einval());
                }
                written.push((hdr, packet));
                Ok(joined.len())
            }),
        ));
        (out, written, calls)
    }

    const VNET: Prefix = Prefix {
        pi: false,
        vnet: true,
    };

    #[test]
    fn everything_coalescible_goes_out_as_super_packets() {
        let bytes = batch();
        let (out, written, calls) = fake(&bytes, VNET, &[], None);
        assert!(out.error.is_none());
        assert_eq!((out.sent, out.refused), (bytes.len(), Protocols::NONE));
        // TCP4 run, pure ACK, second TCP4 flow, UDP, TCP6.
        assert_eq!(calls, 5);
        let gso: Vec<GsoType> = written.iter().map(|w| w.0.gso_type).collect();
        let want = [
            GsoType::TcpV4,
            GsoType::None,
            GsoType::TcpV4,
            GsoType::UdpL4,
            GsoType::TcpV6,
        ];
        assert_eq!(gso, want);
    }

    #[test]
    fn a_refused_protocol_falls_back_to_its_segments_in_order() {
        let bytes = batch();
        let (out, written, calls) = fake(&bytes, VNET, &[GsoType::TcpV4], None);
        assert!(out.error.is_none());
        assert_eq!((out.sent, out.refused), (bytes.len(), Protocols::TCP4));
        // First TCP4 super-packet refused (1) + 3 segments, the ACK, the second TCP4 flow
        // straight as 2 segments (no second refusal), UDP and TCP6 coalesced.
        assert_eq!(calls, 1 + 3 + 1 + 2 + 1 + 1);
        let singles: Vec<&Vec<u8>> = written
            .iter()
            .filter(|w| w.0 == VnetHdr::NONE)
            .map(|w| &w.1)
            .collect();
        assert_eq!(singles, bytes[..6].iter().collect::<Vec<_>>());
    }

    #[test]
    fn einval_on_the_segments_too_is_not_a_refusal() {
        // A fake that refuses every write: the packets are bad, not the offload.
        let bytes = batch();
        let refs: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
        let mut gro = Batch::new();
        let plan = gro.coalesce(&refs, &Config::default());
        let out = now(drive(
            &plan,
            &refs,
            VNET,
            Fake(|_: &[IoSlice<'_>], _: bool| Err(einval())),
        ));
        assert_eq!((out.sent, out.refused), (0, Protocols::NONE));
        assert!(matches!(out.into_result(), Err(e) if e.raw_os_error() == Some(libc::EINVAL)));
    }

    #[test]
    fn other_errors_end_the_batch() {
        let bytes = batch();
        let (out, _, calls) = fake(&bytes, VNET, &[], Some(2));
        assert_eq!((out.sent, calls), (4, 3));
        assert!(matches!(out.into_result(), Ok(4)));
        let (out, _, _) = fake(&bytes, VNET, &[], Some(0));
        assert!(out.into_result().is_err());
    }

    #[test]
    fn a_single_packet_is_written_as_its_one_frame_plan_would() {
        for prefix in [
            VNET,
            Prefix {
                pi: true,
                vnet: true,
            },
            Prefix {
                pi: true,
                vnet: false,
            },
        ] {
            for packet in batch() {
                let (planned, written, _) = fake(std::slice::from_ref(&packet), prefix, &[], None);
                let mut direct: Vec<Vec<u8>> = Vec::new();
                let out = now(drive_one(
                    &packet,
                    prefix,
                    Fake(|bufs: &[IoSlice<'_>], coalesced: bool| {
                        assert!(!coalesced);
                        direct.push(bufs.iter().flat_map(|b| b.iter().copied()).collect());
                        Ok(0)
                    }),
                ));
                assert_eq!((out.sent, planned.sent), (1, 1));
                assert_eq!(direct.len(), 1);
                let tail = &direct[0][direct[0].len() - packet.len()..];
                assert_eq!(tail, packet.as_slice());
                assert_eq!(written.len(), 1);
                assert_eq!(written[0].0, VnetHdr::NONE);
                let prefix_len =
                    usize::from(prefix.pi) * 4 + usize::from(prefix.vnet) * VNET_HDR_LEN;
                assert_eq!(direct[0].len(), prefix_len + packet.len());
                if prefix.vnet {
                    let at = usize::from(prefix.pi) * 4;
                    assert_eq!(VnetHdr::parse(&direct[0][at..]).unwrap(), VnetHdr::NONE);
                }
            }
        }
        let failed = now(drive_one(
            &[0x45],
            VNET,
            Fake(|_: &[IoSlice<'_>], _: bool| Err(einval())),
        ));
        assert_eq!(failed.sent, 0);
        assert!(failed.into_result().is_err());
    }

    #[test]
    fn small_frames_are_one_slice_large_ones_gathered() {
        for (len, slices) in [
            (20, 1),
            (FLAT_MAX - VNET_HDR_LEN - 4, 1),
            (FLAT_MAX, 3),
            (1500, 3),
        ] {
            let mut packet = vec![0x45u8; len];
            packet[len - 1] = 0x99;
            let prefix = Prefix {
                pi: true,
                vnet: true,
            };
            let mut seen = Vec::new();
            let out = now(drive_one(
                &packet,
                prefix,
                Fake(|bufs: &[IoSlice<'_>], _: bool| {
                    seen.push((
                        bufs.len(),
                        bufs.iter()
                            .flat_map(|b| b.iter().copied())
                            .collect::<Vec<u8>>(),
                    ));
                    Ok(0)
                }),
            ));
            assert_eq!(out.sent, 1);
            assert_eq!(seen.len(), 1);
            assert_eq!(seen[0].0, slices, "{len}-byte packet");
            let expected = [
                &pi_header(&packet)[..],
                &VnetHdr::NONE.to_bytes()[..],
                &packet[..],
            ]
            .concat();
            assert_eq!(seen[0].1, expected, "{len}-byte packet");
        }
    }

    #[test]
    fn pi_and_no_vnet_hdr_prefixes() {
        let bytes = batch();
        let prefix = Prefix {
            pi: true,
            vnet: false,
        };
        let (out, written, calls) = fake(&bytes, prefix, &[], None);
        assert_eq!((out.sent, calls), (bytes.len(), bytes.len()));
        let packets: Vec<Vec<u8>> = written.into_iter().map(|w| w.1).collect();
        assert_eq!(packets, bytes);
        let prefix = Prefix {
            pi: true,
            vnet: true,
        };
        let (out, _, calls) = fake(&bytes, prefix, &[], None);
        assert_eq!((out.sent, calls), (bytes.len(), 5));
        assert_eq!(pi_header(&[0x45]), [0, 0, 8, 0]);
        assert_eq!(pi_header(&[0x60]), [0, 0, 0x86, 0xdd]);
        assert_eq!(pi_header(&[]), [0; 4]);
    }

    #[test]
    fn a_super_packet_is_one_gathered_write_whatever_its_segment_count() {
        // 40 segments fit the stack slices, 300 take a vector, 1100 are more pieces than one
        // writev takes and are assembled first (then written as header and packet).
        for (segments, slices) in [(40, 2 + 40), (300, 2 + 300), (1_100, 2)] {
            let bytes: Vec<Vec<u8>> = run(&Pkt::tcp4(Vec::new()), segments, 20, 20)
                .iter()
                .map(Pkt::build)
                .collect();
            let refs: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
            let mut gro = Batch::new();
            let plan = gro.coalesce(&refs, &Config::default().max_segments(2_000));
            assert_eq!(plan.len(), 1);
            let mut seen = Vec::new();
            let out = now(drive(
                &plan,
                &refs,
                VNET,
                Fake(|bufs: &[IoSlice<'_>], coalesced: bool| {
                    assert!(coalesced);
                    let joined: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
                    seen.push((bufs.len(), joined));
                    Ok(0)
                }),
            ));
            assert_eq!((out.sent, seen.len()), (segments, 1));
            assert_eq!(seen[0].0, slices, "{segments} segments");
            let hdr = VnetHdr::parse(&seen[0].1).unwrap();
            let split: Vec<Vec<u8>> = crate::gso::split(&hdr, &seen[0].1[VNET_HDR_LEN..])
                .unwrap()
                .map(|s| s.to_vec())
                .collect();
            assert_eq!(
                split, bytes,
                "{segments} segments split back into the inputs"
            );
        }
    }
}

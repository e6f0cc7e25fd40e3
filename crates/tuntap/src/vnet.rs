//! The `virtio_net_hdr` prefix of `IFF_VNET_HDR` devices and the `TUNSETOFFLOAD` mask.
//!
//! With `vnet_hdr`, every packet read starts with this 10-byte header, and every packet
//! written must. It tells whether the packet still needs its transport checksum
//! (`NEEDS_CSUM`, `csum_start`, `csum_offset`) and whether it is a GSO super-packet to be cut
//! into `gso_size` segments ([`crate::gso`] does the cutting). Fields are little-endian, as
//! virtio 1.0 and the kernel's default on little-endian hosts use.

use std::fmt;

/// Size of `struct virtio_net_hdr` (without `num_buffers`).
pub const VNET_HDR_LEN: usize = 10;

/// Offloads the program can take from the kernel (`TUN_F_*`, `TUNSETOFFLOAD`).
///
/// With an offload enabled, the kernel may hand this device packets with a pending checksum
/// (`CSUM`) or super-packets of up to 64 KiB (`TSO4`, `TSO6`, `USO4`, `USO6`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Offload(u32);

impl Offload {
    /// No offload: every packet arrives complete and checksummed.
    pub const NONE: Offload = Offload(0);
    /// Partial checksums (`TUN_F_CSUM`); needed by every other offload.
    pub const CSUM: Offload = Offload(libc::TUN_F_CSUM);
    /// TCP segmentation over IPv4 (`TUN_F_TSO4`).
    pub const TSO4: Offload = Offload(libc::TUN_F_TSO4);
    /// TCP segmentation over IPv6 (`TUN_F_TSO6`).
    pub const TSO6: Offload = Offload(libc::TUN_F_TSO6);
    /// TCP segmentation with ECN (`TUN_F_TSO_ECN`).
    pub const TSO_ECN: Offload = Offload(libc::TUN_F_TSO_ECN);
    /// UDP segmentation over IPv4 (`TUN_F_USO4`, Linux 6.2+).
    pub const USO4: Offload = Offload(libc::TUN_F_USO4);
    /// UDP segmentation over IPv6 (`TUN_F_USO6`, Linux 6.2+).
    pub const USO6: Offload = Offload(libc::TUN_F_USO6);
    /// Checksum and TCP segmentation for both IP versions: what VPNs usually enable.
    pub const TCP: Offload = Offload(libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6);

    /// From raw `TUN_F_*` bits.
    pub const fn from_bits(bits: u32) -> Self {
        Offload(bits)
    }

    /// The raw `TUN_F_*` bits.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: Offload) -> bool {
        self.0 & other.0 == other.0
    }

    /// These offloads less `other`.
    pub const fn without(self, other: Offload) -> Offload {
        Offload(self.0 & !other.0)
    }
}

impl std::ops::BitOr for Offload {
    type Output = Offload;

    fn bitor(self, rhs: Offload) -> Offload {
        Offload(self.0 | rhs.0)
    }
}

impl fmt::Debug for Offload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Offload::CSUM, "CSUM"),
            (Offload::TSO4, "TSO4"),
            (Offload::TSO6, "TSO6"),
            (Offload::TSO_ECN, "TSO_ECN"),
            (Offload::USO4, "USO4"),
            (Offload::USO6, "USO6"),
        ];
        let set: Vec<&str> = names
            .iter()
            .filter(|(o, _)| self.contains(*o))
            .map(|(_, n)| *n)
            .collect();
        write!(
            f,
            "Offload({})",
            if set.is_empty() {
                "NONE".into()
            } else {
                set.join("|")
            }
        )
    }
}

/// The segmentation a packet needs (`gso_type`, without the ECN bit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum GsoType {
    /// A single packet (`VIRTIO_NET_HDR_GSO_NONE`).
    #[default]
    None,
    /// TCP over IPv4 (`VIRTIO_NET_HDR_GSO_TCPV4`).
    TcpV4,
    /// UDP fragmentation offload (`VIRTIO_NET_HDR_GSO_UDP`), obsolete.
    Udp,
    /// TCP over IPv6 (`VIRTIO_NET_HDR_GSO_TCPV6`).
    TcpV6,
    /// UDP segmentation, either IP version (`VIRTIO_NET_HDR_GSO_UDP_L4`).
    UdpL4,
}

impl GsoType {
    fn from_raw(raw: u8) -> Option<Self> {
        Some(match raw {
            0 => GsoType::None,
            1 => GsoType::TcpV4,
            3 => GsoType::Udp,
            4 => GsoType::TcpV6,
            5 => GsoType::UdpL4,
            _ => return None,
        })
    }

    fn raw(self) -> u8 {
        match self {
            GsoType::None => 0,
            GsoType::TcpV4 => 1,
            GsoType::Udp => 3,
            GsoType::TcpV6 => 4,
            GsoType::UdpL4 => 5,
        }
    }
}

/// A parsed `struct virtio_net_hdr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct VnetHdr {
    /// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the transport checksum must be completed from
    /// `csum_start`/`csum_offset`.
    pub needs_csum: bool,
    /// `VIRTIO_NET_HDR_F_DATA_VALID`: the checksum was verified already.
    pub data_valid: bool,
    /// The segmentation to apply.
    pub gso_type: GsoType,
    /// `VIRTIO_NET_HDR_GSO_ECN`: the TCP stream uses ECN (CWR on the first segment only).
    pub gso_ecn: bool,
    /// Length of the headers (network + transport) before the payload: a hint, not trusted.
    pub hdr_len: u16,
    /// Payload bytes per segment.
    pub gso_size: u16,
    /// Where checksumming starts (the transport header).
    pub csum_start: u16,
    /// Where, from `csum_start`, the checksum field is.
    pub csum_offset: u16,
}

/// Why a `virtio_net_hdr` was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VnetHdrError {
    /// Fewer than [`VNET_HDR_LEN`] bytes.
    #[error("virtio_net_hdr truncated: {0} bytes")]
    Truncated(usize),
    /// A `gso_type` this crate does not know.
    #[error("unknown virtio_net_hdr gso_type {0:#x}")]
    UnknownGsoType(u8),
}

const F_NEEDS_CSUM: u8 = 1;
const F_DATA_VALID: u8 = 2;
const GSO_ECN: u8 = 0x80;

impl VnetHdr {
    /// A header for a complete, checksummed single packet (all zero).
    pub const NONE: VnetHdr = VnetHdr {
        needs_csum: false,
        data_valid: false,
        gso_type: GsoType::None,
        gso_ecn: false,
        hdr_len: 0,
        gso_size: 0,
        csum_start: 0,
        csum_offset: 0,
    };

    /// Parse the header at the start of `buf`.
    ///
    /// # Errors
    ///
    /// [`VnetHdrError`] for a short buffer or an unknown `gso_type`.
    pub fn parse(buf: &[u8]) -> Result<Self, VnetHdrError> {
        let Some(b) = buf.get(..VNET_HDR_LEN) else {
            return Err(VnetHdrError::Truncated(buf.len()));
        };
        let le = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        let gso_raw = b[1];
        let gso_type =
            GsoType::from_raw(gso_raw & !GSO_ECN).ok_or(VnetHdrError::UnknownGsoType(gso_raw))?;
        Ok(VnetHdr {
            needs_csum: b[0] & F_NEEDS_CSUM != 0,
            data_valid: b[0] & F_DATA_VALID != 0,
            gso_type,
            gso_ecn: gso_raw & GSO_ECN != 0,
            hdr_len: le(2),
            gso_size: le(4),
            csum_start: le(6),
            csum_offset: le(8),
        })
    }

    /// The 10 bytes of this header.
    pub fn to_bytes(&self) -> [u8; VNET_HDR_LEN] {
        let mut b = [0; VNET_HDR_LEN];
        b[0] = if self.needs_csum { F_NEEDS_CSUM } else { 0 }
            | if self.data_valid { F_DATA_VALID } else { 0 };
        b[1] = self.gso_type.raw() | if self.gso_ecn { GSO_ECN } else { 0 };
        b[2..4].copy_from_slice(&self.hdr_len.to_le_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_le_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_le_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_le_bytes());
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn zero_header_is_none() {
        assert_eq!(VnetHdr::parse(&[0; 10]), Ok(VnetHdr::NONE));
        assert_eq!(VnetHdr::parse(&[0; 9]), Err(VnetHdrError::Truncated(9)));
        assert_eq!(
            VnetHdr::parse(&[0, 2, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(VnetHdrError::UnknownGsoType(2))
        );
    }

    #[test]
    fn offload_debug_lists_bits() {
        assert_eq!(format!("{:?}", Offload::TCP), "Offload(CSUM|TSO4|TSO6)");
        assert_eq!(format!("{:?}", Offload::NONE), "Offload(NONE)");
        assert!(Offload::TCP.contains(Offload::TSO4));
        assert!(!Offload::TCP.without(Offload::TSO4).contains(Offload::TSO4));
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            let _ = VnetHdr::parse(&bytes);
        }

        #[test]
        fn roundtrip(flags in 0u8..4, gso in prop::sample::select(vec![0u8, 1, 3, 4, 5]),
                     ecn: bool, hdr_len: u16, gso_size: u16, start: u16, off: u16) {
            let mut raw = [0u8; 10];
            raw[0] = flags;
            raw[1] = gso | if ecn { 0x80 } else { 0 };
            raw[2..4].copy_from_slice(&hdr_len.to_le_bytes());
            raw[4..6].copy_from_slice(&gso_size.to_le_bytes());
            raw[6..8].copy_from_slice(&start.to_le_bytes());
            raw[8..10].copy_from_slice(&off.to_le_bytes());
            let hdr = VnetHdr::parse(&raw).unwrap();
            prop_assert_eq!(hdr.to_bytes(), raw);
        }
    }
}

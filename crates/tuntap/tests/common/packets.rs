//! A builder of well-formed TCP/UDP over IPv4/IPv6 packets with correct checksums, for the
//! coalescing tests (shared by the unit tests in `src/gro/tests.rs` through `#[path]`).
#![allow(dead_code, reason = "each user takes a different subset")]
#![allow(unreachable_pub, reason = "a test helper module")]

/// The Internet checksum of `data` with `sum` already added, complemented.
fn internet_checksum(mut sum: u64, data: &[u8]) -> u16 {
    for chunk in data.chunks(2) {
        let hi = u64::from(chunk[0]) << 8;
        sum += hi | chunk.get(1).map_or(0, |&b| u64::from(b));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// One TCP or UDP packet over IPv4 or IPv6, field by field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pkt {
    pub v6: bool,
    pub tcp: bool,
    /// IPv4 addresses use the first 4 bytes.
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    /// TCP flags (`0x10` ACK, `0x08` PSH, ...).
    pub flags: u8,
    pub window: u16,
    /// TCP option bytes (padded with NOPs to a multiple of 4).
    pub options: Vec<u8>,
    /// TTL or hop limit.
    pub ttl: u8,
    /// TOS or traffic class.
    pub tos: u8,
    pub df: bool,
    pub id: u16,
    pub flow_label: u32,
    /// Write a zero UDP checksum (IPv4 only means "none").
    pub no_udp_checksum: bool,
    pub payload: Vec<u8>,
}

impl Pkt {
    /// A TCP/IPv4 ACK segment 10.9.0.2:40000 -> 10.9.0.1:5000 with `payload`.
    pub fn tcp4(payload: Vec<u8>) -> Pkt {
        let mut src = [0; 16];
        let mut dst = [0; 16];
        src[..4].copy_from_slice(&[10, 9, 0, 2]);
        dst[..4].copy_from_slice(&[10, 9, 0, 1]);
        Pkt {
            v6: false,
            tcp: true,
            src,
            dst,
            sport: 40000,
            dport: 5000,
            seq: 1000,
            ack: 77,
            flags: 0x10,
            window: 512,
            options: Vec::new(),
            ttl: 64,
            tos: 0,
            df: true,
            id: 100,
            flow_label: 0,
            no_udp_checksum: false,
            payload,
        }
    }

    /// The same as [`tcp4`](Self::tcp4) over IPv6 (fd00::2 -> fd00::1).
    pub fn tcp6(payload: Vec<u8>) -> Pkt {
        let mut p = Pkt::tcp4(payload);
        p.v6 = true;
        p.src = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        p.dst = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        p.flow_label = 0x12345;
        p
    }

    /// A UDP/IPv4 datagram.
    pub fn udp4(payload: Vec<u8>) -> Pkt {
        Pkt {
            tcp: false,
            flags: 0,
            ..Pkt::tcp4(payload)
        }
    }

    /// A UDP/IPv6 datagram.
    pub fn udp6(payload: Vec<u8>) -> Pkt {
        Pkt {
            tcp: false,
            flags: 0,
            ..Pkt::tcp6(payload)
        }
    }

    /// The next segment of the same flow: sequence number advanced, IP ID plus one.
    pub fn next(&self, payload: Vec<u8>) -> Pkt {
        let mut p = self.clone();
        p.seq = self.seq.wrapping_add(self.payload.len() as u32);
        p.id = self.id.wrapping_add(1);
        p.payload = payload;
        p
    }

    /// The packet's bytes.
    pub fn build(&self) -> Vec<u8> {
        let ip_len = if self.v6 { 40 } else { 20 };
        let mut opts = self.options.clone();
        while !opts.len().is_multiple_of(4) {
            opts.push(1);
        }
        let l4_hdr = if self.tcp { 20 + opts.len() } else { 8 };
        let l4_len = l4_hdr + self.payload.len();
        let mut p = vec![0u8; ip_len + l4_len];
        let proto = if self.tcp { 6 } else { 17 };
        let (src, dst) = if self.v6 {
            (&self.src[..], &self.dst[..])
        } else {
            (&self.src[..4], &self.dst[..4])
        };
        if self.v6 {
            let word = (6u32 << 28) | (u32::from(self.tos) << 20) | (self.flow_label & 0xf_ffff);
            p[0..4].copy_from_slice(&word.to_be_bytes());
            p[4..6].copy_from_slice(&(l4_len as u16).to_be_bytes());
            p[6] = proto;
            p[7] = self.ttl;
            p[8..24].copy_from_slice(src);
            p[24..40].copy_from_slice(dst);
        } else {
            p[0] = 0x45;
            p[1] = self.tos;
            p[2..4].copy_from_slice(&((ip_len + l4_len) as u16).to_be_bytes());
            p[4..6].copy_from_slice(&self.id.to_be_bytes());
            if self.df {
                p[6] = 0x40;
            }
            p[8] = self.ttl;
            p[9] = proto;
            p[12..16].copy_from_slice(src);
            p[16..20].copy_from_slice(dst);
            let c = internet_checksum(0, &p[..20]);
            p[10..12].copy_from_slice(&c.to_be_bytes());
        }
        let l4 = ip_len;
        p[l4..l4 + 2].copy_from_slice(&self.sport.to_be_bytes());
        p[l4 + 2..l4 + 4].copy_from_slice(&self.dport.to_be_bytes());
        if self.tcp {
            p[l4 + 4..l4 + 8].copy_from_slice(&self.seq.to_be_bytes());
            p[l4 + 8..l4 + 12].copy_from_slice(&self.ack.to_be_bytes());
            p[l4 + 12] = ((l4_hdr / 4) as u8) << 4;
            p[l4 + 13] = self.flags;
            p[l4 + 14..l4 + 16].copy_from_slice(&self.window.to_be_bytes());
            p[l4 + 20..l4 + l4_hdr].copy_from_slice(&opts);
        } else {
            p[l4 + 4..l4 + 6].copy_from_slice(&(l4_len as u16).to_be_bytes());
        }
        p[l4 + l4_hdr..].copy_from_slice(&self.payload);
        if self.tcp || !self.no_udp_checksum {
            let mut pseudo = 0u64;
            for w in src.chunks(2).chain(dst.chunks(2)) {
                pseudo += u64::from(u16::from_be_bytes([w[0], w[1]]));
            }
            pseudo += u64::from(proto) + l4_len as u64;
            let mut c = internet_checksum(pseudo, &p[l4..]);
            if !self.tcp && c == 0 {
                c = 0xffff;
            }
            let field = l4 + if self.tcp { 16 } else { 6 };
            p[field..field + 2].copy_from_slice(&c.to_be_bytes());
        }
        p
    }
}

/// `n` consecutive segments of `first`'s flow, each with `mss` payload bytes except the last
/// with `last` bytes (`0 < last <= mss`).
pub fn run(first: &Pkt, n: usize, mss: usize, last: usize) -> Vec<Pkt> {
    let mut out = Vec::with_capacity(n);
    let mut p = first.clone();
    p.payload = payload(0, if n == 1 { last } else { mss });
    out.push(p);
    for i in 1..n {
        let len = if i + 1 == n { last } else { mss };
        let next = out[i - 1].next(payload(i, len));
        out.push(next);
    }
    out
}

/// A recognisable payload for segment `i`.
pub fn payload(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| (i * 31 + j) as u8).collect()
}

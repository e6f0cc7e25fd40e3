//! Any header and any packet: `gso::split_at` returns an error or segments and never panics;
//! every segment fits the documented bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tuntap::gso;
use tuntap::vnet::{VNET_HDR_LEN, VnetHdr};

fuzz_target!(|data: &[u8]| {
    let Some((&ip_offset, rest)) = data.split_first() else {
        return;
    };
    let Ok(hdr) = VnetHdr::parse(rest) else {
        return;
    };
    let packet = &rest[VNET_HDR_LEN..];
    let Ok(segments) = gso::split_at(&hdr, packet, usize::from(ip_offset % 32)) else {
        return;
    };
    let mut out = vec![0u8; 70_000];
    for seg in segments.take(70_000) {
        assert!(seg.headers().len() <= gso::MAX_HEADERS);
        let n = seg.write_to(&mut out).expect("a segment fits in 70 kB");
        assert_eq!(n, seg.len());
    }
});

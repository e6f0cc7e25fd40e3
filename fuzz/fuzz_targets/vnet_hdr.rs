//! `VnetHdr::parse` never panics, and what it accepts serialises back to the same bytes (less
//! flag bits other than NEEDS_CSUM and DATA_VALID, which it does not model).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tuntap::vnet::VnetHdr;

fuzz_target!(|data: &[u8]| {
    if let Ok(hdr) = VnetHdr::parse(data) {
        let mut expected = [0u8; 10];
        expected.copy_from_slice(&data[..10]);
        expected[0] &= 0x03;
        assert_eq!(hdr.to_bytes(), expected);
    }
});

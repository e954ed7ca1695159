//! Site ids: the 31-bit member identifiers carried in every message.
//!
//! A member's id is zlib's CRC-32 of its binary address (4 bytes for IPv4,
//! 16 for IPv6, network byte order) with bit 31 cleared, so that an id is
//! never negative in the C booth's signed comparisons and never equals
//! `NO_ONE` (0xFFFFFFFF). The port is not part of the id.

use std::net::IpAddr;

/// The reflected CRC-32 polynomial used by zlib, Ethernet and PNG.
const POLY: u32 = 0xEDB8_8320;

const fn make_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        let mut c = n as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { POLY ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        table[n] = c;
        n += 1;
    }
    table
}

static TABLE: [u32; 256] = make_table();

/// zlib's `crc32(crc32(0, NULL, 0), bytes, len)`.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc = TABLE[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8);
    }
    crc ^ 0xFFFF_FFFF
}

/// The site id the C booth derives for a member with this address.
pub fn site_id(addr: &IpAddr) -> u32 {
    let crc = match addr {
        IpAddr::V4(a) => crc32(&a.octets()),
        IpAddr::V6(a) => crc32(&a.octets()),
    };
    crc & 0x7FFF_FFFF
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> u32 {
        site_id(&s.parse().unwrap())
    }

    #[test]
    fn crc32_known_values() {
        assert_eq!(crc32(b""), 0);
        // The classic check value of CRC-32/ISO-HDLC.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(&[0xc0, 0xa8, 0xc9, 0x64]), 0xD085_F484);
        assert_eq!(crc32(&[0xc0, 0xa8, 0xca, 0x64]), 0xFBA8_A747);
        assert_eq!(crc32(&[0xc0, 0xa8, 0xcb, 0x64]), 0xE2B3_9606);
    }

    #[test]
    fn wire_spec_examples() {
        assert_eq!(id("192.168.201.100"), 0x5085_F484);
        assert_eq!(id("192.168.201.100"), 1_350_956_164);
        assert_eq!(id("192.168.202.100"), 0x7BA8_A747);
        assert_eq!(id("192.168.202.100"), 2_074_650_439);
        assert_eq!(id("192.168.203.100"), 0x62B3_9606);
        assert_eq!(id("192.168.203.100"), 1_655_936_518);
        assert_eq!(id("10.0.0.1"), 0x39FE_0FEE);
        assert_eq!(id("2001:db8::1"), 0x7F92_B058);
    }

    #[test]
    fn captured_c_daemon_ids() {
        assert_eq!(id("198.51.100.1"), 584_690_490);
        assert_eq!(id("198.51.100.2"), 1_003_551_360);
        assert_eq!(id("198.51.100.3"), 1_289_210_390);
    }

    #[test]
    fn mapped_ipv6_is_hashed_over_16_bytes() {
        let mapped = id("::ffff:192.168.202.100");
        let mut bytes = [0u8; 16];
        bytes[10] = 0xff;
        bytes[11] = 0xff;
        bytes[12..].copy_from_slice(&[192, 168, 202, 100]);
        assert_eq!(mapped, crc32(&bytes) & 0x7FFF_FFFF);
        assert_ne!(mapped, id("192.168.202.100"));
    }

    #[test]
    fn top_bit_always_clear() {
        for i in 0..=255u8 {
            let a = IpAddr::from([10, 1, i, 255 - i]);
            assert_eq!(site_id(&a) & 0x8000_0000, 0);
        }
    }
}

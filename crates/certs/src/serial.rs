//! Certificate serial numbers.

use std::fmt;

use rand::RngCore;

/// RFC 5280 §4.1.2.2 caps serial numbers at 20 octets. polyhome counts the octets of the DER
/// INTEGER content, sign octet included, so every `Serial` fits that limit as encoded.
const MAX_ENCODED_LEN: usize = 20;

/// A certificate serial number: a positive integer, kept as its big-endian magnitude without
/// leading zero octets, whose DER encoding is 1 to 20 octets long.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial(Vec<u8>);

impl Serial {
    /// A fresh serial of 16 random octets (at most 127 bits), never zero.
    ///
    /// The top bit is cleared so that the DER INTEGER needs no sign octet.
    pub fn random() -> Serial {
        loop {
            let mut bytes = [0u8; 16];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            bytes[0] &= 0x7f;
            if let Some(serial) = Serial::from_bytes(&bytes) {
                return serial;
            }
        }
    }

    /// A serial from big-endian unsigned bytes. Leading zero octets are ignored. `None` if the
    /// value is zero or its DER encoding would exceed 20 octets.
    pub fn from_bytes(bytes: &[u8]) -> Option<Serial> {
        let start = bytes.iter().position(|&b| b != 0)?;
        let magnitude = &bytes[start..];
        let encoded_len = magnitude.len() + usize::from(magnitude[0] & 0x80 != 0);
        if encoded_len > MAX_ENCODED_LEN {
            return None;
        }
        Some(Serial(magnitude.to_vec()))
    }

    /// The big-endian magnitude, without leading zero octets (never empty).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Parses hexadecimal as written by [`Serial::to_hex`]. Upper case, an odd number of digits
    /// and leading zeros are accepted; anything else (including zero) is `None`.
    pub fn from_hex(s: &str) -> Option<Serial> {
        if s.is_empty() || s.len() > 2 * (MAX_ENCODED_LEN + 1) {
            return None;
        }
        let digits = s
            .chars()
            .map(|c| c.to_digit(16).map(|d| d as u8))
            .collect::<Option<Vec<u8>>>()?;
        let mut bytes = Vec::with_capacity(digits.len() / 2 + 1);
        let (head, rest) = digits.split_at(digits.len() % 2);
        if let Some(&d) = head.first() {
            bytes.push(d);
        }
        for pair in rest.chunks_exact(2) {
            bytes.push(pair[0] << 4 | pair[1]);
        }
        Serial::from_bytes(&bytes)
    }

    /// Lower-case hexadecimal of [`Serial::as_bytes`], two digits per octet.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serial({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_serials_are_positive_distinct_and_short() {
        let a = Serial::random();
        let b = Serial::random();
        assert_ne!(a, b);
        for s in [&a, &b] {
            assert!(s.as_bytes().len() <= 16);
            assert_ne!(s.as_bytes()[0], 0);
            assert!(s.as_bytes().len() < 16 || s.as_bytes()[0] & 0x80 == 0);
        }
    }

    #[test]
    fn hex_round_trips() {
        for _ in 0..50 {
            let s = Serial::random();
            let hex = s.to_hex();
            assert_eq!(hex, hex.to_ascii_lowercase());
            assert_eq!(hex.len() % 2, 0);
            assert_eq!(Serial::from_hex(&hex), Some(s));
        }
        assert_eq!(Serial::from_hex("01").unwrap().to_hex(), "01");
        assert_eq!(Serial::from_hex("1").unwrap().to_hex(), "01");
        assert_eq!(Serial::from_hex("000ABC").unwrap().to_hex(), "0abc");
        assert_eq!(Serial::from_hex("0abc").unwrap().as_bytes(), &[0x0a, 0xbc]);
    }

    #[test]
    fn bad_serials_are_refused() {
        for bad in ["", "0", "00", "xyz", "0x12", "12 34", "é1"] {
            assert_eq!(Serial::from_hex(bad), None, "{bad:?}");
        }
        // 20 octets fit when the top bit is clear, not when a sign octet is needed.
        assert!(Serial::from_hex(&"7f".repeat(20)).is_some());
        assert!(Serial::from_hex(&"80".repeat(20)).is_none());
        assert!(Serial::from_hex(&"01".repeat(21)).is_none());
        assert!(Serial::from_bytes(&[0, 0]).is_none());
        assert!(Serial::from_bytes(&[]).is_none());
    }
}

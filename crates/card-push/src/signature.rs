//! SHA-1 signatures over sorted values, compared in constant time.

use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// SHA-1 of the values sorted by bytes and concatenated.
pub(crate) fn sha1_sorted(values: &mut [&[u8]]) -> [u8; 20] {
    values.sort_unstable();
    let mut hasher = Sha1::new();
    for v in values.iter() {
        hasher.update(v);
    }
    hasher.finalize().into()
}

/// Lowercase hex of a digest.
pub(crate) fn to_hex(digest: &[u8; 20]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(40);
    for b in digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    out
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Whether `hex` (40 hex digits, either case) is `digest`; the comparison of the bytes
/// takes the same time wherever they differ.
pub(crate) fn matches_hex(digest: &[u8; 20], hex: &str) -> bool {
    let hex = hex.as_bytes();
    if hex.len() != 40 {
        return false;
    }
    let mut given = [0u8; 20];
    let mut valid = true;
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        match (nibble(pair[0]), nibble(pair[1])) {
            (Some(h), Some(l)) => given[i] = h << 4 | l,
            _ => valid = false,
        }
    }
    valid & bool::from(given.ct_eq(digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_case() {
        let d = sha1_sorted(&mut [b"AAAAA", b"1714036504", b"1514711492"]);
        let hex = to_hex(&d);
        assert_eq!(hex, "f464b24fc39322e44b38aa78f5edd27bd1441696");
        assert!(matches_hex(&d, &hex));
        assert!(matches_hex(&d, &hex.to_uppercase()));
        assert!(!matches_hex(&d, &hex[..39]));
        assert!(!matches_hex(&d, &format!("{}g", &hex[..39])));
        assert!(!matches_hex(&d, &format!("{}0", &hex[..39])));
    }
}

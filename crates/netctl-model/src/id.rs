//! Object ids as Docker makes them: 64 lowercase hex digits, shown shortened to 12.

use rand::RngCore;

pub const SHORT_ID_LEN: usize = 12;

/// A new random 256-bit id in hex. Like Docker, an id that is all digits is
/// rejected and drawn again, so a short id can never be mistaken for a number.
pub fn new_id() -> String {
    loop {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let id = hex::encode(bytes);
        if !id[..SHORT_ID_LEN].bytes().all(|b| b.is_ascii_digit()) {
            return id;
        }
    }
}

pub fn short_id(id: &str) -> &str {
    &id[..id.len().min(SHORT_ID_LEN)]
}

/// True if `s` could be (a prefix of) an id: only lowercase hex digits.
pub fn is_id_prefix(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_hex_and_distinct() {
        let a = new_id();
        let b = new_id();
        assert_eq!(a.len(), 64);
        assert!(is_id_prefix(&a));
        assert_ne!(a, b);
        assert_eq!(short_id(&a).len(), 12);
    }

    #[test]
    fn id_prefix_rules() {
        assert!(is_id_prefix("abc123"));
        assert!(!is_id_prefix("ABC"));
        assert!(!is_id_prefix("backend"));
        assert!(!is_id_prefix(""));
    }
}

//! Names of networks and containers, validated as Docker validates them.

use crate::ModelError;

pub const MAX_NAME_LEN: usize = 128;

/// `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 128 characters.
pub fn validate_name(kind: &str, name: &str) -> Result<(), ModelError> {
    if name.is_empty() {
        return Err(ModelError::invalid(format!("{kind} name must not be empty")));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(ModelError::invalid(format!(
            "{kind} name is {} characters long; at most {MAX_NAME_LEN} are allowed",
            name.len()
        )));
    }
    let mut chars = name.chars();
    let first = chars.next().unwrap_or_default();
    let valid_first = first.is_ascii_alphanumeric();
    let valid_rest = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !(valid_first && valid_rest) {
        return Err(ModelError::invalid(format!(
            "invalid {kind} name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )));
    }
    Ok(())
}

/// Linux interface names: 1 to 15 bytes, no '/', no whitespace, not "." or "..".
pub fn validate_ifname(name: &str) -> Result<(), ModelError> {
    let bad = name.is_empty()
        || name.len() > 15
        || name == "."
        || name == ".."
        || name.chars().any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control());
    if bad {
        return Err(ModelError::invalid(format!(
            "invalid bridge name {name:?}: an interface name has 1 to 15 characters, without '/', ':' or spaces"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_docker_names() {
        for n in ["backend-network", "a", "frontend_network2", "x.y-z", "0abc"] {
            validate_name("network", n).unwrap();
        }
        validate_name("network", &"a".repeat(128)).unwrap();
    }

    #[test]
    fn rejects_bad_names() {
        for n in ["", "-a", ".a", "_a", "a b", "a/b", "ä", "a:b"] {
            assert!(validate_name("network", n).is_err(), "{n:?} should be rejected");
        }
        let err = validate_name("network", &"a".repeat(129)).unwrap_err();
        assert!(err.to_string().contains("129"));
    }

    #[test]
    fn ifnames() {
        validate_ifname("br-0123456789ab").unwrap();
        assert!(validate_ifname("0123456789abcdef").is_err());
        assert!(validate_ifname("a/b").is_err());
        assert!(validate_ifname("").is_err());
    }
}

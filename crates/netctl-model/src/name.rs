//! Names of networks, containers and aliases, validated as Docker validates them:
//! containers by moby's `RestrictedNamePattern` (daemon/names), networks by
//! libnetwork (any name that is not empty), aliases by the container pattern.

use crate::ModelError;

pub const MAX_NAME_LEN: usize = 128;

/// Docker's `RestrictedNameChars`, as its messages print it.
pub const NAME_CHARS: &str = "[a-zA-Z0-9][a-zA-Z0-9_.-]";

fn check_len(kind: &str, name: &str) -> Result<(), ModelError> {
    if name.len() > MAX_NAME_LEN {
        return Err(ModelError::invalid(format!(
            "{kind} name is {} characters long; at most {MAX_NAME_LEN} are allowed",
            name.len()
        )));
    }
    Ok(())
}

fn restricted_chars(name: &str, min_len: usize) -> bool {
    let mut chars = name.chars();
    let first = chars.next().unwrap_or_default();
    name.len() >= min_len
        && first.is_ascii_alphanumeric()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 128 characters: aliases and link aliases.
pub fn validate_name(kind: &str, name: &str) -> Result<(), ModelError> {
    if name.is_empty() {
        return Err(ModelError::invalid(format!("{kind} name must not be empty")));
    }
    check_len(kind, name)?;
    if !restricted_chars(name, 1) {
        return Err(ModelError::invalid(format!(
            "invalid {kind} name {name:?}: only {NAME_CHARS} are allowed"
        )));
    }
    Ok(())
}

/// A container's name: Docker's `^[a-zA-Z0-9][a-zA-Z0-9_.-]+$` (two characters at
/// least), with Docker's message; at most 128 characters (netctl's own bound: the
/// name is also its namespace's file under /run/netns).
pub fn validate_container_name(name: &str) -> Result<(), ModelError> {
    if !restricted_chars(name, 2) {
        return Err(ModelError::invalid(format!(
            "Invalid container name ({name}), only {NAME_CHARS} are allowed"
        )));
    }
    check_len("container", name)
}

/// A network's name: libnetwork takes any name but the empty one. netctl also
/// refuses control characters (they would garble tables and logs) and '/' (a
/// name must fit one segment of an API path), and keeps its 128-character bound.
pub fn validate_network_name(name: &str) -> Result<(), ModelError> {
    if name.is_empty() {
        return Err(ModelError::invalid("invalid name: name is empty"));
    }
    check_len("network", name)?;
    if name.chars().any(|c| c.is_control() || c == '/') {
        return Err(ModelError::invalid(format!(
            "invalid network name {name:?}: control characters and '/' are not allowed"
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
            validate_name("alias", n).unwrap();
        }
        validate_name("alias", &"a".repeat(128)).unwrap();
        for n in ["c1", "web", "0abc", "x.y-z", "a_"] {
            validate_container_name(n).unwrap();
        }
        // libnetwork takes these; so does netctl.
        for n in ["a", "-net", "_x", "my net", "ä", "a:b", ".hidden"] {
            validate_network_name(n).unwrap();
        }
    }

    #[test]
    fn rejects_bad_names() {
        for n in ["", "-a", ".a", "_a", "a b", "a/b", "ä", "a:b"] {
            assert!(validate_name("alias", n).is_err(), "{n:?} should be rejected");
        }
        let err = validate_name("alias", &"a".repeat(129)).unwrap_err();
        assert!(err.to_string().contains("129"));
        for n in ["", "c", "-c1", "c 1", "c/1"] {
            let err = validate_container_name(n).unwrap_err().to_string();
            assert_eq!(
                err,
                format!("Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
            );
        }
        assert!(validate_container_name(&"a".repeat(129)).is_err());
        assert_eq!(validate_network_name("").unwrap_err().to_string(), "invalid name: name is empty");
        for n in ["a/b", "a\nb", &"n".repeat(129)] {
            assert!(validate_network_name(n).is_err(), "{n:?}");
        }
    }

    #[test]
    fn ifnames() {
        validate_ifname("br-0123456789ab").unwrap();
        assert!(validate_ifname("0123456789abcdef").is_err());
        assert!(validate_ifname("a/b").is_err());
        assert!(validate_ifname("").is_err());
    }
}

//! `GET /events` messages (moby `api/types/events.Message`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Deprecated fields that API 1.50 still sends for container events.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    pub scope: String,
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    pub attributes: BTreeMap<String, String>,
}

impl Message {
    pub fn new(kind: &str, action: &str, id: &str, attributes: BTreeMap<String, String>) -> Self {
        let now = chrono::Utc::now();
        let time_nano = now.timestamp_nanos_opt().unwrap_or(0);
        let container = kind == "container";
        Self {
            status: if container { action.into() } else { String::new() },
            id: if container { id.into() } else { String::new() },
            from: String::new(),
            kind: kind.into(),
            action: action.into(),
            actor: Actor { id: id.into(), attributes },
            scope: "local".into(),
            time: time_nano.div_euclid(1_000_000_000),
            time_nano,
        }
    }
}

/// Docker's `--since`/`--until` values: RFC 3339 times, Unix seconds with an
/// optional fraction (`1700000000.5`), or durations back from now (`10m`, `1h30m`).
/// Returns nanoseconds since the epoch.
pub fn parse_time(text: &str, now_nanos: i64) -> Result<i64, crate::ModelError> {
    let bad = || {
        crate::ModelError::invalid(format!(
            "invalid time {text:?}: use RFC 3339, Unix seconds or a duration like 10m"
        ))
    };
    let t = text.trim();
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(t) {
        return dt.timestamp_nanos_opt().ok_or_else(bad);
    }
    if let Some((secs, frac)) = t.split_once('.').or(Some((t, ""))) {
        if !secs.is_empty()
            && secs.bytes().all(|b| b.is_ascii_digit())
            && frac.bytes().all(|b| b.is_ascii_digit())
        {
            let s: i64 = secs.parse().map_err(|_| bad())?;
            let mut f = frac.to_string();
            f.truncate(9);
            while f.len() < 9 {
                f.push('0');
            }
            let n: i64 = f.parse().map_err(|_| bad())?;
            return Ok(s * 1_000_000_000 + n);
        }
    }
    Ok(now_nanos - parse_duration(t).ok_or_else(bad)?)
}

/// Go's `time.ParseDuration` for h, m, s, ms (what `docker events --since 10m` takes).
fn parse_duration(text: &str) -> Option<i64> {
    let mut total = 0f64;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !c.is_ascii_digit() && c != '.')?;
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3.6e12,
            "m" => 6e10,
            "s" => 1e9,
            "ms" => 1e6,
            "us" | "µs" => 1e3,
            "ns" => 1.0,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    Some(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let now = 2_000_000_000_000_000_000;
        assert_eq!(parse_time("1700000000", now).unwrap(), 1_700_000_000_000_000_000);
        assert_eq!(parse_time("1700000000.5", now).unwrap(), 1_700_000_000_500_000_000);
        assert_eq!(parse_time("1700000000.000000001", now).unwrap(), 1_700_000_000_000_000_001);
        assert_eq!(parse_time("10m", now).unwrap(), now - 600_000_000_000);
        assert_eq!(parse_time("1h30m", now).unwrap(), now - 5_400_000_000_000);
        assert_eq!(parse_time("2023-11-14T22:13:20Z", now).unwrap(), 1_700_000_000_000_000_000);
        assert!(parse_time("yesterday", now).is_err());
    }

    #[test]
    fn message_shape() {
        let m = Message::new("network", "create", "abc", [("name".into(), "n".into())].into());
        let text = serde_json::to_string(&m).unwrap();
        assert!(text.starts_with(r#"{"Type":"network","Action":"create","Actor":{"ID":"abc","Attributes":{"name":"n"}},"scope":"local","time":"#), "{text}");
        let c = Message::new("container", "start", "abc", BTreeMap::new());
        assert!(serde_json::to_string(&c)
            .unwrap()
            .starts_with(r#"{"status":"start","id":"abc","Type":"container""#));
    }
}

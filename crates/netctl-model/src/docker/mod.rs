//! Docker Engine API bodies (API 1.44 to 1.50), as moby's `api/swagger.yaml` and
//! `api/types` define them, with fields in the order Docker prints them (the docker
//! CLI's `inspect` re-indents the daemon's bytes, so the order is what users see).
//! These are a contract of their own, kept apart from netctl's `/v1/` types.

pub mod container;
pub mod events;
pub mod filters;
pub mod network;
pub mod system;

/// The oldest and newest Engine API versions netctld answers.
pub const MIN_API_VERSION: (u32, u32) = (1, 44);
pub const MAX_API_VERSION: (u32, u32) = (1, 50);

pub fn version_text(v: (u32, u32)) -> String {
    format!("{}.{}", v.0, v.1)
}

/// Go's `time.Time` zero value, which Docker prints for "never".
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// A time as Go's JSON prints it (RFC 3339 with nanoseconds, trailing zeros cut).
pub fn go_time(t: chrono::DateTime<chrono::Utc>) -> String {
    let text = t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let (fraction_and_more, _) = text.split_at(text.len() - 1);
    match fraction_and_more.split_once('.') {
        Some((secs, frac)) => {
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                format!("{secs}Z")
            } else {
                format!("{secs}.{frac}Z")
            }
        }
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    #[test]
    fn go_times() {
        let t = chrono::Utc.timestamp_opt(1_700_000_000, 120_000_000).unwrap();
        assert_eq!(super::go_time(t), "2023-11-14T22:13:20.12Z");
        let t = chrono::Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        assert_eq!(super::go_time(t), "2023-11-14T22:13:20Z");
        let t = chrono::Utc.timestamp_opt(1_700_000_000, 1).unwrap();
        assert_eq!(super::go_time(t), "2023-11-14T22:13:20.000000001Z");
    }
}

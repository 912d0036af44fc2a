//! Reading request bodies and query strings so that every bad request gets a
//! JSON error, not axum's plain-text rejection.

use std::collections::BTreeMap;

use axum::body::Bytes;
use netctl_model::filter::NetworkFilters;
use serde::de::DeserializeOwned;

use super::ApiError;

pub fn json_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// `filters` from the query string: URL-encoded JSON `{"key": ["value", ...]}`.
pub fn filters(query: Option<&str>) -> Result<NetworkFilters, ApiError> {
    let Some(query) = query else {
        return Ok(NetworkFilters::default());
    };
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        if key == "filters" {
            if value.trim().is_empty() {
                return Ok(NetworkFilters::default());
            }
            let map: BTreeMap<String, Vec<String>> = serde_json::from_str(&value).map_err(|e| {
                ApiError::bad_request(format!(
                    "invalid filters {value:?}: expected JSON like {{\"name\":[\"x\"]}}: {e}"
                ))
            })?;
            return Ok(NetworkFilters::from_map(map)?);
        }
    }
    Ok(NetworkFilters::default())
}

/// The value of `key` in the query string, if present.
pub fn query_value(query: Option<&str>, key: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes()).find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

/// A boolean query flag: `1`/`true` or `0`/`false`; absent is false.
pub fn query_flag(query: Option<&str>, key: &str) -> Result<bool, ApiError> {
    match query_value(query, key).as_deref() {
        None | Some("0") | Some("false") => Ok(false),
        Some("1") | Some("true") | Some("") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!("invalid {key}={other}: use 1 or 0"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_filters_query() {
        let q = "filters=%7B%22name%22%3A%5B%22back%22%5D%7D";
        let f = filters(Some(q)).unwrap();
        assert_eq!(f.as_map()["name"], vec!["back".to_string()]);
        assert!(filters(None).unwrap().is_empty());
        assert!(filters(Some("filters=notjson")).is_err());
        assert!(filters(Some("filters=%7B%22color%22%3A%5B%22x%22%5D%7D")).is_err());
    }
}

//! Docker's `filters` query parameter. The docker CLI sends `{"name":{"x":true}}`,
//! the Python SDK and older clients `{"name":["x"]}`; the daemon takes both.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::ModelError;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters(pub BTreeMap<String, Vec<String>>);

#[derive(Deserialize)]
#[serde(untagged)]
enum Values {
    List(Vec<String>),
    Set(BTreeMap<String, bool>),
}

impl Filters {
    pub fn parse(text: &str) -> Result<Self, ModelError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let raw: BTreeMap<String, Values> = serde_json::from_str(text)
            .map_err(|e| ModelError::invalid(format!("invalid filter {text:?}: {e}")))?;
        Ok(Self(
            raw.into_iter()
                .map(|(k, v)| {
                    let values = match v {
                        Values::List(l) => l,
                        Values::Set(s) => s.into_iter().filter(|(_, on)| *on).map(|(v, _)| v).collect(),
                    };
                    (k, values)
                })
                .collect(),
        ))
    }

    pub fn get(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Refuses keys outside `allowed`, with Docker's message.
    pub fn check(&self, allowed: &[&str]) -> Result<(), ModelError> {
        match self.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(ModelError::invalid(format!("invalid filter '{k}'"))),
            None => Ok(()),
        }
    }

    /// Docker's `label` filter: every value given must match (`key` or `key=value`).
    pub fn labels_match(&self, key: &str, labels: &BTreeMap<String, String>) -> bool {
        self.get(key).iter().all(|want| label_matches(want, labels))
    }
}

/// `key` or `key=value` against a set of labels.
pub fn label_matches(want: &str, labels: &BTreeMap<String, String>) -> bool {
    match want.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(want),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms() {
        let a = Filters::parse(r#"{"name":{"back":true,"off":false}}"#).unwrap();
        assert_eq!(a.get("name"), ["back".to_string()]);
        let b = Filters::parse(r#"{"name":["back"]}"#).unwrap();
        assert_eq!(a, b);
        assert!(Filters::parse("nope").is_err());
        assert!(b.check(&["id"]).unwrap_err().to_string().contains("'name'"));
        let labels: BTreeMap<String, String> = [("env".to_string(), "prod".to_string())].into();
        let f = Filters::parse(r#"{"label":["env=prod","env"]}"#).unwrap();
        assert!(f.labels_match("label", &labels));
        assert!(!Filters::parse(r#"{"label":["env=dev"]}"#).unwrap().labels_match("label", &labels));
    }
}

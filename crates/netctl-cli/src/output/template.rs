//! The small part of Go templates that `--format` needs: `{{.Field.Sub}}`,
//! `{{json .Field}}`, `{{json .}}`, `{{index .Map "key"}}`, and `\t`/`\n` escapes.

use anyhow::{bail, Result};
use serde_json::Value;

pub fn render(template: &str, value: &Value) -> Result<String> {
    let template = template.replace("\\t", "\t").replace("\\n", "\n");
    let mut out = String::new();
    let mut rest = template.as_str();
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { bail!("template {template:?}: missing }}}}") };
        out.push_str(&action(after[..end].trim(), value)?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn action(expr: &str, value: &Value) -> Result<String> {
    let words: Vec<&str> = expr.split_whitespace().collect();
    match words.as_slice() {
        ["json", path] => Ok(serde_json::to_string(&lookup(path, value)?)?),
        ["index", path, key] => {
            let map = lookup(path, value)?;
            let key = key.trim_matches('"');
            Ok(plain(map.get(key).unwrap_or(&Value::Null)))
        }
        [path] => Ok(plain(&lookup(path, value)?)),
        _ => bail!("unsupported template action {{{{{expr}}}}}: use {{{{.Field}}}}, {{{{json .Field}}}} or {{{{index .Map \"key\"}}}}"),
    }
}

fn lookup(path: &str, value: &Value) -> Result<Value> {
    let Some(path) = path.strip_prefix('.') else { bail!("template field {path:?} must start with '.'") };
    let mut v = value;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        v = match v.get(part) {
            Some(x) => x,
            None => bail!("template: no field {part:?} in .{path}"),
        };
    }
    Ok(v.clone())
}

/// Strings bare, `null` as Go prints a missing value, the rest as JSON.
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<no value>".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_json_index() {
        let v = json!({"Id": "abc", "IPAM": {"Driver": "default", "Config": [{"Subnet": "10.0.0.0/24"}]}, "Labels": {"k": "v"}, "Internal": false});
        assert_eq!(render("{{.Id}}", &v).unwrap(), "abc");
        assert_eq!(render("{{ .IPAM.Driver }}\\t{{.Internal}}", &v).unwrap(), "default\tfalse");
        assert_eq!(render("{{json .Labels}}", &v).unwrap(), "{\"k\":\"v\"}");
        assert_eq!(render("{{index .Labels \"k\"}}", &v).unwrap(), "v");
        assert!(render("{{(index .IPAM.Config 0).Subnet}}", &v).is_err());
        assert!(render("{{.Nope}}", &v).is_err());
        assert!(render("{{.Id", &v).is_err());
    }
}

//! `netctl restart`, `kill`, `rename`, `top`: Docker's commands, over Docker's
//! own endpoints on the same socket (`/containers/{id}/restart|kill|rename|top`).
//! The daemon already serves those for the docker CLI, with Docker's errors; a
//! second, native copy of each under /v1 would only be more to keep in step.

use anyhow::Result;
use serde_json::{json, Value};

use super::network::each;
use crate::cli::{KillArgs, RenameArgs, RestartArgs, TopArgs};
use crate::client::{seg, Client};

/// A query string, `?k=v&…`, or nothing.
fn query(pairs: &[(&str, Option<String>)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if let Some(v) = v {
            q.append_pair(k, v);
        }
    }
    let q = q.finish();
    if q.is_empty() {
        q
    } else {
        format!("?{q}")
    }
}

pub async fn restart(client: &Client, args: RestartArgs) -> Result<i32> {
    let q = query(&[("t", args.timeout.map(|t| t.to_string()))]);
    each(&args.containers, |c| {
        let q = q.clone();
        async move { client.post_unit(&format!("/containers/{}/restart{q}", seg(&c)), &json!({})).await }
    })
    .await
}

pub async fn kill(client: &Client, args: KillArgs) -> Result<i32> {
    let q = query(&[("signal", args.signal.clone())]);
    each(&args.containers, |c| {
        let q = q.clone();
        async move { client.post_unit(&format!("/containers/{}/kill{q}", seg(&c)), &json!({})).await }
    })
    .await
}

/// Prints nothing on success, as `docker rename`.
pub async fn rename(client: &Client, args: RenameArgs) -> Result<i32> {
    let q = query(&[("name", Some(args.new_name))]);
    client.post_unit(&format!("/containers/{}/rename{q}", seg(&args.container)), &json!({})).await?;
    Ok(0)
}

pub async fn top(client: &Client, args: TopArgs) -> Result<i32> {
    let ps_args = (!args.ps_args.is_empty()).then(|| args.ps_args.join(" "));
    let q = query(&[("ps_args", ps_args)]);
    let top = client.get_value(&format!("/containers/{}/top{q}", seg(&args.container))).await?;
    let strings = |v: &Value| -> Vec<String> {
        v.as_array().into_iter().flatten().map(|s| s.as_str().unwrap_or_default().to_string()).collect()
    };
    let mut rows = vec![strings(&top["Titles"])];
    rows.extend(top["Processes"].as_array().into_iter().flatten().map(strings));
    out!("{}", tabwrite(&rows));
    Ok(0)
}

/// Go's `tabwriter.NewWriter(out, 20, 1, 3, ' ', 0)`, as `docker top` prints:
/// every column but the last padded to its widest cell plus 3, at least 20.
fn tabwrite(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            let widest = rows.iter().filter_map(|r| r.get(i)).map(|c| c.chars().count()).max().unwrap_or(0);
            (widest + 3).max(20)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}", w = widths[i]));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_columns_as_docker_prints_them() {
        let rows = vec![
            vec!["UID".to_string(), "PID".into(), "CMD".into()],
            vec!["root".to_string(), "4242".into(), "sleep 600".into()],
        ];
        assert_eq!(
            tabwrite(&rows),
            "UID                 PID                 CMD\nroot                4242                sleep 600\n"
        );
        assert_eq!(query(&[("t", Some("3".into())), ("signal", None)]), "?t=3");
        assert_eq!(query(&[("name", Some("a b".into()))]), "?name=a+b");
    }
}

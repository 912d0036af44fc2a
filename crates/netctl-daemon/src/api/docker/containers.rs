//! `/containers`: the read side (list, inspect, top) and the lifecycle of
//! containers netctl already has (start, stop, restart, kill, rename, remove). netctl
//! runs no images, so `create` answers with an error that says what to use.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use netctl_model::container::{Container, Origin};
use netctl_model::docker::container::{Inspect, Summary, Top};
use netctl_model::docker::filters::Filters;

use super::{convert, docker_error, flag, model_error};
use crate::api::request::query_value;
use crate::api::ApiError;
use crate::cgroups::CONTAINER_LEAF;
use crate::daemon::Daemon;
use crate::registry::Registry;

const FILTERS: [&str; 7] = ["id", "name", "status", "label", "network", "exited", "before"];

/// Docker's container states, the values `status=` takes.
const STATES: [&str; 7] = ["created", "restarting", "running", "removing", "paused", "exited", "dead"];

/// The `filters` of a container list (`docker ps` here, `netctl ps` on /v1), with
/// Docker's refusals, and one for the filter that cannot apply to netctl.
pub(crate) fn list_filters(q: Option<&str>) -> Result<Filters, ApiError> {
    let f = Filters::parse(&query_value(q, "filters").unwrap_or_default()).map_err(model_error)?;
    if f.0.contains_key("ancestor") {
        return Err(ApiError::bad_request(format!(
            "the 'ancestor' filter does not apply: netctl runs no images (filters: {})",
            FILTERS.join(", ")
        )));
    }
    if let Some(bad) = f.get("status").iter().find(|s| !STATES.contains(&s.as_str())) {
        return Err(ApiError::bad_request(format!("invalid filter 'status={bad}'")));
    }
    f.check(&FILTERS).map_err(model_error)?;
    Ok(f)
}

/// Docker's: values of one key are alternatives, keys must all match.
pub(crate) fn matches(f: &Filters, registry: &Registry, c: &Container) -> bool {
    let any = |key: &str, pred: &dyn Fn(&str) -> bool| {
        let values = f.get(key);
        values.is_empty() || values.iter().any(|v| pred(v))
    };
    any("id", &|v| c.id.starts_with(v))
        && any("name", &|v| name_matches(v, &c.name))
        && any("status", &|v| c.state.status.as_str() == v)
        && any("exited", &|v| {
            !c.is_running() && c.state.exit_code.to_string() == v && c.state.finished_at.is_some()
        })
        && any("network", &|v| {
            c.endpoints.iter().any(|ep| {
                ep.network_id.starts_with(v) || registry.network(&ep.network_id).is_some_and(|n| n.name == v)
            })
        })
        && f.labels_match("label", &c.labels)
        && any("before", &|v| registry.find_container(v).is_ok_and(|b| c.created < b.created))
}

/// Docker takes a regular expression, matched against `/name` and `name`: here a
/// substring, which `^` and `$` anchor (what scripts use: `name=^web$`).
fn name_matches(pattern: &str, name: &str) -> bool {
    let (p, start) = pattern.strip_prefix('^').map_or((pattern, false), |p| (p, true));
    let (p, end) = p.strip_suffix('$').map_or((p, false), |p| (p, true));
    [name.to_string(), format!("/{name}")].iter().any(|n| match (start, end) {
        (true, true) => n == p,
        (true, false) => n.starts_with(p),
        (false, true) => n.ends_with(p),
        (false, false) => n.contains(p),
    })
}

pub async fn list(
    State(d): State<Arc<Daemon>>,
    RawQuery(q): RawQuery,
) -> Result<Json<Vec<Summary>>, ApiError> {
    let f = list_filters(q.as_deref())?;
    let all = flag(q.as_deref(), "all") || !f.get("status").is_empty() || !f.get("exited").is_empty();
    let limit = match query_value(q.as_deref(), "limit").as_deref() {
        None | Some("") | Some("-1") | Some("0") => usize::MAX,
        Some(n) => n.parse().map_err(|_| ApiError::bad_request(format!("invalid limit {n:?}")))?,
    };
    let registry = d.registry.lock().await;
    let mut list: Vec<&Container> =
        registry.containers().filter(|c| (all || c.is_running()) && matches(&f, &registry, c)).collect();
    list.sort_by_key(|c| std::cmp::Reverse(c.created));
    Ok(Json(list.into_iter().take(limit).map(|c| convert::summary(&registry, c)).collect()))
}

/// The body is read first: answering before it arrived would cut the client off
/// mid-write, and it would report a broken pipe instead of this message.
pub async fn create(_body: axum::body::Bytes) -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "netctl runs no images, so it cannot create containers through the Docker API: \
         start one with `netctl run [OPTIONS] CMD [ARGS...]` (it runs on the host's file system), \
         then manage it with the docker CLI",
    )
}

pub async fn inspect(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
) -> Result<Json<Inspect>, ApiError> {
    let registry = d.registry.lock().await;
    let c = registry.find_container(&id).map_err(model_error)?;
    Ok(Json(convert::inspect(&d, &registry, c)))
}

async fn find(d: &Daemon, id: &str) -> Result<Container, ApiError> {
    Ok(d.registry.lock().await.find_container(id).map_err(model_error)?.clone())
}

fn not_running(c: &Container) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, format!("container {} is not running", c.id))
}

/// `ps` rows of the container's processes (its cgroup's): `ps_args` as given
/// (default `-ef`), rows kept by the PID column, as Docker's `parsePSOutput` does
/// (a thread's `-` row follows its process's).
pub async fn top(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Json<Top>, ApiError> {
    let c = find(&d, &id).await?;
    if !c.is_running() {
        return Err(not_running(&c));
    }
    // The container's leaf only: netctl's shim beside it is no process of the
    // container's (as containerd's shim is not in `docker top`).
    let mut pids = d.cgroups.pids(&c.id, Some(CONTAINER_LEAF));
    if pids.is_empty() && c.state.pid != 0 {
        pids.push(c.state.pid);
    }
    let args = query_value(q.as_deref(), "ps_args").filter(|a| !a.trim().is_empty()).unwrap_or("-ef".into());
    let out = tokio::process::Command::new("ps")
        .args(args.split_whitespace())
        .output()
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot run ps: {e}")))?;
    if !out.status.success() {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("ps: {}", String::from_utf8_lossy(&out.stderr).trim()),
        ));
    }
    parse_ps(&String::from_utf8_lossy(&out.stdout), &pids).map(Json)
}

fn parse_ps(text: &str, pids: &[u32]) -> Result<Top, ApiError> {
    let mut lines = text.lines();
    let titles: Vec<String> = lines.next().unwrap_or_default().split_whitespace().map(String::from).collect();
    let pid_col = titles.iter().position(|t| t == "PID").ok_or_else(|| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Couldn't find PID field in ps output")
    })?;
    let mut processes = Vec::new();
    let mut last_ours = false;
    for l in lines {
        let cols: Vec<&str> = l.split_whitespace().collect();
        if cols.len() < titles.len() {
            continue;
        }
        let ours = match cols[pid_col] {
            "-" => last_ours,
            p => {
                last_ours = p.parse().is_ok_and(|p: u32| pids.contains(&p));
                last_ours
            }
        };
        if ours {
            let mut row: Vec<String> = cols[..titles.len() - 1].iter().map(|s| s.to_string()).collect();
            row.push(cols[titles.len() - 1..].join(" "));
            processes.push(row);
        }
    }
    Ok(Top { titles, processes })
}

pub async fn start(State(d): State<Arc<Daemon>>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let c = find(&d, &id).await?;
    if c.is_running() {
        return Ok(StatusCode::NOT_MODIFIED);
    }
    d.start_container(&c.id).await.map_err(docker_error)?;
    Ok(StatusCode::NO_CONTENT)
}

fn timeout(q: Option<&str>) -> Result<Duration, ApiError> {
    match query_value(q, "t").as_deref() {
        None | Some("") => Ok(Duration::from_secs(10)),
        Some("-1") => Ok(Duration::from_secs(u32::MAX as u64)),
        Some(t) => t
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| ApiError::bad_request(format!("invalid value for t: {t:?}"))),
    }
}

pub async fn stop(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<StatusCode, ApiError> {
    let t = timeout(q.as_deref())?;
    check_signal(q.as_deref(), "SIGTERM")?;
    let c = find(&d, &id).await?;
    if !c.is_running() {
        return Ok(StatusCode::NOT_MODIFIED);
    }
    d.stop_container(&c.id, t).await.map_err(docker_error)?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn restart(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<StatusCode, ApiError> {
    let t = timeout(q.as_deref())?;
    check_signal(q.as_deref(), "SIGTERM")?;
    let c = find(&d, &id).await?;
    d.stop_container(&c.id, t).await.map_err(docker_error)?;
    d.start_container(&c.id).await.map_err(docker_error)?;
    d.events.container("restart", &c, &[]);
    Ok(StatusCode::NO_CONTENT)
}

/// `stop`'s and `restart`'s `signal`: only the default, SIGTERM, is served.
fn check_signal(q: Option<&str>, default: &str) -> Result<(), ApiError> {
    match query_value(q, "signal") {
        Some(s) if !s.is_empty() && parse_signal(&s) != parse_signal(default) => Err(ApiError::bad_request(
            format!("stop signal {s} is not supported: netctl stops with SIGTERM, then SIGKILL"),
        )),
        _ => Ok(()),
    }
}

/// `KILL`, `SIGKILL` or `9`.
fn parse_signal(text: &str) -> Option<nix::sys::signal::Signal> {
    if let Ok(n) = text.parse::<i32>() {
        return nix::sys::signal::Signal::try_from(n).ok();
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    name.parse().ok()
}

/// Signals the container's main process, if it is still that process.
pub async fn kill(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<StatusCode, ApiError> {
    let text =
        query_value(q.as_deref(), "signal").filter(|s| !s.is_empty()).unwrap_or_else(|| "SIGKILL".into());
    let signal =
        parse_signal(&text).ok_or_else(|| ApiError::bad_request(format!("Invalid signal: {text}")))?;
    let c = find(&d, &id).await?;
    if c.origin != Origin::Netctl {
        return Err(ApiError::bad_request(format!(
            "container {} belongs to another runtime: netctl never signals processes it did not start",
            c.name
        )));
    }
    let pid = c.state.pid;
    let ours = c.is_running()
        && pid != 0
        && if d.cgroups.available() {
            d.cgroups.contains(&c.id, pid)
        } else {
            crate::process::is_alive(pid, c.state.pid_start)
        };
    if !ours {
        return Err(not_running(&c));
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot signal {pid}: {e}")))?;
    d.events.container("kill", &c, &[("signal", (signal as i32).to_string())]);
    d.monitor_wakeup.notify_one();
    Ok(StatusCode::NO_CONTENT)
}

pub async fn remove(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<StatusCode, ApiError> {
    // `v` (anonymous volumes) has nothing to remove: netctl has no volumes.
    let force = flag(q.as_deref(), "force");
    if flag(q.as_deref(), "link") {
        return Err(ApiError::bad_request("removing a link (docker rm --link) is not supported"));
    }
    d.remove_container(&id, force).await.map_err(docker_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /containers/{id}/rename?name=NEW`: 204; a taken name is Docker's 409.
pub async fn rename(
    State(d): State<Arc<Daemon>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<StatusCode, ApiError> {
    let name = query_value(q.as_deref(), "name").unwrap_or_default();
    d.rename_container(&id, &name).await.map_err(docker_error)?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_rows_by_the_pid_column() {
        let text = "USER PID %CPU COMMAND\nroot 7 0.0 sleep 600\nroot 8 0.0 other\n";
        let top = parse_ps(text, &[7]).unwrap();
        assert_eq!(top.titles, ["USER", "PID", "%CPU", "COMMAND"]);
        assert_eq!(top.processes, [["root", "7", "0.0", "sleep 600"]]);
        assert!(parse_ps("USER COMMAND\n", &[7]).is_err());
    }

    #[test]
    fn names_match_as_substrings_that_anchors_pin() {
        assert!(name_matches("eb", "web") && name_matches("/web", "web") && name_matches("web", "web"));
        assert!(name_matches("^web$", "web") && name_matches("^/web$", "web") && name_matches("^we", "web"));
        assert!(name_matches("eb$", "web"));
        assert!(!name_matches("^eb", "web") && !name_matches("^web$", "webs") && !name_matches("x", "web"));
    }
}

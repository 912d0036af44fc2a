//! `/containers`: the read side (list, inspect, top) and the lifecycle of
//! containers netctl already has (start, stop, restart, kill, remove). netctl
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
        && f.labels_match("label", &Default::default())
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

/// `ps -ef` rows of the container's processes (its cgroup's).
pub async fn top(State(d): State<Arc<Daemon>>, Path(id): Path<String>) -> Result<Json<Top>, ApiError> {
    let c = find(&d, &id).await?;
    if !c.is_running() {
        return Err(not_running(&c));
    }
    let mut pids = d.cgroups.pids(&c.id, None);
    if pids.is_empty() && c.state.pid != 0 {
        pids.push(c.state.pid);
    }
    let out = tokio::process::Command::new("ps")
        .arg("-ef")
        .output()
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot run ps: {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let titles: Vec<String> = lines.next().unwrap_or_default().split_whitespace().map(String::from).collect();
    let processes = lines
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let pid: u32 = cols.get(1)?.parse().ok()?;
            if !pids.contains(&pid) || cols.len() < titles.len() {
                return None;
            }
            let mut row: Vec<String> = cols[..titles.len() - 1].iter().map(|s| s.to_string()).collect();
            row.push(cols[titles.len() - 1..].join(" "));
            Some(row)
        })
        .collect();
    Ok(Json(Top { titles, processes }))
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

#[cfg(test)]
mod tests {
    use super::name_matches;

    #[test]
    fn names_match_as_substrings_that_anchors_pin() {
        assert!(name_matches("eb", "web") && name_matches("/web", "web") && name_matches("web", "web"));
        assert!(name_matches("^web$", "web") && name_matches("^/web$", "web") && name_matches("^we", "web"));
        assert!(name_matches("eb$", "web"));
        assert!(!name_matches("^eb", "web") && !name_matches("^web$", "webs") && !name_matches("x", "web"));
    }
}

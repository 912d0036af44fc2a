//! `netctl events`: the daemon's event stream (Docker's `GET /events`), printed
//! as `docker events` prints it, or through `--format`.

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};
use chrono::{Local, TimeZone};
use netctl_model::docker::events::Message;

use crate::cli::EventsArgs;
use crate::client::Client;
use crate::output::template::{self, Missing, Template};

pub async fn events(client: &Client, args: EventsArgs) -> Result<i32> {
    let mut filters: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in &args.filter {
        let (k, v) =
            f.split_once('=').ok_or_else(|| anyhow!("bad format of filter {f:?} (expected name=value)"))?;
        filters.entry(k.to_string()).or_default().push(v.to_string());
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Some(s) = &args.since {
        query.append_pair("since", s);
    }
    if let Some(u) = &args.until {
        query.append_pair("until", u);
    }
    if !filters.is_empty() {
        query.append_pair("filters", &serde_json::to_string(&filters)?);
    }
    let format = match args.format.as_deref() {
        None | Some("") => None,
        Some(f) => match event_template(f) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("Error parsing format: {e}");
                return Ok(64);
            }
        },
    };
    let mut printer = Printer { format, pending: Vec::new() };
    client.stream(&format!("/events?{}", query.finish()), &mut printer).await?;
    Ok(0)
}

/// `--format` as docker's: `json` is `{{json .}}`; the template is tried on an
/// empty message first, so that a wrong one fails before any event.
fn event_template(format: &str) -> Result<Template, template::Error> {
    let t = Template::parse(if format == "json" { "{{json .}}" } else { format }, Missing::NoValue)?;
    let empty = Message::new("", "", "", BTreeMap::new());
    t.render(&go_fields(&serde_json::to_value(&empty).unwrap_or_default()))?;
    Ok(t)
}

/// The message with Go's field names beside its JSON keys (`.Scope`, `.TimeNano`
/// as docker's templates name them, `scope`, `timeNano` in its JSON).
fn go_fields(line: &serde_json::Value) -> serde_json::Value {
    let mut v = line.clone();
    if let Some(o) = v.as_object_mut() {
        for (json, go) in [
            ("status", "Status"),
            ("id", "ID"),
            ("from", "From"),
            ("scope", "Scope"),
            ("time", "Time"),
            ("timeNano", "TimeNano"),
        ] {
            let value = o.get(json).cloned().unwrap_or_else(|| {
                if json.starts_with("time") {
                    0.into()
                } else {
                    "".into()
                }
            });
            o.insert(go.to_string(), value);
        }
    }
    v
}

/// Cuts the stream into lines, one event each, and prints every one whole.
struct Printer {
    format: Option<Template>,
    pending: Vec<u8>,
}

impl std::io::Write for Printer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let text = self.render(&line[..end]).map_err(std::io::Error::other)?;
            print_line(&text);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn print_line(text: &str) {
    outln!("{text}");
}

impl Printer {
    fn render(&self, line: &[u8]) -> Result<String> {
        match &self.format {
            Some(t) => {
                let v: serde_json::Value = serde_json::from_slice(line)?;
                Ok(t.render_with_json(&go_fields(&v), &String::from_utf8_lossy(line))?)
            }
            None => Ok(plain(&serde_json::from_slice::<Message>(line)?)),
        }
    }
}

/// `2026-12-01T20:13:43.619118090Z network create ID (name=fe, type=bridge)`.
pub fn plain(m: &Message) -> String {
    let at = Local.timestamp_nanos(m.time_nano);
    let mut time = at.format("%Y-%m-%dT%H:%M:%S%.9f%:z").to_string();
    if time.ends_with("+00:00") {
        time.truncate(time.len() - 6);
        time.push('Z');
    }
    let mut out = format!("{time} {} {} {}", m.kind, m.action, m.actor.id);
    if !m.actor.attributes.is_empty() {
        let attrs: Vec<String> = m.actor.attributes.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.push_str(&format!(" ({})", attrs.join(", ")));
    }
    out
}

//! Go templates for `-f`/`--format`, as the docker CLI evaluates them: Go's
//! text/template (the `gotmpl` crate: pipelines, variables, `range`/`if`/`with`,
//! `index`, `len`, `printf`, `println`...) with the functions docker/cli's
//! `templates/templates.go` adds (`json`, `split`, `join`, `title`, `lower`,
//! `upper`, `pad`, `truncate`), and its header variants for `table` formats.
//!
//! The data is JSON turned into Go maps, as docker's inspect falls back to when a
//! template names what its typed struct lacks: map keys are sorted when ranged over
//! and printed, and a missing key is an error where Docker's would be one (inspect,
//! `ps`, `network ls`: fields of a struct) and `<no value>` where it is a map key
//! (`events`, whose attributes differ from one event to the next).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use gotmpl::parse::{Expr, ListNode, Node, PipeNode, SmolStr};
use gotmpl::{MissingKey, TemplateError, Value};

/// What a key the data lacks gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// An error, as for a Go struct's unknown field (`map has no entry for key`).
    Error,
    /// `<no value>`, as for a Go map's absent key.
    NoValue,
}

/// A parse or execution error, worded as Go's: `template: :1: unclosed action`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

fn go_error(e: &TemplateError) -> Error {
    Error(match e {
        // Go reports parse errors by line only: `template: :1: unclosed action`.
        TemplateError::Parse { line, message, .. } | TemplateError::Lex { line, message, .. } => {
            // Go names the character by its code point: `bad character U+002D '-'`.
            let bad = message.strip_prefix("unexpected character: '").and_then(|c| c.strip_suffix('\''));
            match bad.and_then(|c| c.chars().next()) {
                Some(c) => format!("template: :{line}: bad character U+{:04X} '{c}'", c as u32),
                None => format!("template: :{line}: {message}"),
            }
        }
        TemplateError::MissingKey { key } => {
            format!("template: executing \"\": map has no entry for key {key:?}")
        }
        other => format!("template: executing \"\": {other}"),
    })
}

/// A parsed template: the text as given, executed against JSON values.
pub struct Template {
    tmpl: gotmpl::Template,
    /// The JSON `{{json .}}` prints for the current data, when it is not the
    /// data's own (events carry Go's field names beside the JSON's keys).
    root: Arc<Mutex<Option<(usize, String)>>>,
}

impl Template {
    /// Parses `text` with the docker CLI's functions.
    pub fn parse(text: &str, missing: Missing) -> Result<Self, Error> {
        check(text)?;
        let root: Arc<Mutex<Option<(usize, String)>>> = Arc::default();
        let tmpl = with_basic_functions(gotmpl::Template::new(""), root.clone())
            .missing_key(match missing {
                Missing::Error => MissingKey::Error,
                Missing::NoValue => MissingKey::Invalid,
            })
            .parse(text)
            .map_err(|e| go_error(&e))?;
        Ok(Self { tmpl, root })
    }

    /// Executes against `data`.
    pub fn render(&self, data: &serde_json::Value) -> Result<String, Error> {
        self.execute(&to_value(data))
    }

    /// Executes against `data`, where `{{json .}}` prints `json` instead.
    pub fn render_with_json(&self, data: &serde_json::Value, json: &str) -> Result<String, Error> {
        let value = to_value(data);
        if let Value::Map(m) = &value {
            *self.root.lock().unwrap_or_else(|e| e.into_inner()) =
                Some((Arc::as_ptr(m) as *const () as usize, json.to_string()));
        }
        let out = self.execute(&value);
        *self.root.lock().unwrap_or_else(|e| e.into_inner()) = None;
        out
    }

    fn execute(&self, value: &Value) -> Result<String, Error> {
        self.tmpl.execute_to_string(value).map_err(|e| go_error(&e))
    }
}

/// Go's builtins and docker/cli's functions: what a template may call.
const FUNCTIONS: [&str; 27] = [
    "and", "call", "eq", "ge", "gt", "html", "index", "js", "le", "len", "lt", "ne", "not", "or", "print",
    "printf", "println", "slice", "urlquery", "json", "split", "join", "title", "lower", "upper", "pad",
    "truncate",
];

/// What Go's parser refuses and gotmpl 0.6's lets through (docs/decisions.md):
/// a block without its `{{end}}` (taken as ended by the end of the text), an
/// `{{end}}` or `{{else}}` outside any block (taken as the end of the text),
/// and, at parse time, functions and variables that are not defined.
fn check(text: &str) -> Result<(), Error> {
    const SENTINEL: &str = "\u{0}netctl:end-of-template\u{0}";
    // Errors of the text itself first, where an unclosed action would take the sentinel in.
    gotmpl::parse::Parser::new(text, "{{", "}}").and_then(|p| p.parse()).map_err(|e| go_error(&e))?;
    let src = format!("{text}{SENTINEL}");
    let parser = gotmpl::parse::Parser::new(&src, "{{", "}}").map_err(|e| go_error(&e))?;
    let (list, defines) = parser.parse().map_err(|e| go_error(&e))?;
    let last_line = 1 + text.matches('\n').count();
    let ended = list.nodes.last().is_some_and(|n| matches!(n, Node::Text(t) if t.text.ends_with(SENTINEL)));
    if !ended {
        if has_sentinel(&list) {
            // Parsed, but inside a block that was never ended.
            return Err(Error(format!("template: :{last_line}: unexpected EOF")));
        }
        // Never reached: the parse stopped early, at a stray end or else.
        return Err(stray(text, list.nodes.last().map_or(0, node_offset)));
    }
    let mut scope = vec![SmolStr::new("$")];
    check_list(&list, &mut scope)?;
    for d in &defines {
        check_list(&d.body, &mut vec![SmolStr::new("$")])?;
    }
    Ok(())
}

/// Whether the sentinel text was parsed at all, at any depth.
fn has_sentinel(list: &ListNode) -> bool {
    list.nodes.iter().any(|n| match n {
        Node::Text(t) => t.text.contains("netctl:end-of-template"),
        Node::List(l) => has_sentinel(l),
        Node::If(b) | Node::Range(b) | Node::With(b) => {
            has_sentinel(&b.body) || b.else_body.as_ref().is_some_and(has_sentinel)
        }
        _ => false,
    })
}

fn node_offset(n: &Node) -> usize {
    match n {
        Node::List(l) => l.pos.offset,
        Node::Text(t) => t.pos.offset,
        Node::Action(a) => a.pos.offset,
        Node::If(b) | Node::Range(b) | Node::With(b) => b.pos.offset,
        Node::Template(t) => t.pos.offset,
        Node::Define(d) => d.pos.offset,
        Node::Break(p) | Node::Continue(p) => p.offset,
    }
}

/// `unexpected {{end}}` (or `{{else}}`) at the first such action after `from`.
fn stray(text: &str, from: usize) -> Error {
    let mut at = from.min(text.len());
    while let Some(i) = text.get(at..).and_then(|t| t.find("{{")) {
        let start = at + i;
        let inner = text[start + 2..].trim_start_matches('-').trim_start();
        for word in ["end", "else"] {
            if inner.starts_with(word) && !inner[word.len()..].starts_with(|c: char| c.is_alphanumeric()) {
                let line = 1 + text[..start].matches('\n').count();
                return Error(format!("template: :{line}: unexpected {{{{{word}}}}}"));
            }
        }
        at = start + 2;
    }
    Error("template: :1: unexpected {{end}}".into())
}

fn check_list(list: &ListNode, scope: &mut Vec<SmolStr>) -> Result<(), Error> {
    let depth = scope.len();
    for node in &list.nodes {
        match node {
            Node::List(l) => check_list(l, scope)?,
            Node::Action(a) => {
                check_pipe(&a.pipe, scope)?;
                if !a.pipe.is_assign {
                    scope.extend(a.pipe.decl.iter().cloned());
                }
            }
            Node::If(b) | Node::Range(b) | Node::With(b) => {
                check_pipe(&b.pipe, scope)?;
                let inner = scope.len();
                if !b.pipe.is_assign {
                    scope.extend(b.pipe.decl.iter().cloned());
                }
                check_list(&b.body, scope)?;
                if let Some(e) = &b.else_body {
                    check_list(e, scope)?;
                }
                scope.truncate(inner);
            }
            Node::Template(t) => {
                if let Some(p) = &t.pipe {
                    check_pipe(p, scope)?;
                }
            }
            Node::Text(_) | Node::Define(_) | Node::Break(_) | Node::Continue(_) => {}
        }
    }
    scope.truncate(depth);
    Ok(())
}

fn check_pipe(pipe: &PipeNode, scope: &[SmolStr]) -> Result<(), Error> {
    if pipe.is_assign {
        for d in &pipe.decl {
            defined(d, scope, pipe.pos.line)?;
        }
    }
    for cmd in &pipe.commands {
        for e in &cmd.args {
            check_expr(e, scope)?;
        }
    }
    Ok(())
}

fn defined(var: &str, scope: &[SmolStr], line: usize) -> Result<(), Error> {
    if scope.iter().any(|v| v == var) {
        Ok(())
    } else {
        Err(Error(format!("template: :{line}: undefined variable {var:?}")))
    }
}

fn check_expr(e: &Expr, scope: &[SmolStr]) -> Result<(), Error> {
    match e {
        Expr::Identifier(p, name) if !FUNCTIONS.contains(&name.as_str()) => {
            Err(Error(format!("template: :{}: function {:?} not defined", p.line, name.as_str())))
        }
        Expr::Variable(p, name, _) => defined(name, scope, p.line),
        Expr::Pipe(_, pipe) => check_pipe(pipe, scope),
        Expr::Chain(_, inner, _) => check_expr(inner, scope),
        _ => Ok(()),
    }
}

/// Renders a `table` format's header row: the same template against the column
/// names, with the functions that would change them left out (docker/cli's
/// `HeaderFunctions`). Errors are ignored as Docker ignores them, keeping what
/// was printed before one.
pub fn header(text: &str, headers: &BTreeMap<&str, &str>) -> String {
    let data =
        Value::Map(Arc::new(headers.iter().map(|(k, v)| (Arc::<str>::from(*k), Value::from(*v))).collect()));
    let Ok(tmpl) = with_header_functions(gotmpl::Template::new("")).parse(text) else { return String::new() };
    let mut out = String::new();
    let _ = tmpl.execute_fmt(&mut out, &data);
    out
}

/// serde_json's value as Go's `map[string]any` from encoding/json.
pub fn to_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Int(i)
            } else if let Some(u) = n.as_u64() {
                Value::Uint(u)
            } else {
                Value::Float(n.as_f64().unwrap_or(0.0))
            }
        }
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(a) => Value::List(a.iter().map(to_value).collect()),
        serde_json::Value::Object(o) => {
            Value::Map(Arc::new(o.iter().map(|(k, v)| (Arc::<str>::from(k.as_str()), to_value(v))).collect()))
        }
    }
}

/// Back to JSON, for the `json` function.
fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Nil | Value::Function(_) => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Int(i) => (*i).into(),
        Value::Uint(u) => (*u).into(),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into),
        Value::String(s) => s.as_ref().into(),
        Value::List(l) => l.iter().map(to_json).collect(),
        Value::Map(m) => m.iter().map(|(k, v)| (k.to_string(), to_json(v))).collect(),
    }
}

fn exec_error(msg: String) -> TemplateError {
    TemplateError::Exec(msg)
}

fn arg<'a>(name: &str, args: &'a [Value], n: usize) -> gotmpl::Result<&'a [Value]> {
    if args.len() != n {
        return Err(exec_error(format!("wrong number of args for {name}: want {n} got {}", args.len())));
    }
    Ok(args)
}

fn string<'a>(name: &str, v: &'a Value) -> gotmpl::Result<&'a str> {
    v.as_str().ok_or_else(|| {
        exec_error(format!("wrong type for value in {name}; expected string; got {}", v.type_name()))
    })
}

fn int(name: &str, v: &Value) -> gotmpl::Result<i64> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Uint(u) => i64::try_from(*u).map_err(|_| exec_error(format!("{name}: {u} overflows int"))),
        other => Err(exec_error(format!(
            "wrong type for value in {name}; expected int; got {}",
            other.type_name()
        ))),
    }
}

/// Go's `fmt.Sprint` of one value, as `join` prints elements.
fn sprint(v: &Value) -> String {
    v.to_string()
}

/// Go's deprecated `strings.Title`: the first letter of each word upper-cased.
pub fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_sep = true;
    for c in s.chars() {
        if prev_sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_sep = if c.is_ascii() { !(c.is_ascii_alphanumeric() || c == '_') } else { c.is_whitespace() };
    }
    out
}

fn with_basic_functions(t: gotmpl::Template, root: Arc<Mutex<Option<(usize, String)>>>) -> gotmpl::Template {
    t.func("json", move |args| {
        let [v] = arg("json", args, 1)? else { unreachable!() };
        if let Value::Map(m) = v {
            let ptr = Arc::as_ptr(m) as *const () as usize;
            if let Some((p, json)) = root.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                if *p == ptr {
                    return Ok(Value::from(json.as_str()));
                }
            }
        }
        serde_json::to_string(&to_json(v)).map(Value::from).map_err(|e| exec_error(format!("json: {e}")))
    })
    .func("split", |args| {
        let [s, sep] = arg("split", args, 2)? else { unreachable!() };
        let (s, sep) = (string("split", s)?, string("split", sep)?);
        let parts: Vec<Value> = if sep.is_empty() {
            s.chars().map(|c| Value::from(c.to_string())).collect()
        } else {
            s.split(sep).map(Value::from).collect()
        };
        Ok(Value::from(parts))
    })
    .func("join", |args| {
        let [elems, sep] = arg("join", args, 2)? else { unreachable!() };
        let sep = string("join", sep)?;
        match elems {
            Value::Nil => Ok(Value::from("")),
            Value::List(l) => Ok(Value::from(l.iter().map(sprint).collect::<Vec<_>>().join(sep))),
            Value::Map(m) => {
                let mut values: Vec<String> = m.values().map(sprint).collect();
                values.sort();
                Ok(Value::from(values.join(sep)))
            }
            other => Err(exec_error(format!("expected slice, got {}", other.type_name()))),
        }
    })
    .func("title", |args| {
        let [s] = arg("title", args, 1)? else { unreachable!() };
        Ok(Value::from(title(string("title", s)?)))
    })
    .func("lower", |args| {
        let [s] = arg("lower", args, 1)? else { unreachable!() };
        Ok(Value::from(string("lower", s)?.to_lowercase()))
    })
    .func("upper", |args| {
        let [s] = arg("upper", args, 1)? else { unreachable!() };
        Ok(Value::from(string("upper", s)?.to_uppercase()))
    })
    .func("pad", pad)
    .func("truncate", |args| {
        let [s, n] = arg("truncate", args, 2)? else { unreachable!() };
        let (s, n) = (string("truncate", s)?, int("truncate", n)?);
        let n = usize::try_from(n).unwrap_or(0);
        if s.len() < n {
            return Ok(Value::from(s));
        }
        let mut end = n;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        Ok(Value::from(&s[..end]))
    })
}

/// `pad STRING PREFIX SUFFIX`: spaces around a non-empty string.
fn pad(args: &[Value]) -> gotmpl::Result<Value> {
    let [s, before, after] = arg("pad", args, 3)? else { unreachable!() };
    let s = string("pad", s)?;
    if s.is_empty() {
        return Ok(Value::from(""));
    }
    let spaces = |n: i64| " ".repeat(usize::try_from(n).unwrap_or(0));
    Ok(Value::from(format!("{}{s}{}", spaces(int("pad", before)?), spaces(int("pad", after)?))))
}

fn with_header_functions(t: gotmpl::Template) -> gotmpl::Template {
    let first = |args: &[Value]| Ok(args.first().cloned().unwrap_or(Value::Nil));
    ["json", "split", "join", "title", "lower", "upper", "truncate"]
        .into_iter()
        .fold(t, |t, name| t.func(name, first))
        .func("pad", pad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(text: &str, data: &serde_json::Value) -> Result<String, Error> {
        Template::parse(text, Missing::Error)?.render(data)
    }

    fn inspect() -> serde_json::Value {
        json!({
            "Id": "abc",
            "Name": "/web",
            "State": {"Pid": 42, "Running": true},
            "Config": {"Cmd": ["sleep", "600"], "Env": []},
            "NetworkSettings": {"Networks": {
                "n2": {"IPAddress": "10.0.2.5", "Aliases": ["w", "web"]},
                "n1": {"IPAddress": "10.0.1.5", "Aliases": null},
            }},
            "Labels": {"b": "2", "a": "1"},
        })
    }

    #[test]
    fn fields_range_over_sorted_maps_and_variables() {
        let v = inspect();
        assert_eq!(render("{{.Id}} {{.State.Pid}} {{.State.Running}}", &v).unwrap(), "abc 42 true");
        assert_eq!(
            render("{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", &v).unwrap(),
            "10.0.1.5 10.0.2.5 "
        );
        assert_eq!(
            render("{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}};{{end}}", &v)
                .unwrap(),
            "n1=10.0.1.5;n2=10.0.2.5;"
        );
        assert_eq!(render("{{$n := .Name}}{{$n}}{{$n}}", &v).unwrap(), "/web/web");
        assert_eq!(render("{{.Config.Cmd}}", &v).unwrap(), "[sleep 600]");
        assert_eq!(render("{{range .Config.Env}}x{{else}}none{{end}}", &v).unwrap(), "none");
        assert_eq!(render("{{with .State}}{{.Pid}}{{end}}", &v).unwrap(), "42");
    }

    #[test]
    fn index_len_if_else_and_pipelines() {
        let v = inspect();
        assert_eq!(
            render(r#"{{(index .NetworkSettings.Networks "n2").IPAddress}}"#, &v).unwrap(),
            "10.0.2.5"
        );
        assert_eq!(render(r#"{{index .Labels "a"}}"#, &v).unwrap(), "1");
        assert_eq!(render("{{index .Config.Cmd 1}}", &v).unwrap(), "600");
        assert_eq!(render("{{len .NetworkSettings.Networks}}", &v).unwrap(), "2");
        assert_eq!(render("{{if .State.Running}}up{{else}}down{{end}}", &v).unwrap(), "up");
        assert_eq!(
            render(r#"{{if eq (len .Config.Env) 0}}no env{{else if .Id}}env{{end}}"#, &v).unwrap(),
            "no env"
        );
        assert_eq!(render("{{.Name | printf \"%s!\"}}", &v).unwrap(), "/web!");
        assert_eq!(render("{{println .Id}}", &v).unwrap(), "abc\n");
        assert_eq!(render("{{- .Id -}}  \n", &v).unwrap(), "abc");
    }

    #[test]
    fn docker_cli_functions() {
        let v = inspect();
        assert_eq!(
            render("{{json .NetworkSettings.Networks.n2}}", &v).unwrap(),
            r#"{"Aliases":["w","web"],"IPAddress":"10.0.2.5"}"#
        );
        assert_eq!(render("{{json .Name}}", &v).unwrap(), r#""/web""#);
        assert_eq!(render("{{json .NetworkSettings.Networks.n1.Aliases}}", &v).unwrap(), "null");
        assert_eq!(render(r#"{{json "<a&b>"}}"#, &v).unwrap(), r#""<a&b>""#, "no HTML escaping");
        assert_eq!(render("{{lower \"AbC\"}} {{upper .Id}}", &v).unwrap(), "abc ABC");
        assert_eq!(render("{{.Id | upper}}", &v).unwrap(), "ABC");
        assert_eq!(render(r#"{{join .Config.Cmd ","}}"#, &v).unwrap(), "sleep,600");
        assert_eq!(render(r#"{{join .Labels "+"}}"#, &v).unwrap(), "1+2", "a map's values, sorted");
        assert_eq!(render(r#"{{join .NetworkSettings.Networks.n1.Aliases ","}}"#, &v).unwrap(), "");
        assert_eq!(render(r#"{{title "hello big-world x_y"}}"#, &v).unwrap(), "Hello Big-World X_y");
        assert_eq!(render(r#"{{split "a:b:c" ":"}}"#, &v).unwrap(), "[a b c]");
        assert_eq!(render(r#"{{index (split "a:b:c" ":") 2}}"#, &v).unwrap(), "c");
        assert_eq!(render(r#"{{len (split .Name "")}}"#, &v).unwrap(), "4");
        assert_eq!(render(r#"[{{pad .Id 1 2}}][{{pad "" 3 3}}]"#, &v).unwrap(), "[ abc  ][]");
        assert_eq!(render(r#"{{truncate .Id 2}} {{truncate .Id 9}}"#, &v).unwrap(), "ab abc");
        let e = render("{{upper .State}}", &v).unwrap_err().to_string();
        assert!(e.contains("expected string"), "{e}");
        let e = render(r#"{{join .Id ","}}"#, &v).unwrap_err().to_string();
        assert!(e.contains("expected slice, got string"), "{e}");
    }

    #[test]
    fn json_of_the_data_itself_can_be_given() {
        let v = json!({"scope": "local", "Scope": "local", "Type": "network"});
        let t = Template::parse("{{json .}} {{.Scope}} {{json .Type}}", Missing::NoValue).unwrap();
        assert_eq!(
            t.render_with_json(&v, r#"{"Type":"network","scope":"local"}"#).unwrap(),
            r#"{"Type":"network","scope":"local"} local "network""#
        );
        // Without it, the data's own JSON.
        assert_eq!(
            t.render(&v).unwrap(),
            r#"{"Scope":"local","Type":"network","scope":"local"} local "network""#
        );
    }

    #[test]
    fn errors_are_worded_as_go_words_them() {
        let v = inspect();
        let e = |t: &str| Template::parse(t, Missing::Error).err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(e("{{.Id"), "template: :1: unclosed action");
        // A network's name with a dash is no field name: Docker's users write index.
        assert_eq!(e("{{.Networks.app-net.IPAddress}}"), "template: :1: bad character U+002D '-'");
        // What gotmpl 0.6 alone would take: a block never ended, a stray end or else,
        // unknown functions and variables (Go refuses all of them at parse time).
        assert_eq!(e("{{range .X}}"), "template: :1: unexpected EOF");
        assert_eq!(e("{{if .A}}\n{{range .X}}{{end}}\n"), "template: :3: unexpected EOF");
        assert_eq!(e("x{{end}}y"), "template: :1: unexpected {{end}}");
        assert_eq!(e("{{.A}}\n{{- else}}"), "template: :2: unexpected {{else}}");
        assert_eq!(e("{{if .A}}{{end}}{{end}}"), "template: :1: unexpected {{end}}");
        assert_eq!(e("{{nosuchfunc .X}}"), r#"template: :1: function "nosuchfunc" not defined"#);
        assert_eq!(e("{{if .A}}{{(nope).X}}{{end}}"), r#"template: :1: function "nope" not defined"#);
        assert_eq!(e("{{$x}}"), r#"template: :1: undefined variable "$x""#);
        assert_eq!(e("{{range $i, $v := .A}}{{end}}{{$v}}"), r#"template: :1: undefined variable "$v""#);
        assert_eq!(e("{{$x = 1}}"), r#"template: :1: undefined variable "$x""#);
        for good in [
            "{{$x := 1}}{{$x = 2}}{{$x}}{{$}}{{$.Id}}",
            "{{range $i, $v := .A}}{{$i}}{{$v}}{{else}}{{end}}",
            "{{with $n := .Name}}{{$n}}{{end}}",
            "{{define \"t\"}}{{.}}{{end}}{{template \"t\" .Id}}",
            "{{/* a comment */}}{{- .Id -}}",
            "{{if .A}}a{{else if .B}}b{{else}}c{{end}}",
        ] {
            assert_eq!(e(good), "", "{good}");
        }
        assert_eq!(
            render("{{.Nope}}", &v).unwrap_err().to_string(),
            r#"template: executing "": map has no entry for key "Nope""#
        );
        // A map's absent key is <no value> where the caller says so.
        assert_eq!(Template::parse("{{.Nope}}", Missing::NoValue).unwrap().render(&v).unwrap(), "<no value>");
        assert_eq!(render(r#"{{index .Labels "zz"}}"#, &v).unwrap(), "<no value>");
    }

    #[test]
    fn table_headers_keep_their_names() {
        let headers: BTreeMap<&str, &str> =
            [("ID", "NETWORK ID"), ("Name", "NAME"), ("Labels", "LABELS")].into();
        assert_eq!(header("{{.ID}}\t{{.Name}}", &headers), "NETWORK ID\tNAME");
        assert_eq!(
            header("{{upper .Name}}:{{json .ID}}:{{lower .Labels}}", &headers),
            "NAME:NETWORK ID:LABELS"
        );
        assert_eq!(
            header(r#"{{join .Labels ","}} {{truncate .Name 2}} {{pad .Name 1 1}}"#, &headers),
            "LABELS NAME  NAME "
        );
        // An unknown column: Go's <no value>; an error keeps what came before it.
        assert_eq!(header("{{.Nope}}", &headers), "<no value>");
        assert_eq!(header("{{.ID}} {{range .Name}}x{{end}}", &headers), "NETWORK ID ");
    }
}

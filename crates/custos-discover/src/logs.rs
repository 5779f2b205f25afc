//! Proxy, DNS and egress logs: which workload talks to which model provider, coding-agent
//! service, agent infrastructure, MCP server or local model server, and how often.
//!
//! Logs can be gigabytes, so a log is read as a stream of lines, each cut at [`MAX_LINE`] bytes
//! (the rest of a longer line is skipped unbuffered); memory grows only with the number of
//! distinct (workload, host) pairs the catalogue recognises. A line the detected format cannot
//! read is counted in [`LogScan::bad_lines`], never fatal. The format is detected from the first
//! non-empty lines: Squid native `access.log`, Zeek `http`/`dns`/`ssl` logs in TSV (with their
//! `#separator`/`#fields` headers) or JSON, and generic JSON lines with a host or URL field.

use std::collections::HashMap;
use std::io::{self, BufRead};
use std::path::Path;
use std::sync::LazyLock;

use jiff::Timestamp;
use regex::Regex;
use serde_json::{Map, Value};

use crate::hosts::{HostCatalogue, HostCategory, HostEntry, is_local, split_host_port};
use crate::model::{Location, Source, TrafficFinding};

/// Longer lines are counted as bad without being held in memory.
pub const MAX_LINE: usize = 64 * 1024;

/// How many non-empty lines the format detection looks at.
const DETECT_LINES: usize = 16;

/// What a log scan found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogScan {
    /// `squid`, `zeek-http`, `zeek-dns`, `zeek-ssl`, `zeek-json` or `json-lines`.
    pub format: &'static str,
    /// Lines read, including empty and header lines.
    pub lines: u64,
    /// Lines the format could not read (too long, not valid in the format).
    pub bad_lines: u64,
    /// One finding per (workload, host), sorted by workload then host.
    pub traffic: Vec<TrafficFinding>,
}

/// Scans one log. `path` names the file in findings; `reader` gives its content. Errors when
/// the format is not recognised or the file cannot be read.
pub fn scan_log(hosts: &HostCatalogue, path: &Path, reader: impl BufRead) -> Result<LogScan, String> {
    let mut lines = LineReader::new(reader, MAX_LINE);
    let mut head: Vec<(u64, Line)> = Vec::new();
    let mut non_empty = 0;
    while non_empty < DETECT_LINES {
        let Some(line) = lines.next_line().map_err(|e| read_error(&lines, &e))? else { break };
        if !matches!(&line, Line::Text(t) if t.trim().is_empty()) {
            non_empty += 1;
        }
        head.push((lines.number, line));
    }
    let format = detect(head.iter().filter_map(|(_, l)| match l {
        Line::Text(t) => Some(t.as_str()),
        Line::TooLong => None,
    }))?;
    let mut scan = Scanner { hosts, path, parser: Parser::new(format), flows: HashMap::new(), bad: 0 };
    for (number, line) in head {
        scan.line(number, line);
    }
    while let Some(line) = lines.next_line().map_err(|e| read_error(&lines, &e))? {
        scan.line(lines.number, line);
    }
    let format = scan.parser.name();
    Ok(LogScan { format, lines: lines.number, bad_lines: scan.bad, traffic: scan.finish() })
}

fn read_error<R>(lines: &LineReader<R>, e: &io::Error) -> String {
    format!("read error after line {}: {e}", lines.number)
}

/// One line as read: its text, or the fact that it was longer than the limit.
#[derive(Debug)]
pub(crate) enum Line {
    Text(String),
    TooLong,
}

/// Reads lines of at most `max` bytes, never buffering more; bytes that are not UTF-8 are
/// replaced, so binary garbage becomes lines that no format accepts.
#[derive(Debug)]
pub(crate) struct LineReader<R> {
    reader: R,
    max: usize,
    buf: Vec<u8>,
    /// The number of the last line returned (1-based).
    pub(crate) number: u64,
}

impl<R: BufRead> LineReader<R> {
    pub(crate) fn new(reader: R, max: usize) -> Self {
        Self { reader, max, buf: Vec::new(), number: 0 }
    }

    /// The reader, positioned after the last line returned.
    pub(crate) fn into_inner(self) -> R {
        self.reader
    }

    pub(crate) fn next_line(&mut self) -> io::Result<Option<Line>> {
        self.buf.clear();
        let mut too_long = false;
        let mut any = false;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                if !any {
                    return Ok(None);
                }
                break;
            }
            any = true;
            let (chunk, used, done) = match memchr::memchr(b'\n', available) {
                Some(i) => (available.get(..i).unwrap_or_default(), i + 1, true),
                None => (available, available.len(), false),
            };
            let room = self.max.saturating_sub(self.buf.len());
            if chunk.len() > room {
                too_long = true;
            }
            if !too_long {
                self.buf.extend_from_slice(chunk);
            }
            self.reader.consume(used);
            if done {
                break;
            }
        }
        self.number += 1;
        if too_long {
            return Ok(Some(Line::TooLong));
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        Ok(Some(Line::Text(String::from_utf8_lossy(&self.buf).into_owned())))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Squid,
    ZeekTsv,
    ZeekJson,
    JsonLines,
}

static SQUID: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^\d{9,11}(\.\d{1,9})?\s+-?\d+\s+\S+\s+[A-Z_]+/\d{3}\s+\d+\s+[A-Za-z_-]+\s+\S+").ok());

fn detect<'a>(head: impl Iterator<Item = &'a str>) -> Result<Format, String> {
    let mut saw_json = false;
    for line in head {
        let line = line.trim_start();
        if line.is_empty() {
            continue;
        }
        if line.starts_with("#separator") || line.starts_with("#fields") {
            return Ok(Format::ZeekTsv);
        }
        if line.starts_with('{') {
            let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(line) else { continue };
            saw_json = true;
            if obj.contains_key("resourceSpans") || obj.contains_key("resource_spans") {
                return Err("an OTLP trace file, not a log: scan it as OpenTelemetry".into());
            }
            if obj.contains_key("id.orig_h") && ZEEK_HOST_FIELDS.iter().any(|f| obj.contains_key(*f)) {
                return Ok(Format::ZeekJson);
            }
            if generic_host(&obj).is_some() {
                return Ok(Format::JsonLines);
            }
            continue;
        }
        if SQUID.as_ref().is_some_and(|re| re.is_match(line)) {
            return Ok(Format::Squid);
        }
    }
    Err(if saw_json {
        format!("JSON lines without a host or URL field in the first {DETECT_LINES} lines")
    } else {
        "not a recognised log format (Squid access.log, Zeek TSV or JSON, JSON lines with a host field)".into()
    })
}

const ZEEK_HOST_FIELDS: &[&str] = &["host", "query", "server_name"];

/// Which Zeek log a TSV section or JSON record is, by its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ZeekKind {
    Http,
    Dns,
    Ssl,
}

#[derive(Debug)]
struct ZeekHeader {
    separator: String,
    unset: String,
    empty: String,
    kind: Option<ZeekKind>,
    fields: Vec<String>,
    /// Column indexes of the fields the scan reads.
    ts: Option<usize>,
    orig: Option<usize>,
    host: Option<usize>,
    uri: Option<usize>,
    resp_h: Option<usize>,
    resp_p: Option<usize>,
}

impl Default for ZeekHeader {
    fn default() -> Self {
        Self {
            separator: "\t".into(),
            unset: "-".into(),
            empty: "(empty)".into(),
            kind: None,
            fields: Vec::new(),
            ts: None,
            orig: None,
            host: None,
            uri: None,
            resp_h: None,
            resp_p: None,
        }
    }
}

#[derive(Debug)]
enum Parser {
    Squid,
    ZeekTsv { header: Box<ZeekHeader>, first_kind: Option<ZeekKind> },
    ZeekJson,
    JsonLines,
}

impl Parser {
    fn new(format: Format) -> Self {
        match format {
            Format::Squid => Self::Squid,
            Format::ZeekTsv => Self::ZeekTsv { header: Box::default(), first_kind: None },
            Format::ZeekJson => Self::ZeekJson,
            Format::JsonLines => Self::JsonLines,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Squid => "squid",
            Self::ZeekTsv { first_kind: Some(ZeekKind::Http), .. } => "zeek-http",
            Self::ZeekTsv { first_kind: Some(ZeekKind::Dns), .. } => "zeek-dns",
            Self::ZeekTsv { first_kind: Some(ZeekKind::Ssl), .. } => "zeek-ssl",
            Self::ZeekTsv { first_kind: None, .. } => "zeek",
            Self::ZeekJson => "zeek-json",
            Self::JsonLines => "json-lines",
        }
    }
}

/// One request, connection or lookup as a log line states it.
#[derive(Debug)]
struct Record {
    workload: String,
    /// As the log states it, possibly with a port.
    host: String,
    /// Tried when `host` is not in the catalogue: the connection's address and port, when a
    /// `Host` header names an internal server by a name.
    fallback: Option<String>,
    path: Option<String>,
    time: Option<Timestamp>,
}

/// What one line is.
enum Outcome {
    Record(Record),
    /// A header, comment or record without a destination: fine, nothing to count.
    Nothing,
    Bad,
}

#[derive(Debug)]
struct Flow {
    line: u64,
    provider: String,
    category: HostCategory,
    requests: u64,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
}

struct Scanner<'a> {
    hosts: &'a HostCatalogue,
    path: &'a Path,
    parser: Parser,
    flows: HashMap<(String, String), Flow>,
    bad: u64,
}

impl Scanner<'_> {
    fn line(&mut self, number: u64, line: Line) {
        let Line::Text(text) = line else {
            self.bad += 1;
            return;
        };
        if text.trim().is_empty() {
            return;
        }
        let outcome = match &mut self.parser {
            Parser::Squid => squid(&text),
            Parser::ZeekTsv { header, first_kind } => {
                let outcome = zeek_tsv(header, &text);
                if first_kind.is_none() {
                    *first_kind = header.kind;
                }
                outcome
            }
            Parser::ZeekJson => json_line(&text, true),
            Parser::JsonLines => json_line(&text, false),
        };
        match outcome {
            Outcome::Record(record) => self.record(number, record),
            Outcome::Nothing => {}
            Outcome::Bad => self.bad += 1,
        }
    }

    fn record(&mut self, number: u64, record: Record) {
        let path = record.path.as_deref();
        let (seen, entry) = match self.hosts.classify_request(&record.host, path) {
            Some(entry) => (&record.host, entry),
            None => match record.fallback.as_ref().and_then(|f| Some((f, self.hosts.classify_request(f, path)?))) {
                Some(found) => found,
                None => return,
            },
        };
        let host = display_host(seen, entry);
        let flow = self.flows.entry((record.workload, host)).or_insert_with(|| Flow {
            line: number,
            provider: entry.provider.clone(),
            category: entry.category,
            requests: 0,
            first: None,
            last: None,
        });
        flow.requests += 1;
        if let Some(t) = record.time {
            flow.first = Some(flow.first.map_or(t, |f| f.min(t)));
            flow.last = Some(flow.last.map_or(t, |l| l.max(t)));
        }
    }

    fn finish(self) -> Vec<TrafficFinding> {
        let mut traffic: Vec<TrafficFinding> = self
            .flows
            .into_iter()
            .map(|((workload, host), flow)| TrafficFinding {
                workload,
                host,
                provider: flow.provider,
                category: flow.category.as_str().into(),
                source: Source::Log,
                location: Location::line(self.path, u32::try_from(flow.line).unwrap_or(u32::MAX)),
                requests: flow.requests,
                first_seen: flow.first.map(|t| t.to_string()),
                last_seen: flow.last.map(|t| t.to_string()),
                models: Vec::new(),
                tools: Vec::new(),
            })
            .collect();
        traffic.sort_by(|a, b| (&a.workload, &a.host).cmp(&(&b.workload, &b.host)));
        traffic
    }
}

/// The host as findings show it: lowercase, no trailing dot, the port only for local model
/// servers (where it says which server it is).
pub(crate) fn display_host(host: &str, entry: &HostEntry) -> String {
    let (name, port) = split_host_port(host.trim());
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    match port {
        Some(port) if entry.category == HostCategory::LocalModel && is_local(&name) => {
            if name.contains(':') {
                format!("[{name}]:{port}")
            } else {
                format!("{name}:{port}")
            }
        }
        _ => name,
    }
}

/// `time elapsed client code/status bytes method URL user hierarchy/peer type`.
fn squid(line: &str) -> Outcome {
    let mut f = line.split_ascii_whitespace();
    let (Some(ts), Some(elapsed), Some(client), Some(code), Some(bytes), Some(method), Some(url)) =
        (f.next(), f.next(), f.next(), f.next(), f.next(), f.next(), f.next())
    else {
        return Outcome::Bad;
    };
    let Some(time) = epoch(ts) else { return Outcome::Bad };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let code_ok = match code.split_once('/') {
        Some((tag, status)) => {
            !tag.is_empty()
                && tag.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
                && status.len() == 3
                && digits(status)
        }
        None => false,
    };
    let method_ok = method.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_' || b == b'-');
    if !(digits(elapsed.trim_start_matches('-')) && code_ok && digits(bytes) && method_ok) {
        return Outcome::Bad;
    }
    let (host, path) = if method.eq_ignore_ascii_case("CONNECT") {
        (url.to_string(), None)
    } else {
        match split_url(url) {
            Some((host, path)) => (host.to_string(), path.map(str::to_string)),
            None => return Outcome::Nothing,
        }
    };
    Outcome::Record(Record { workload: client.to_string(), host, fallback: None, path, time: Some(time) })
}

/// `scheme://[user@]host[:port][/path…]` or `host[:port][/path…]` → (host with port, path).
pub(crate) fn split_url(url: &str) -> Option<(&str, Option<&str>)> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..end)?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if authority.is_empty() {
        return None;
    }
    let path = rest.get(end..).filter(|p| p.starts_with('/'));
    Some((authority, path))
}

fn zeek_tsv(header: &mut ZeekHeader, line: &str) -> Outcome {
    if let Some(directive) = line.strip_prefix('#') {
        let (name, value) = directive.split_once([' ', '\t']).unwrap_or((directive, ""));
        match name {
            "separator" => header.separator = unescape_zeek(value.trim()),
            "unset_field" | "empty_field" | "fields" | "path" => {
                let parts: Vec<&str> = value.split(header.separator.as_str()).collect();
                match name {
                    "unset_field" => header.unset = value.to_string(),
                    "empty_field" => header.empty = value.to_string(),
                    "path" => {
                        header.kind = match value {
                            "http" => Some(ZeekKind::Http),
                            "dns" => Some(ZeekKind::Dns),
                            "ssl" => Some(ZeekKind::Ssl),
                            _ => None,
                        }
                    }
                    _ => set_fields(header, parts),
                }
            }
            _ => {}
        }
        return Outcome::Nothing;
    }
    if header.fields.is_empty() {
        return Outcome::Bad;
    }
    let values: Vec<&str> = line.split(header.separator.as_str()).collect();
    if values.len() != header.fields.len() {
        return Outcome::Bad;
    }
    let get = |i: Option<usize>| {
        i.and_then(|i| values.get(i).copied()).filter(|v| !v.is_empty() && *v != header.unset && *v != header.empty)
    };
    let Some(workload) = get(header.orig) else { return Outcome::Bad };
    let time = match get(header.ts) {
        Some(ts) => match epoch(ts) {
            Some(t) => Some(t),
            None => return Outcome::Bad,
        },
        None => None,
    };
    let host = match get(header.host) {
        Some(host) => with_port(host, get(header.resp_p), header.kind),
        None if header.kind == Some(ZeekKind::Http) => match (get(header.resp_h), get(header.resp_p)) {
            (Some(h), Some(p)) => join_host_port(h, p),
            _ => return Outcome::Nothing,
        },
        None => return Outcome::Nothing,
    };
    let http = header.kind == Some(ZeekKind::Http);
    let path = if http { get(header.uri).map(str::to_string) } else { None };
    let fallback = match (get(header.resp_h), get(header.resp_p)) {
        (Some(h), Some(p)) if http => Some(join_host_port(h, p)),
        _ => None,
    };
    Outcome::Record(Record { workload: workload.to_string(), host, fallback, path, time })
}

fn set_fields(header: &mut ZeekHeader, fields: Vec<&str>) {
    let find = |name: &str| fields.iter().position(|f| *f == name);
    let has = |name: &str| find(name).is_some();
    // `#path` is optional; the fields say which log it is.
    header.kind = if has("query") {
        Some(ZeekKind::Dns)
    } else if has("server_name") {
        Some(ZeekKind::Ssl)
    } else if has("host") && has("uri") {
        Some(ZeekKind::Http)
    } else {
        header.kind
    };
    header.ts = find("ts");
    header.orig = find("id.orig_h");
    header.resp_h = find("id.resp_h");
    header.resp_p = find("id.resp_p");
    header.host = match header.kind {
        Some(ZeekKind::Dns) => find("query"),
        Some(ZeekKind::Ssl) => find("server_name"),
        _ => find("host"),
    };
    header.uri = find("uri");
    header.fields = fields.into_iter().map(str::to_string).collect();
}

/// An HTTP `Host` without a port gets the connection's port, so a local model server on a
/// non-default port is recognised; DNS names and SNI stay as they are.
fn with_port(host: &str, port: Option<&str>, kind: Option<ZeekKind>) -> String {
    match (kind, port) {
        (Some(ZeekKind::Http), Some(p)) if split_host_port(host).1.is_none() && p != "80" && p != "443" => {
            join_host_port(host, p)
        }
        _ => host.to_string(),
    }
}

fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// Zeek writes the separator escaped, e.g. `\x09`.
fn unescape_zeek(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("\\x") {
        out.push_str(rest.get(..i).unwrap_or_default());
        let hex = rest.get(i + 2..i + 4).and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(b) => {
                out.push(char::from(b));
                rest = rest.get(i + 4..).unwrap_or_default();
            }
            None => {
                out.push_str("\\x");
                rest = rest.get(i + 2..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    if out.is_empty() { "\t".into() } else { out }
}

const HOST_KEYS: &[&str] = &[
    "host",
    "hostname",
    "server_name",
    "sni",
    "dest_host",
    "destination.domain",
    "url.domain",
    "tls.client.server_name",
    "dns.question.name",
    "destination.address",
    "destination.ip",
    "dest_ip",
];
const URL_KEYS: &[&str] = &["url", "url.full", "url.original", "request_url", "http.url"];
const PATH_KEYS: &[&str] = &["url.path", "path", "request_path", "uri"];
const PORT_KEYS: &[&str] = &["dest_port", "destination.port", "url.port", "server.port", "id.resp_p"];
const WORKLOAD_KEYS: &[&str] = &[
    "workload",
    "k8s.pod.name",
    "kubernetes.pod.name",
    "kubernetes.pod_name",
    "pod",
    "service",
    "service.name",
    "src_ip",
    "source.ip",
    "source.address",
    "client_ip",
    "client.ip",
    "client",
    "src",
];
const TIME_KEYS: &[&str] = &["@timestamp", "timestamp", "ts", "time", "start_time", "event.created"];

/// A Zeek JSON record or a generic JSON line.
fn json_line(line: &str, zeek: bool) -> Outcome {
    let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(line) else { return Outcome::Bad };
    let time = TIME_KEYS.iter().find_map(|k| get(&obj, k)).and_then(json_time);
    if zeek {
        let Some(workload) = get_str(&obj, "id.orig_h") else { return Outcome::Bad };
        let (host, path, fallback) = if let Some(q) = get_str(&obj, "query") {
            (q.to_string(), None, None)
        } else if let Some(sni) = get_str(&obj, "server_name") {
            (sni.to_string(), None, None)
        } else if let Some(host) = get_str(&obj, "host") {
            let port = get(&obj, "id.resp_p").and_then(json_port);
            let fallback = get_str(&obj, "id.resp_h").zip(port.as_deref()).map(|(h, p)| join_host_port(h, p));
            (with_port(host, port.as_deref(), Some(ZeekKind::Http)), get_str(&obj, "uri").map(str::to_string), fallback)
        } else {
            return Outcome::Nothing;
        };
        return Outcome::Record(Record { workload: workload.to_string(), host, fallback, path, time });
    }
    let Some((host, path)) = generic_host(&obj) else { return Outcome::Nothing };
    let workload = WORKLOAD_KEYS.iter().find_map(|k| get_str(&obj, k)).unwrap_or("unknown").to_string();
    Outcome::Record(Record { workload, host, fallback: None, path, time })
}

/// The destination of a generic JSON line: a host field (with a port field when it has none)
/// or a URL, and the request path when one is given.
fn generic_host(obj: &Map<String, Value>) -> Option<(String, Option<String>)> {
    let url = URL_KEYS.iter().find_map(|k| get_str(obj, k)).and_then(split_url);
    let path = PATH_KEYS
        .iter()
        .find_map(|k| get_str(obj, k))
        .filter(|p| p.starts_with('/'))
        .or_else(|| url.and_then(|(_, p)| p))
        .map(str::to_string);
    if let Some(host) = HOST_KEYS.iter().find_map(|k| get_str(obj, k)) {
        let port = PORT_KEYS.iter().find_map(|k| get(obj, k)).and_then(json_port);
        let host = match port {
            Some(p) if split_host_port(host).1.is_none() => join_host_port(host, &p),
            _ => host.to_string(),
        };
        return Some((host, path));
    }
    url.map(|(host, _)| (host.to_string(), path))
}

/// A member by dotted name: the flat key `a.b` (Zeek, OTel style) or nested `{"a": {"b": …}}`
/// (ECS style), or any mix.
pub(crate) fn get<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    if let Some(v) = obj.get(key) {
        return Some(v);
    }
    key.match_indices('.').find_map(|(i, _)| {
        let child = obj.get(key.get(..i)?)?.as_object()?;
        get(child, key.get(i + 1..)?)
    })
}

/// A non-empty string member other than Zeek's unset `-`.
fn get_str<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v str> {
    get(obj, key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty() && *s != "-")
}

fn json_port(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => n.as_u64().filter(|p| *p <= u64::from(u16::MAX)).map(|p| p.to_string()),
        Value::String(s) => s.parse::<u16>().ok().map(|p| p.to_string()),
        _ => None,
    }
}

/// A time as JSON logs write it: RFC 3339, or a Unix time in seconds, milliseconds,
/// microseconds or nanoseconds (told apart by magnitude).
fn json_time(v: &Value) -> Option<Timestamp> {
    match v {
        Value::String(s) => s.parse::<Timestamp>().ok().or_else(|| epoch(s)),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                let abs = i.unsigned_abs();
                if abs < 100_000_000_000 {
                    Timestamp::from_second(i).ok()
                } else if abs < 100_000_000_000_000 {
                    Timestamp::from_millisecond(i).ok()
                } else if abs < 100_000_000_000_000_000 {
                    Timestamp::from_microsecond(i).ok()
                } else {
                    Timestamp::from_nanosecond(i128::from(i)).ok()
                }
            } else {
                epoch(&n.to_string())
            }
        }
        _ => None,
    }
}

/// A Unix time in seconds with an optional fraction, as Squid and Zeek write it
/// (`1733475600.123`); parsed as decimal text so no precision is lost to floats.
pub(crate) fn epoch(s: &str) -> Option<Timestamp> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let mut nanos: i32 = 0;
    for (i, d) in frac.bytes().take(9).enumerate() {
        nanos += i32::from(d - b'0') * 10_i32.pow(8 - u32::try_from(i).ok()?);
    }
    Timestamp::new(secs, nanos).ok()
}

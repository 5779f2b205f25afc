//! Tool-poisoning scan of MCP tool manifests: instructions to the model hidden in a tool's
//! description or schemas, invisible characters, shadowing of other servers' tools and
//! parameters shaped to carry data out.
//!
//! Every string a model may read is scanned: the name, title and description, and every member
//! name and string value in `inputSchema`, `outputSchema` and `annotations`. Phrase rules are data
//! (`catalogue/poisoning.toml`); the rules that need code live here.

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, MatchKind};
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{escape_invisible, push_pointer_token};
use crate::manifest::ToolManifest;

/// The poisoning catalogue shipped with custos.
pub const BUILTIN_CATALOGUE: &str = include_str!("../../catalogue/poisoning.toml");

/// Rule ids of the code rules.
pub const TAG_CHARACTERS: &str = "invisible-tag-characters";
pub const ZERO_WIDTH: &str = "invisible-zero-width";
pub const BIDI_CONTROL: &str = "bidi-control";
pub const SHADOWING: &str = "tool-shadowing";
pub const NAME_COLLISION: &str = "tool-name-collision";
pub const EXFILTRATION_PARAMETER: &str = "exfiltration-parameter";

/// How bad a finding is, from `low` to `critical`; ordered, so `max` gives the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

/// One suspicious place in a tool manifest.
///
/// `path` is where: `name`, `title`, `description`, or a JSON pointer without its leading slash
/// into a schema or the annotations (`inputSchema/properties/sidenote/description`); for a
/// finding in a member name it is the pointer of that member. `start..end` is the byte range in
/// that string. `excerpt` is a short quote around it with invisible characters escaped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub rule: String,
    pub severity: Severity,
    pub path: String,
    pub start: usize,
    pub end: usize,
    pub excerpt: String,
}

/// Why a poisoning catalogue could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("poisoning catalogue is not valid: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("poisoning rule `{id}` has an invalid pattern: {why}")]
    Regex { id: String, why: String },
    #[error("poisoning rule `{id}`: {why}")]
    Rule { id: String, why: &'static str },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    rule: Vec<RuleDef>,
    exfiltration_parameter: ExfilDef,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDef {
    id: String,
    severity: Severity,
    patterns: Vec<String>,
    unless_preceded_by: Option<String>,
    #[expect(dead_code, reason = "documentation for reviewers of the catalogue; checked to be present")]
    why: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExfilDef {
    severity: Severity,
    names: Vec<String>,
    carry: String,
}

#[derive(Debug)]
struct PhraseRule {
    id: String,
    severity: Severity,
    patterns: Vec<Regex>,
    /// Drops a match when the text just before it matches, e.g. a negation ("do not include
    /// secrets" is advice, "include secrets" an instruction).
    unless_preceded_by: Option<Regex>,
}

impl PhraseRule {
    fn negated(&self, text: &str, start: usize) -> bool {
        const LOOKBEHIND: usize = 32;
        let Some(unless) = &self.unless_preceded_by else { return false };
        let from = floor_boundary(text, start.saturating_sub(LOOKBEHIND));
        unless.is_match(text.get(from..start).unwrap_or_default())
    }
}

/// A compiled poisoning scanner. Build it once; [`PoisonScanner::scan_tool`] is pure.
#[derive(Debug)]
pub struct PoisonScanner {
    rules: Vec<PhraseRule>,
    exfil_severity: Severity,
    exfil_names: Vec<String>,
    exfil_carry: Regex,
}

static BUILTIN: LazyLock<PoisonScanner> = LazyLock::new(|| {
    #[expect(
        clippy::expect_used,
        reason = "the built-in catalogue is constant data, and a unit test compiles it on every test run"
    )]
    PoisonScanner::from_catalogue(BUILTIN_CATALOGUE).expect("the built-in poisoning catalogue compiles")
});

/// Scans `tool` with the built-in catalogue. `other_tools` are the names of the tools other
/// servers expose to the same agent; a mention of one of them is shadowing.
pub fn scan_tool<S: AsRef<str>>(tool: &ToolManifest, other_tools: &[S]) -> Vec<Finding> {
    BUILTIN.scan_tool(tool, other_tools)
}

impl PoisonScanner {
    /// The scanner of the built-in catalogue, compiled on first use.
    pub fn builtin() -> &'static Self {
        &BUILTIN
    }

    /// A scanner for a catalogue in the format of `catalogue/poisoning.toml`.
    pub fn from_catalogue(toml_text: &str) -> Result<Self, CatalogueError> {
        let file: CatalogueFile = toml::from_str(toml_text)?;
        let mut rules: Vec<PhraseRule> = Vec::with_capacity(file.rule.len());
        for def in file.rule {
            if def.id.is_empty() || rules.iter().any(|r| r.id == def.id) {
                return Err(CatalogueError::Rule { id: def.id, why: "the id must be non-empty and unique" });
            }
            if def.patterns.is_empty() {
                return Err(CatalogueError::Rule { id: def.id, why: "a rule needs at least one pattern" });
            }
            let compile =
                |p: &str| Regex::new(p).map_err(|e| CatalogueError::Regex { id: def.id.clone(), why: e.to_string() });
            let patterns = def.patterns.iter().map(|p| compile(p)).collect::<Result<_, _>>()?;
            let unless_preceded_by = def.unless_preceded_by.as_deref().map(compile).transpose()?;
            rules.push(PhraseRule { id: def.id, severity: def.severity, patterns, unless_preceded_by });
        }
        let exfil = file.exfiltration_parameter;
        let exfil_carry = Regex::new(&exfil.carry)
            .map_err(|e| CatalogueError::Regex { id: EXFILTRATION_PARAMETER.into(), why: e.to_string() })?;
        Ok(Self {
            rules,
            exfil_severity: exfil.severity,
            exfil_names: exfil.names.iter().map(|n| normalize_param(n)).collect(),
            exfil_carry,
        })
    }

    /// Every finding in `tool`, in the order its strings are visited (name, title, description,
    /// then the schemas and annotations depth first), each string's findings by position.
    pub fn scan_tool<S: AsRef<str>>(&self, tool: &ToolManifest, other_tools: &[S]) -> Vec<Finding> {
        let texts = texts(tool);
        let shadow = Shadowing::new(&tool.name, other_tools);
        let mut findings = Vec::new();
        if shadow.collides {
            findings.push(Finding {
                rule: NAME_COLLISION.into(),
                severity: Severity::Medium,
                path: "name".into(),
                start: 0,
                end: tool.name.len(),
                excerpt: escape_invisible(&tool.name),
            });
        }
        for (path, text) in &texts {
            let mut here = Vec::new();
            invisible_findings(path, text, &mut here);
            let folded = Folded::new(text);
            for rule in &self.rules {
                for pattern in &rule.patterns {
                    for m in pattern.find_iter(&folded.text) {
                        if rule.negated(&folded.text, m.start()) {
                            continue;
                        }
                        let (start, end) = folded.original(m.start(), m.end());
                        here.push(finding(&rule.id, rule.severity, path, text, start, end));
                    }
                }
            }
            if path != "name" {
                shadow.findings(path, text, &folded, &mut here);
            }
            here.sort_by(|a, b| a.start.cmp(&b.start).then(a.end.cmp(&b.end)).then(a.rule.cmp(&b.rule)));
            findings.append(&mut here);
        }
        self.exfiltration_findings(tool, &mut findings);
        findings
    }

    /// Input properties named like a side channel whose own description, or the tool
    /// description near a mention of their name, asks for data the server has no need of.
    fn exfiltration_findings(&self, tool: &ToolManifest, out: &mut Vec<Finding>) {
        let mut properties = Vec::new();
        let mut pointer = String::from("/inputSchema");
        collect_properties(&tool.input_schema, &mut pointer, &mut properties);
        let description = Folded::new(tool.description.as_deref().unwrap_or_default());
        for (pointer, name, schema) in properties {
            if !self.exfil_names.contains(&normalize_param(name)) {
                continue;
            }
            let own = schema.get("description").and_then(Value::as_str).map(Folded::new);
            let why = own
                .as_ref()
                .and_then(|d| self.exfil_carry.find(&d.text).map(|m| excerpt(&d.text, m.start(), m.end())))
                .or_else(|| self.carry_near_mention(&description.text, name));
            if let Some(why) = why {
                out.push(Finding {
                    rule: EXFILTRATION_PARAMETER.into(),
                    severity: self.exfil_severity,
                    path: pointer.strip_prefix('/').unwrap_or(&pointer).to_string(),
                    start: 0,
                    end: name.len(),
                    excerpt: format!("{}: {why}", escape_invisible(name)),
                });
            }
        }
    }

    /// An excerpt of a carry phrase within a sentence or two of a mention of `name` in `text`.
    fn carry_near_mention(&self, text: &str, name: &str) -> Option<String> {
        const BEFORE: usize = 200;
        const AFTER: usize = 80;
        let lower = text.to_ascii_lowercase();
        let needle = name.to_ascii_lowercase();
        if needle.is_empty() {
            return None;
        }
        for (at, _) in lower.match_indices(&needle) {
            if !is_whole_word(text, at, at + needle.len()) {
                continue;
            }
            let from = floor_boundary(text, at.saturating_sub(BEFORE));
            let to = ceil_boundary(text, at + needle.len() + AFTER);
            let window = text.get(from..to).unwrap_or_default();
            if let Some(m) = self.exfil_carry.find(window) {
                return Some(excerpt(text, from + m.start(), from + m.end()));
            }
        }
        None
    }
}

/// Every string of `tool` a model may read, with its path.
fn texts(tool: &ToolManifest) -> Vec<(String, &str)> {
    let mut out = vec![("name".to_string(), tool.name.as_str())];
    if let Some(title) = &tool.title {
        out.push(("title".into(), title));
    }
    if let Some(description) = &tool.description {
        out.push(("description".into(), description));
    }
    let mut pointer = String::new();
    for (field, value) in [
        ("inputSchema", Some(&tool.input_schema)),
        ("outputSchema", tool.output_schema.as_ref()),
        ("annotations", tool.annotations.as_ref()),
    ] {
        if let Some(value) = value {
            pointer.clear();
            pointer.push_str(field);
            collect_strings(value, &mut pointer, &mut out);
        }
    }
    out
}

fn collect_strings<'a>(value: &'a Value, pointer: &mut String, out: &mut Vec<(String, &'a str)>) {
    match value {
        Value::String(s) => out.push((pointer.clone(), s)),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = pointer.len();
                push_pointer_token(pointer, itoa::Buffer::new().format(i));
                collect_strings(item, pointer, out);
                pointer.truncate(len);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let len = pointer.len();
                push_pointer_token(pointer, key);
                out.push((pointer.clone(), key));
                collect_strings(item, pointer, out);
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}

/// Every `(pointer, name, schema)` under a `properties` object anywhere in `schema`.
fn collect_properties<'a>(schema: &'a Value, pointer: &mut String, out: &mut Vec<(String, &'a str, &'a Value)>) {
    match schema {
        Value::Object(map) => {
            for (key, item) in map {
                let len = pointer.len();
                push_pointer_token(pointer, key);
                if key == "properties"
                    && let Value::Object(props) = item
                {
                    for (name, prop) in props {
                        let len = pointer.len();
                        push_pointer_token(pointer, name);
                        out.push((pointer.clone(), name, prop));
                        collect_properties(prop, pointer, out);
                        pointer.truncate(len);
                    }
                } else {
                    collect_properties(item, pointer, out);
                }
                pointer.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = pointer.len();
                push_pointer_token(pointer, itoa::Buffer::new().format(i));
                collect_properties(item, pointer, out);
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}

fn normalize_param(name: &str) -> String {
    name.chars().filter(|c| !matches!(c, '_' | '-' | ' ')).flat_map(char::to_lowercase).collect()
}

fn finding(rule: &str, severity: Severity, path: &str, text: &str, start: usize, end: usize) -> Finding {
    Finding { rule: rule.to_string(), severity, path: path.to_string(), start, end, excerpt: excerpt(text, start, end) }
}

/// Which invisible class a character belongs to, if it is one of the flagged ones.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hidden {
    Tag,
    ZeroWidth,
    Bidi,
}

fn hidden_class(c: char) -> Option<Hidden> {
    match c {
        '\u{E0000}'..='\u{E007F}' => Some(Hidden::Tag),
        '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' => Some(Hidden::ZeroWidth),
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' => Some(Hidden::Bidi),
        _ => None,
    }
}

/// One finding per run of invisible characters of the same class. Runs that are ordinary
/// typography are skipped: a joiner between two non-ASCII characters (emoji sequences, Indic and
/// Persian scripts) and the tag sequence of a subdivision flag (U+1F3F4 … U+E007F).
fn invisible_findings(path: &str, text: &str, out: &mut Vec<Finding>) {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while let Some(&(start, c)) = chars.get(i) {
        let Some(class) = hidden_class(c) else {
            i += 1;
            continue;
        };
        let mut j = i + 1;
        while chars.get(j).is_some_and(|&(_, d)| hidden_class(d) == Some(class)) {
            j += 1;
        }
        let end = chars.get(j).map_or(text.len(), |&(o, _)| o);
        let before = i.checked_sub(1).and_then(|k| chars.get(k)).map(|&(_, d)| d);
        let after = chars.get(j).map(|&(_, d)| d);
        let run = text.get(start..end).unwrap_or_default();
        let benign = match class {
            Hidden::ZeroWidth => {
                run.chars().all(|d| matches!(d, '\u{200C}' | '\u{200D}'))
                    && before.is_some_and(|d| !d.is_ascii())
                    && after.is_some_and(|d| !d.is_ascii())
            }
            Hidden::Tag => before == Some('\u{1F3F4}') && run.ends_with('\u{E007F}'),
            Hidden::Bidi => false,
        };
        if !benign {
            let (rule, severity, excerpt) = match class {
                Hidden::Tag => (TAG_CHARACTERS, Severity::Critical, tag_excerpt(run)),
                Hidden::ZeroWidth => (ZERO_WIDTH, Severity::Medium, excerpt(text, start, end)),
                Hidden::Bidi => (BIDI_CONTROL, Severity::High, excerpt(text, start, end)),
            };
            out.push(Finding { rule: rule.into(), severity, path: path.into(), start, end, excerpt });
        }
        i = j;
    }
}

/// The ASCII text a run of tag characters spells: U+E0020..U+E007E mirror ASCII 0x20..0x7E.
fn tag_excerpt(run: &str) -> String {
    const MAX: usize = 160;
    let decoded: String = run
        .chars()
        .filter_map(|c| u32::from(c).checked_sub(0xE0000))
        .filter_map(|b| u8::try_from(b).ok())
        .filter(|b| (0x20..0x7F).contains(b))
        .map(char::from)
        .collect();
    let shown: String = decoded.chars().take(MAX).collect();
    let more = if decoded.len() > MAX { "…" } else { "" };
    format!("tag characters spell \"{shown}{more}\"")
}

/// A short quote of `text[start..end]` with some context, invisible characters escaped.
fn excerpt(text: &str, start: usize, end: usize) -> String {
    const CONTEXT: usize = 24;
    const MAX_MATCH: usize = 80;
    let from = floor_boundary(text, start.saturating_sub(CONTEXT));
    let to = ceil_boundary(text, end.saturating_add(CONTEXT));
    let matched = text.get(start..end).unwrap_or_default();
    let matched = if matched.chars().count() > MAX_MATCH {
        let cut: String = matched.chars().take(MAX_MATCH).collect();
        format!("{cut}…")
    } else {
        matched.to_string()
    };
    let mut out = String::new();
    if from > 0 {
        out.push('…');
    }
    out.push_str(&escape_invisible(text.get(from..start).unwrap_or_default()));
    out.push_str(&escape_invisible(&matched));
    out.push_str(&escape_invisible(text.get(end..to).unwrap_or_default()));
    if to < text.len() {
        out.push('…');
    }
    out.replace('\n', " ")
}

fn floor_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn ceil_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

/// Whether `text[start..end]` stands alone: the characters around it are not part of an
/// identifier (letters, digits, `_`, `-`).
fn is_whole_word(text: &str, start: usize, end: usize) -> bool {
    let ident = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    let before = text.get(..start).and_then(|s| s.chars().next_back());
    let after = text.get(end..).and_then(|s| s.chars().next());
    !before.is_some_and(ident) && !after.is_some_and(ident)
}

/// `text` with the invisible characters removed, and where each remaining byte came from, so a
/// phrase split by zero-width characters still matches and its span still points into `text`.
struct Folded<'a> {
    text: std::borrow::Cow<'a, str>,
    /// Original offset of each byte of `text`, plus one entry for its end; empty when nothing
    /// was removed.
    origin: Vec<usize>,
}

impl<'a> Folded<'a> {
    fn new(original: &'a str) -> Self {
        if !original.chars().any(super::is_invisible) {
            return Self { text: original.into(), origin: Vec::new() };
        }
        let mut text = String::with_capacity(original.len());
        let mut origin = Vec::with_capacity(original.len() + 1);
        for (at, c) in original.char_indices().filter(|(_, c)| !super::is_invisible(*c)) {
            text.push(c);
            origin.extend(at..at + c.len_utf8());
        }
        origin.push(original.len());
        Self { text: text.into(), origin }
    }

    fn original(&self, start: usize, end: usize) -> (usize, usize) {
        if self.origin.is_empty() {
            return (start, end);
        }
        let map = |i: usize| self.origin.get(i).copied().unwrap_or(0);
        // The end maps to just past the last kept character, not to the start of the next one,
        // so that a span does not swallow invisible characters that follow it.
        let end = match end.checked_sub(1) {
            Some(last) if end > start => {
                let last_start = floor_boundary(&self.text, last);
                let width = self.text.get(last_start..).and_then(|s| s.chars().next()).map_or(0, char::len_utf8);
                map(last_start) + width
            }
            _ => map(start),
        };
        (map(start), end)
    }
}

/// The other servers' tool names, compiled for whole-word search.
struct Shadowing<'n> {
    names: Vec<&'n str>,
    matcher: Option<AhoCorasick>,
    collides: bool,
}

impl<'n> Shadowing<'n> {
    fn new<S: AsRef<str>>(own: &str, others: &'n [S]) -> Self {
        let mut names: Vec<&str> = others.iter().map(AsRef::as_ref).filter(|n| !n.is_empty() && *n != own).collect();
        names.sort_unstable();
        names.dedup();
        let collides = others.iter().any(|n| n.as_ref() == own);
        let matcher = if names.is_empty() {
            None
        } else {
            AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::LeftmostLongest)
                .build(&names)
                .ok()
        };
        Self { names, matcher, collides }
    }

    /// Mentions of another server's tool in `text`. A name shaped like an identifier (with `_`,
    /// `-`, `.`, a digit or an inner capital) counts anywhere as a whole word; a plain word such
    /// as `search` only when quoted or followed by "tool", since it is also just a word.
    fn findings(&self, path: &str, text: &str, folded: &Folded<'_>, out: &mut Vec<Finding>) {
        let Some(matcher) = &self.matcher else { return };
        let hay = folded.text.as_ref();
        for m in matcher.find_iter(hay) {
            let Some(name) = self.names.get(m.pattern().as_usize()) else { continue };
            if !is_whole_word(hay, m.start(), m.end()) {
                continue;
            }
            if !identifier_shaped(name) && !quoted_or_named_tool(hay, m.start(), m.end()) {
                continue;
            }
            let (start, end) = folded.original(m.start(), m.end());
            out.push(finding(SHADOWING, Severity::High, path, text, start, end));
        }
    }
}

fn identifier_shaped(name: &str) -> bool {
    name.chars().any(|c| matches!(c, '_' | '-' | '.' | '/' | ':') || c.is_ascii_digit())
        || name.chars().skip(1).any(|c| c.is_uppercase())
}

fn quoted_or_named_tool(text: &str, start: usize, end: usize) -> bool {
    let quote = |c: char| matches!(c, '`' | '\'' | '"' | '‘' | '’' | '“' | '”');
    let before = text.get(..start).and_then(|s| s.chars().next_back());
    let after_text = text.get(end..).unwrap_or_default();
    let after = after_text.chars().next();
    let quoted = before.is_some_and(quote) && after.is_some_and(quote);
    let named = after_text.trim_start_matches([' ', '`', '\'', '"']).to_ascii_lowercase().starts_with("tool");
    quoted || named
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_catalogue_compiles() {
        let scanner = PoisonScanner::from_catalogue(BUILTIN_CATALOGUE);
        assert!(scanner.is_ok(), "{:?}", scanner.err());
    }

    #[test]
    fn folded_spans_point_into_the_original() {
        let original = "ig\u{200B}nore previous instructions";
        let folded = Folded::new(original);
        assert_eq!(folded.text, "ignore previous instructions");
        assert_eq!(folded.original(0, 6), (0, 9));
        assert_eq!(folded.original(7, 15), (10, 18));
    }

    #[test]
    fn tag_characters_decode_to_ascii() {
        let hidden: String = "hi!".chars().map(|c| char::from_u32(0xE0000 + u32::from(c)).unwrap_or('?')).collect();
        assert_eq!(tag_excerpt(&hidden), "tag characters spell \"hi!\"");
    }
}

//! Credential detection and redaction, shared by the gateway's data-loss prevention and the
//! discovery scanner.
//!
//! The rules are data (`catalogue/credentials.toml`), compiled once. A scan first runs one
//! case-insensitive Aho-Corasick pass over the text looking for the rules' keywords and for the
//! operator's canary strings; only the rules whose keywords occur run their regex. Text without
//! any keyword, the common case for tool arguments, costs that single pass and no regex.
//!
//! Hits carry the rule and the byte span, never the secret itself, so a hit can be logged.

use std::fmt;
use std::sync::{Arc, LazyLock};

use aho_corasick::AhoCorasick;
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The credential catalogue shipped with custos.
pub const BUILTIN_CATALOGUE: &str = include_str!("../../catalogue/credentials.toml");

/// The rule id of a canary hit.
pub const CANARY_RULE: &str = "canary";

/// One secret found in a text: which rule matched and where, as a byte range on character
/// boundaries. It deliberately holds no part of the secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Hit {
    pub rule: String,
    pub start: usize,
    pub end: usize,
}

/// A secret found in a JSON string. `pointer` is the RFC 6901 pointer of the string, written
/// with the redacted form of any key along the way, so the pointer itself leaks nothing. When
/// `in_key` is true the secret was in the member name that `pointer` ends with.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct JsonHit {
    pub pointer: String,
    pub in_key: bool,
    pub hit: Hit,
}

/// Why a credential catalogue could not be compiled. Messages name the rule at fault.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("credential catalogue is not valid: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("credential rule `{id}` has an invalid {what}: {why}")]
    Regex { id: String, what: &'static str, why: String },
    #[error("credential rule `{id}`: {why}")]
    Rule { id: String, why: &'static str },
    #[error("cannot build the keyword prefilter: {0}")]
    Prefilter(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    rule: Vec<RuleDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDef {
    id: String,
    provider: String,
    regex: String,
    keywords: Vec<String>,
    #[serde(default)]
    allow: Vec<String>,
    entropy: Option<f64>,
}

struct Rule {
    id: String,
    provider: String,
    regex: Regex,
    allow: Vec<Regex>,
    min_entropy: Option<f64>,
}

/// The compiled rules and their keywords; shared by every scanner built from the same catalogue.
struct Rules {
    rules: Vec<Rule>,
    /// Each keyword with the index of its rule, in prefilter pattern order.
    keywords: Vec<(String, usize)>,
}

impl Rules {
    fn parse(toml_text: &str) -> Result<Self, CatalogueError> {
        let file: CatalogueFile = toml::from_str(toml_text)?;
        let mut rules: Vec<Rule> = Vec::with_capacity(file.rule.len());
        let mut keywords = Vec::new();
        for def in file.rule {
            let bad = |why| CatalogueError::Rule { id: def.id.clone(), why };
            if def.id.is_empty() || def.id == CANARY_RULE || rules.iter().any(|r| r.id == def.id) {
                return Err(bad("the id must be non-empty, unique and not `canary`"));
            }
            if def.keywords.is_empty() {
                return Err(bad("a rule needs at least one keyword, or the prefilter would never run it"));
            }
            if def.keywords.iter().any(|k| k.is_empty() || k.to_ascii_lowercase() != *k) {
                return Err(bad("keywords must be non-empty and lowercase"));
            }
            let compile = |what, src: &str| {
                Regex::new(src).map_err(|e| CatalogueError::Regex { id: def.id.clone(), what, why: e.to_string() })
            };
            let regex = compile("regex", &def.regex)?;
            let allow = def.allow.iter().map(|a| compile("allow regex", a)).collect::<Result<_, _>>()?;
            let index = rules.len();
            keywords.extend(def.keywords.into_iter().map(|k| (k, index)));
            rules.push(Rule { id: def.id, provider: def.provider, regex, allow, min_entropy: def.entropy });
        }
        Ok(Self { rules, keywords })
    }
}

/// What a prefilter pattern stands for.
#[derive(Clone, Copy)]
enum Target {
    Rule(usize),
    Canary(usize),
}

/// A compiled credential scanner: the catalogue's rules plus the operator's canaries.
///
/// Cloning is cheap. `Debug` shows counts only: canaries are secrets too.
#[derive(Clone)]
pub struct Scanner {
    rules: Arc<Rules>,
    prefilter: AhoCorasick,
    targets: Arc<[Target]>,
    canaries: Arc<[String]>,
}

static BUILTIN: LazyLock<Scanner> = LazyLock::new(|| {
    #[expect(
        clippy::expect_used,
        reason = "the built-in catalogue is constant data, and a unit test compiles it on every test run"
    )]
    Scanner::from_catalogue(BUILTIN_CATALOGUE, Vec::new()).expect("the built-in credential catalogue compiles")
});

impl Scanner {
    /// The scanner of the built-in catalogue, compiled on first use.
    pub fn builtin() -> Self {
        BUILTIN.clone()
    }

    /// The built-in catalogue plus literal canary strings: values planted where only a leak
    /// would carry them. They match exactly (case-sensitive) and report rule [`CANARY_RULE`].
    /// Empty canaries are ignored.
    pub fn with_canaries(canaries: Vec<String>) -> Result<Self, CatalogueError> {
        Self::build(Arc::clone(&BUILTIN.rules), canaries)
    }

    /// A scanner for a catalogue in the format of `catalogue/credentials.toml`.
    pub fn from_catalogue(toml_text: &str, canaries: Vec<String>) -> Result<Self, CatalogueError> {
        Self::build(Arc::new(Rules::parse(toml_text)?), canaries)
    }

    fn build(rules: Arc<Rules>, canaries: Vec<String>) -> Result<Self, CatalogueError> {
        let canaries: Vec<String> = canaries.into_iter().filter(|c| !c.is_empty()).collect();
        let mut patterns: Vec<&str> = Vec::with_capacity(rules.keywords.len() + canaries.len());
        let mut targets = Vec::with_capacity(patterns.capacity());
        for (keyword, rule) in &rules.keywords {
            patterns.push(keyword);
            targets.push(Target::Rule(*rule));
        }
        // Canaries share the keyword pass so that scanning stays one pass over the text; the
        // automaton folds ASCII case, so a canary candidate is confirmed byte for byte.
        for (i, canary) in canaries.iter().enumerate() {
            patterns.push(canary);
            targets.push(Target::Canary(i));
        }
        let prefilter = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(&patterns)
            .map_err(|e| CatalogueError::Prefilter(e.to_string()))?;
        Ok(Self { rules, prefilter, targets: targets.into(), canaries: canaries.into() })
    }

    /// The provider of the credential a rule detects, e.g. `Anthropic` for `anthropic`.
    pub fn provider(&self, rule: &str) -> Option<&str> {
        self.rules.rules.iter().find(|r| r.id == rule).map(|r| r.provider.as_str())
    }

    /// The ids of the catalogue's rules, in catalogue order.
    pub fn rule_ids(&self) -> impl Iterator<Item = &str> {
        self.rules.rules.iter().map(|r| r.id.as_str())
    }

    /// The secrets in `text`: sorted by start, never overlapping. Where two candidates overlap,
    /// the one that starts first wins, then the longer one.
    pub fn scan(&self, text: &str) -> Vec<Hit> {
        let mut hits = Vec::new();
        // One flag per rule, allocated only once a keyword shows up.
        let mut triggered: Vec<bool> = Vec::new();
        for m in self.prefilter.find_overlapping_iter(text) {
            match self.targets.get(m.pattern().as_usize()) {
                Some(Target::Rule(rule)) => {
                    if triggered.is_empty() {
                        triggered = vec![false; self.rules.rules.len()];
                    }
                    if let Some(flag) = triggered.get_mut(*rule) {
                        *flag = true;
                    }
                }
                Some(Target::Canary(i)) => {
                    let exact = self.canaries.get(*i).map(String::as_str) == text.get(m.start()..m.end());
                    if exact {
                        hits.push(Hit { rule: CANARY_RULE.to_string(), start: m.start(), end: m.end() });
                    }
                }
                None => {}
            }
        }
        for (rule, _) in self.rules.rules.iter().zip(&triggered).filter(|(_, on)| **on) {
            rule.find_all(text, &mut hits);
        }
        resolve_overlaps(hits)
    }

    /// `text` with every secret replaced by `[REDACTED:<rule>]`, and the hits, whose spans refer
    /// to the original text.
    pub fn redact_str(&self, text: &str) -> (String, Vec<Hit>) {
        let hits = self.scan(text);
        (replace_hits(text, &hits), hits)
    }

    /// `value` with every secret in every string redacted, member names included, and where
    /// each was found. Two names that redact to the same text collide; the later member wins.
    pub fn redact_json(&self, value: &Value) -> (Value, Vec<JsonHit>) {
        let mut hits = Vec::new();
        let mut pointer = String::new();
        let redacted = self.redact_value(value, &mut pointer, &mut hits);
        (redacted, hits)
    }

    /// The hits [`Self::redact_json`] would report, without building the redacted copy: for the
    /// common case of a document with no secret, which then costs no allocation per string.
    pub fn scan_json(&self, value: &Value) -> Vec<JsonHit> {
        let mut hits = Vec::new();
        let mut pointer = String::new();
        self.scan_value(value, &mut pointer, &mut hits);
        hits
    }

    fn scan_value(&self, value: &Value, pointer: &mut String, out: &mut Vec<JsonHit>) {
        match value {
            Value::String(s) => {
                out.extend(self.scan(s).into_iter().map(|hit| JsonHit {
                    pointer: pointer.clone(),
                    in_key: false,
                    hit,
                }));
            }
            Value::Array(items) => {
                let len = pointer.len();
                for (i, item) in items.iter().enumerate() {
                    pointer.push('/');
                    pointer.push_str(itoa::Buffer::new().format(i));
                    self.scan_value(item, pointer, out);
                    pointer.truncate(len);
                }
            }
            Value::Object(map) => {
                let len = pointer.len();
                for (key, item) in map {
                    let key_hits = self.scan(key);
                    if key_hits.is_empty() {
                        super::push_pointer_token(pointer, key);
                    } else {
                        // The pointer names the key in its redacted form, as `redact_json` does.
                        super::push_pointer_token(pointer, &replace_hits(key, &key_hits));
                        out.extend(key_hits.into_iter().map(|hit| JsonHit {
                            pointer: pointer.clone(),
                            in_key: true,
                            hit,
                        }));
                    }
                    self.scan_value(item, pointer, out);
                    pointer.truncate(len);
                }
            }
            _ => {}
        }
    }

    fn redact_value(&self, value: &Value, pointer: &mut String, out: &mut Vec<JsonHit>) -> Value {
        match value {
            Value::String(s) => Value::String(self.redact_in(s, pointer, false, out)),
            Value::Array(items) => {
                let len = pointer.len();
                let mut redacted = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    pointer.push('/');
                    pointer.push_str(itoa::Buffer::new().format(i));
                    redacted.push(self.redact_value(item, pointer, out));
                    pointer.truncate(len);
                }
                Value::Array(redacted)
            }
            Value::Object(map) => {
                let len = pointer.len();
                let mut redacted = Map::with_capacity(map.len());
                for (key, item) in map {
                    let mut key_hits = Vec::new();
                    let new_key = self.redact_in(key, "", true, &mut key_hits);
                    super::push_pointer_token(pointer, &new_key);
                    out.extend(key_hits.into_iter().map(|h| JsonHit { pointer: pointer.clone(), ..h }));
                    let new_item = self.redact_value(item, pointer, out);
                    redacted.insert(new_key, new_item);
                    pointer.truncate(len);
                }
                Value::Object(redacted)
            }
            other => other.clone(),
        }
    }

    fn redact_in(&self, text: &str, pointer: &str, in_key: bool, out: &mut Vec<JsonHit>) -> String {
        let hits = self.scan(text);
        if hits.is_empty() {
            return text.to_string();
        }
        let redacted = replace_hits(text, &hits);
        out.extend(hits.into_iter().map(|hit| JsonHit { pointer: pointer.to_string(), in_key, hit }));
        redacted
    }
}

impl Default for Scanner {
    fn default() -> Self {
        Self::builtin()
    }
}

impl fmt::Debug for Scanner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scanner")
            .field("rules", &self.rules.rules.len())
            .field("canaries", &self.canaries.len())
            .finish_non_exhaustive()
    }
}

impl Rule {
    /// Appends every match of this rule in `text` to `hits`.
    fn find_all(&self, text: &str, hits: &mut Vec<Hit>) {
        let mut at = 0;
        while let Some(caps) = self.regex.captures_at(text, at) {
            let Some(whole) = caps.get(0) else { break };
            let secret = caps.get(1).unwrap_or(whole);
            let candidate = secret.as_str();
            let allowed = self.allow.iter().any(|a| a.is_match(candidate));
            let too_plain = self.min_entropy.is_some_and(|min| shannon_entropy(candidate.as_bytes()) < min);
            if !secret.is_empty() && !allowed && !too_plain {
                hits.push(Hit { rule: self.id.clone(), start: secret.start(), end: secret.end() });
            }
            // Resume right after the secret rather than after the whole match: a rule's
            // terminator consumes one character, which may be the next secret's leading context.
            let step = text.get(whole.start()..).and_then(|rest| rest.chars().next()).map_or(1, char::len_utf8);
            let next = secret.end().max(whole.start() + step);
            if next > text.len() {
                break;
            }
            at = next;
        }
    }
}

/// Sorts candidates and keeps a non-overlapping set, earliest start first, then longest.
fn resolve_overlaps(mut hits: Vec<Hit>) -> Vec<Hit> {
    if hits.len() < 2 {
        return hits;
    }
    hits.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut kept: Vec<Hit> = Vec::with_capacity(hits.len());
    for hit in hits {
        if kept.last().is_none_or(|last| hit.start >= last.end) {
            kept.push(hit);
        }
    }
    kept
}

/// `text` with each (sorted, non-overlapping) hit replaced by its redaction marker.
fn replace_hits(text: &str, hits: &[Hit]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for hit in hits {
        out.push_str(text.get(at..hit.start).unwrap_or_default());
        out.push_str("[REDACTED:");
        out.push_str(&hit.rule);
        out.push(']');
        at = hit.end;
    }
    out.push_str(text.get(at..).unwrap_or_default());
    out
}

/// Shannon entropy of `s` in bits per byte: low for repetitive placeholders such as
/// `sk-xxxxxxxx…`, high for random keys. Shared with discovery's file engine.
pub fn shannon_entropy(s: &[u8]) -> f64 {
    let mut counts = [0u32; 256];
    for &b in s {
        if let Some(c) = counts.get_mut(usize::from(b)) {
            *c += 1;
        }
    }
    let len = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / len;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_catalogue_compiles() {
        let scanner = Scanner::from_catalogue(BUILTIN_CATALOGUE, Vec::new());
        assert!(scanner.is_ok(), "{:?}", scanner.err());
    }

    #[test]
    fn entropy_separates_placeholders_from_keys() {
        assert!(shannon_entropy(b"aaaaaaaaaaaaaaaa") < 0.01);
        assert!(shannon_entropy(b"q8Zr2LmXv0TbNw5K") > 3.5);
    }
}

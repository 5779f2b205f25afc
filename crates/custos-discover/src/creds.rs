//! Credential detection in the bytes of a file: the shared credential catalogue (the gateway's,
//! `custos-core/catalogue/credentials.toml`) plus the file-only context rules and placeholder
//! filters of `catalogue/file-credentials.toml`, compiled into one engine over `&[u8]`.
//!
//! Files may be binary or not UTF-8, and a key inside a binary blob is still a leaked key, so
//! the engine never decodes: its regexes run over bytes with Unicode off (every rule's alphabet
//! is ASCII). One Aho-Corasick pass finds the rules' keywords, in the literal forms the file
//! catalogue's `[prefilter]` gives (case-sensitive, which is what makes it fast); each keyword hit
//! runs only its rule's regex, only in a window around the hit, so the cost of a file is one
//! automaton pass plus a bounded amount per hit, whatever the number of rules. Line numbers are
//! counted (with `memchr`) only in files that have hits.

use std::sync::{Arc, LazyLock};

use aho_corasick::automaton::Automaton as _;
use aho_corasick::{AhoCorasick, Anchored};
use regex::bytes::{Regex, RegexBuilder};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

/// The file-only credential catalogue shipped with custos.
pub const FILE_CATALOGUE: &str = include_str!("../catalogue/file-credentials.toml");

/// How far before a keyword a prefix rule's key may start: the OpenAI marker `T3BlbkFJ` sits up
/// to 85 bytes into its key, the Azure `JQQJ99` marker at 52.
const BACK: usize = 128;
/// How far after a keyword a window reaches. A match that runs to the window's end (a PEM block,
/// an open-ended token) is searched again without the limit.
const AHEAD: usize = 512;
/// Longest key a context rule accepts, past its `within` distance.
const CONTEXT_KEY: usize = 160;

/// Why a credential catalogue could not be compiled. Messages name the rule at fault.
#[derive(Debug, thiserror::Error)]
pub enum CredsError {
    #[error("credential catalogue `{file}` is not valid: {source}")]
    Toml {
        file: &'static str,
        #[source]
        source: Box<toml::de::Error>,
    },
    #[error("credential rule `{id}` has an invalid {what}: {why}")]
    Regex { id: String, what: &'static str, why: String },
    #[error("credential rule `{id}`: {why}")]
    Rule { id: String, why: String },
    #[error("cannot build the keyword prefilter: {0}")]
    Prefilter(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SharedFile {
    rule: Vec<SharedRule>,
}

/// A rule of the shared catalogue, as `custos_core::scan::secrets` reads it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SharedRule {
    id: String,
    provider: String,
    regex: String,
    keywords: Vec<String>,
    #[serde(default)]
    allow: Vec<String>,
    entropy: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCatalogue {
    #[serde(default)]
    rule: Vec<ContextRule>,
    placeholders: Placeholders,
    examples: Examples,
    prefilter: PrefilterDef,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrefilterDef {
    literals: std::collections::BTreeMap<String, Vec<String>>,
    #[expect(dead_code, reason = "provenance for reviewers, checked to be present")]
    source: String,
    #[expect(dead_code, reason = "provenance for reviewers, checked to be present")]
    checked: String,
}

/// The keyword search: a DFA over the case-sensitive literal forms, run by hand as two
/// interleaved streams over the two halves of the input. A DFA walk is one dependent table load
/// per byte, so one stream leaves the core waiting; two independent ones overlap their loads.
/// Measured over 300 MB of the benchmark tree, one core: `AhoCorasick::find_iter` (leftmost-first
/// DFA) 660 MB/s, this 960 MB/s, three or four streams no better than two; Teddy over the same
/// ~75 literals could not be built (over its limit of 64) and made 400 MB/s over 64 of them, a
/// case-folding automaton over the lowercase keywords 250 MB/s. Every literal occurrence is
/// reported (overlapping ones too), which gives each rule a superset of the windows a
/// leftmost-first search would.
struct Prefilter {
    dfa: aho_corasick::dfa::DFA,
    /// The longest literal: the second stream starts this much before the middle, less one,
    /// so that a literal across the middle is whole in it.
    max_len: usize,
}

impl Prefilter {
    fn build(literals: &[String]) -> Result<Self, CredsError> {
        let dfa = aho_corasick::dfa::DFA::builder()
            .match_kind(aho_corasick::MatchKind::Standard)
            // A prefilter makes the start state special, a check on most bytes in this loop.
            .prefilter(false)
            .build(literals)
            .map_err(|e| CredsError::Prefilter(e.to_string()))?;
        let max_len = literals.iter().map(String::len).max().unwrap_or(1).max(1);
        Ok(Self { dfa, max_len })
    }

    /// Calls `f(pattern, start, end)` for every literal occurrence, in order of `end`.
    fn each(&self, bytes: &[u8], mut f: impl FnMut(usize, usize, usize)) {
        let dfa = &self.dfa;
        let Ok(start) = dfa.start_state(Anchored::No) else { return };
        let mid = bytes.len() / 2;
        // The second stream's first byte: literals ending after `mid` start here or later.
        let lo = mid.saturating_sub(self.max_len - 1);
        let (Some(first), Some(second)) = (bytes.get(..mid), bytes.get(lo..)) else { return };
        if mid < 4 * self.max_len {
            self.walk(bytes, 0, 0, start, &mut f);
            return;
        }
        let mut later: Vec<(usize, usize, usize)> = Vec::new();
        let (mut a, mut b) = (start, start);
        for (i, (&x, &y)) in first.iter().zip(second).enumerate() {
            a = dfa.next_state(Anchored::No, a, x);
            b = dfa.next_state(Anchored::No, b, y);
            if dfa.is_special(a) {
                self.matches(a, i + 1, 0, &mut f);
            }
            if dfa.is_special(b) {
                self.matches(b, lo + i + 1, mid, &mut |p, s, e| later.push((p, s, e)));
            }
        }
        let rest = second.get(first.len()..).unwrap_or_default();
        let mut seen = |p, s, e| later.push((p, s, e));
        self.walk(rest, lo + first.len(), mid, b, &mut seen);
        for (p, s, e) in later {
            f(p, s, e);
        }
    }

    /// One stream over `bytes` (at `offset` in the input) from state `sid`, reporting
    /// occurrences that end after `after`.
    fn walk(
        &self,
        bytes: &[u8],
        offset: usize,
        after: usize,
        mut sid: aho_corasick::automaton::StateID,
        f: &mut impl FnMut(usize, usize, usize),
    ) {
        for (i, &x) in bytes.iter().enumerate() {
            sid = self.dfa.next_state(Anchored::No, sid, x);
            if self.dfa.is_special(sid) {
                self.matches(sid, offset + i + 1, after, f);
            }
        }
    }

    /// The literals that end at `end` when the DFA is in `sid`, if `end` is past `after`.
    fn matches(
        &self,
        sid: aho_corasick::automaton::StateID,
        end: usize,
        after: usize,
        f: &mut impl FnMut(usize, usize, usize),
    ) {
        if end <= after || !self.dfa.is_match(sid) {
            return;
        }
        for m in 0..self.dfa.match_len(sid) {
            let pid = self.dfa.match_pattern(sid, m);
            let len = self.dfa.pattern_len(pid);
            f(pid.as_usize(), end.saturating_sub(len), end);
        }
    }
}

/// The forms a keyword is searched in: those the catalogue lists; a keyword it does not list, or
/// a context word (see [`needs_auto`]), also in lowercase and UPPERCASE.
fn forms(keyword: &str, literals: &std::collections::BTreeMap<String, Vec<String>>) -> Vec<String> {
    let mut out: Vec<String> = literals.get(keyword).cloned().unwrap_or_default();
    if !literals.contains_key(keyword) || needs_auto(keyword) {
        out.extend([keyword.to_string(), keyword.to_ascii_uppercase()]);
    }
    out.sort();
    out.dedup();
    out
}

/// A context word (`deepseek`, `xi-api-key`): six or more lowercase letters and separators, not
/// ending in one as a key prefix does. It is written in any case, so it gets the automatic forms
/// even when the catalogue lists extra ones (`DeepSeek`).
fn needs_auto(keyword: &str) -> bool {
    keyword.bytes().all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'-' || b == b'.')
        && keyword.len() >= 6
        && !keyword.ends_with(['_', '-'])
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContextRule {
    id: String,
    provider: String,
    regex: String,
    keywords: Vec<String>,
    within: usize,
    #[serde(default)]
    require: Vec<Class>,
    #[expect(dead_code, reason = "provenance for reviewers, checked to be present")]
    source: String,
    #[expect(dead_code, reason = "provenance for reviewers, checked to be present")]
    checked: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Class {
    Upper,
    Lower,
    Digit,
    Letter,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Placeholders {
    words: Vec<String>,
    max_distinct: usize,
    min_entropy: f64,
    min_entropy_short: f64,
    sequence: usize,
    #[expect(dead_code, reason = "provenance for reviewers, checked to be present")]
    source: String,
    #[expect(dead_code, reason = "provenance for reviewers, checked to be present")]
    checked: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Examples {
    markers: Vec<String>,
    lines_before: usize,
    #[expect(dead_code, reason = "provenance for reviewers, checked to be present")]
    source: String,
    #[expect(dead_code, reason = "provenance for reviewers, checked to be present")]
    checked: String,
}

struct Rule {
    id: String,
    provider: String,
    regex: Regex,
    allow: Vec<Regex>,
    min_entropy: Option<f64>,
    /// For context rules: how far after the keyword the key may start.
    within: Option<usize>,
    require: Vec<Class>,
}

struct Inner {
    rules: Vec<Rule>,
    /// Rule indexes of each prefilter pattern (a literal may serve several rules).
    targets: Vec<Vec<usize>>,
    prefilter: Prefilter,
    placeholders: Placeholders,
    /// Lowercase example markers, and an automaton over them.
    examples: Examples,
    markers: AhoCorasick,
    digest: [u8; 32],
}

/// A compiled credential engine for file contents. Cloning is cheap.
#[derive(Clone)]
pub struct CredentialEngine(Arc<Inner>);

impl std::fmt::Debug for CredentialEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialEngine").field("rules", &self.0.rules.len()).finish_non_exhaustive()
    }
}

/// One credential found in a file. It holds the secret only for as long as the caller needs to
/// mask and fingerprint it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialHit {
    pub rule: String,
    pub provider: String,
    /// Byte range of the secret in the scanned bytes.
    pub start: usize,
    pub end: usize,
    /// 1-based line of the secret's first byte.
    pub line: u32,
}

static BUILTIN: LazyLock<Result<CredentialEngine, String>> = LazyLock::new(|| {
    CredentialEngine::from_catalogues(custos_core::scan::secrets::BUILTIN_CATALOGUE, FILE_CATALOGUE)
        .map_err(|e| e.to_string())
});

impl CredentialEngine {
    /// The engine of the built-in catalogues, compiled on first use.
    pub fn builtin() -> Self {
        #[expect(
            clippy::expect_used,
            reason = "the built-in catalogues are constant data, and a test compiles them on every run"
        )]
        BUILTIN.as_ref().cloned().expect("the built-in credential catalogues compile")
    }

    /// An engine for a shared catalogue (the format of `custos-core/catalogue/credentials.toml`)
    /// and a file catalogue (the format of `catalogue/file-credentials.toml`).
    pub fn from_catalogues(shared: &str, file: &str) -> Result<Self, CredsError> {
        let shared_file: SharedFile =
            toml::from_str(shared).map_err(|e| CredsError::Toml { file: "credentials.toml", source: Box::new(e) })?;
        let file_cat: FileCatalogue = toml::from_str(file)
            .map_err(|e| CredsError::Toml { file: "file-credentials.toml", source: Box::new(e) })?;
        let mut rules = Vec::new();
        let mut keywords: Vec<(String, usize)> = Vec::new();
        let mut add = |id: String,
                       provider: String,
                       regex: &str,
                       kws: Vec<String>,
                       allow: &[String],
                       min_entropy: Option<f64>,
                       within: Option<usize>,
                       require: Vec<Class>|
         -> Result<(), CredsError> {
            let bad = |why: &str| CredsError::Rule { id: id.clone(), why: why.to_string() };
            if id.is_empty() || rules.iter().any(|r: &Rule| r.id == id) {
                return Err(bad("the id must be non-empty and unique"));
            }
            if kws.is_empty() || kws.iter().any(|k| k.is_empty() || k.to_ascii_lowercase() != *k) {
                return Err(bad("keywords must be present, non-empty and lowercase"));
            }
            let compile = |what, src: &str| {
                RegexBuilder::new(src).unicode(false).build().map_err(|e| CredsError::Regex {
                    id: id.clone(),
                    what,
                    why: e.to_string(),
                })
            };
            let regex = compile("regex", regex)?;
            let allow = allow.iter().map(|a| compile("allow regex", a)).collect::<Result<_, _>>()?;
            let index = rules.len();
            keywords.extend(kws.into_iter().map(|k| (k, index)));
            rules.push(Rule { id, provider, regex, allow, min_entropy, within, require });
            Ok(())
        };
        for r in shared_file.rule {
            add(r.id, r.provider, &r.regex, r.keywords, &r.allow, r.entropy, None, Vec::new())?;
        }
        for r in file_cat.rule {
            add(r.id, r.provider, &r.regex, r.keywords, &[], None, Some(r.within), r.require)?;
        }
        for (keyword, forms) in &file_cat.prefilter.literals {
            if forms.iter().any(|f| f.is_empty() || !keyword.contains(&f.to_ascii_lowercase())) {
                return Err(CredsError::Rule {
                    id: "prefilter".into(),
                    why: format!("a literal form of `{keyword}` is not a part of it in some case"),
                });
            }
        }
        let mut by_literal: std::collections::BTreeMap<String, Vec<usize>> = std::collections::BTreeMap::new();
        for (keyword, rule) in &keywords {
            for form in forms(keyword, &file_cat.prefilter.literals) {
                let rules = by_literal.entry(form).or_default();
                if !rules.contains(rule) {
                    rules.push(*rule);
                }
            }
        }
        let (literals, targets): (Vec<String>, Vec<Vec<usize>>) = by_literal.into_iter().unzip();
        let prefilter = Prefilter::build(&literals)?;
        let mut examples = file_cat.examples;
        for m in &mut examples.markers {
            *m = m.to_ascii_lowercase();
        }
        let mut placeholders = file_cat.placeholders;
        for w in &mut placeholders.words {
            *w = w.to_ascii_lowercase();
        }
        let markers = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(&examples.markers)
            .map_err(|e| CredsError::Prefilter(e.to_string()))?;
        let digest = Sha256::new()
            .chain_update((shared.len() as u64).to_be_bytes())
            .chain_update(shared)
            .chain_update((file.len() as u64).to_be_bytes())
            .chain_update(file)
            .finalize()
            .into();
        Ok(Self(Arc::new(Inner { rules, targets, prefilter, placeholders, examples, markers, digest })))
    }

    /// SHA-256 of the catalogue texts: it changes whenever the engine's results may.
    pub fn digest(&self) -> [u8; 32] {
        self.0.digest
    }

    /// The distinct providers the engine knows, sorted.
    pub fn providers(&self) -> Vec<&str> {
        let mut p: Vec<&str> = self.0.rules.iter().map(|r| r.provider.as_str()).collect();
        p.sort_unstable();
        p.dedup();
        p
    }

    /// The credentials in `bytes`, sorted by position, never overlapping (the earlier, then the
    /// longer candidate wins), placeholders and documentation examples removed.
    pub fn scan(&self, bytes: &[u8]) -> Vec<CredentialHit> {
        let inner = &*self.0;
        let mut found: Vec<(usize, usize, usize)> = Vec::new();
        // Per rule, how far its windows have been searched: keyword hits inside an already
        // searched stretch only extend it.
        let mut searched: Vec<usize> = Vec::new();
        inner.prefilter.each(bytes, |pattern, kw_start, kw_end| {
            for &ri in inner.targets.get(pattern).map_or(&[][..], Vec::as_slice) {
                let Some(rule) = inner.rules.get(ri) else { continue };
                if searched.is_empty() {
                    searched = vec![0; inner.rules.len()];
                }
                let Some(done) = searched.get_mut(ri) else { continue };
                let (from, to) = match rule.within {
                    Some(within) => (kw_end, kw_end.saturating_add(within).saturating_add(CONTEXT_KEY)),
                    None => (kw_start.saturating_sub(BACK), kw_end.saturating_add(AHEAD)),
                };
                let to = to.min(bytes.len());
                if to <= *done {
                    continue;
                }
                // Restart a little before the searched end, so a key that straddles it is whole.
                let from = from.max(done.saturating_sub(CONTEXT_KEY + BACK));
                *done = to;
                let limit = rule.within.map(|w| kw_end.saturating_add(w));
                rule.find_in(bytes, from, to, limit, ri, &mut found);
            }
        });
        if found.is_empty() {
            return Vec::new();
        }
        found.sort_by(|a, b| a.1.cmp(&b.1).then(b.2.cmp(&a.2)));
        found.dedup();
        let mut kept: Vec<(usize, usize, usize)> = Vec::with_capacity(found.len());
        for hit in found {
            if kept.last().is_none_or(|last| hit.1 >= last.2) {
                kept.push(hit);
            }
        }
        let mut out = Vec::with_capacity(kept.len());
        let mut lines = LineCounter::default();
        for (ri, start, end) in kept {
            let Some(rule) = inner.rules.get(ri) else { continue };
            let Some(secret) = bytes.get(start..end) else { continue };
            if self.is_placeholder(bytes, start, end, secret) || self.is_documented_example(bytes, start) {
                continue;
            }
            let line = lines.line_of(bytes, start);
            out.push(CredentialHit { rule: rule.id.clone(), provider: rule.provider.clone(), start, end, line });
        }
        out
    }

    fn is_placeholder(&self, bytes: &[u8], start: usize, end: usize, secret: &[u8]) -> bool {
        let p = &self.0.placeholders;
        let before = bytes.get(..start).unwrap_or_default();
        let after = bytes.get(end..).unwrap_or_default();
        if templated(before, after) {
            return true;
        }
        let body = body_of(secret);
        if body.is_empty() {
            return true;
        }
        let lower = body.to_ascii_lowercase();
        if p.words.iter().any(|w| memchr::memmem::find(&lower, w.as_bytes()).is_some()) {
            return true;
        }
        let mut seen = [false; 256];
        let mut distinct = 0;
        for &b in body {
            if let Some(s) = seen.get_mut(usize::from(b))
                && !*s
            {
                *s = true;
                distinct += 1;
            }
        }
        if distinct <= p.max_distinct {
            return true;
        }
        let min = if body.len() < 24 { p.min_entropy_short } else { p.min_entropy };
        if custos_core::scan::secrets::shannon_entropy(body) < min {
            return true;
        }
        sequential(body, p.sequence) || periodic(body, 8)
    }

    fn is_documented_example(&self, bytes: &[u8], start: usize) -> bool {
        let inner = &*self.0;
        // The start of the line `lines_before` lines above the secret's.
        let mut from = start;
        for _ in 0..=inner.examples.lines_before {
            match memchr::memrchr(b'\n', bytes.get(..from).unwrap_or_default()) {
                Some(nl) if nl > 0 => from = nl,
                Some(_) | None => {
                    from = 0;
                    break;
                }
            }
        }
        let end = memchr::memchr(b'\n', bytes.get(start..).unwrap_or_default()).map_or(bytes.len(), |i| start + i);
        bytes.get(from..end).is_some_and(|region| inner.markers.is_match(region))
    }
}

impl Rule {
    /// Appends this rule's matches that start in `bytes[from..to]` to `found`; a context rule's
    /// must start by `limit`.
    fn find_in(
        &self,
        bytes: &[u8],
        from: usize,
        to: usize,
        limit: Option<usize>,
        ri: usize,
        found: &mut Vec<(usize, usize, usize)>,
    ) {
        let Some(window) = bytes.get(..to) else { return };
        let mut at = from;
        while at < window.len() {
            let Some(caps) = self.regex.captures_at(window, at) else { break };
            let Some(whole) = caps.get(0) else { break };
            let (caps, whole) = if whole.end() == window.len() && window.len() < bytes.len() {
                // The match may go on past the window: search again with the whole rest.
                match self.regex.captures_at(bytes, whole.start()) {
                    Some(c) => match c.get(0) {
                        Some(w) => (c, w),
                        None => break,
                    },
                    None => break,
                }
            } else {
                (caps, whole)
            };
            let secret = caps.iter().skip(1).flatten().next().unwrap_or(whole);
            if limit.is_some_and(|l| secret.start() > l) {
                break;
            }
            if self.accepts(secret.as_bytes()) {
                found.push((ri, secret.start(), secret.end()));
            }
            // Resume after the secret, not after the whole match: a terminator byte may be the
            // next key's leading context.
            at = secret.end().max(whole.start() + 1);
        }
    }

    fn accepts(&self, secret: &[u8]) -> bool {
        if secret.is_empty() || self.allow.iter().any(|a| a.is_match(secret)) {
            return false;
        }
        if self.min_entropy.is_some_and(|min| custos_core::scan::secrets::shannon_entropy(secret) < min) {
            return false;
        }
        self.require.iter().all(|class| {
            secret.iter().any(|b| match class {
                Class::Upper => b.is_ascii_uppercase(),
                Class::Lower => b.is_ascii_lowercase(),
                Class::Digit => b.is_ascii_digit(),
                Class::Letter => b.is_ascii_alphabetic(),
            })
        })
    }
}

/// Counts lines forward through sorted positions, so a file's hits cost one pass in total.
#[derive(Default)]
struct LineCounter {
    at: usize,
    line: u32,
}

impl LineCounter {
    fn line_of(&mut self, bytes: &[u8], pos: usize) -> u32 {
        if pos < self.at {
            self.at = 0;
            self.line = 0;
        }
        let stretch = bytes.get(self.at..pos).unwrap_or_default();
        let newlines = memchr::memchr_iter(b'\n', stretch).count();
        self.line = self.line.saturating_add(u32::try_from(newlines).unwrap_or(u32::MAX));
        self.at = pos;
        self.line.saturating_add(1)
    }
}

/// The part of a key after its lowercase prefix (`sk-proj-`, `hf_`, `lsv2_pt_`): up to three
/// segments of at most eight lowercase letters and digits, each ended by `-` or `_`.
fn body_of(secret: &[u8]) -> &[u8] {
    let mut rest = secret;
    for _ in 0..3 {
        let seg = rest.iter().take(9).position(|b| *b == b'-' || *b == b'_');
        match seg {
            Some(i) if i > 0 && rest.iter().take(i).all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) => {
                rest = rest.get(i + 1..).unwrap_or_default();
            }
            _ => break,
        }
    }
    rest
}

/// `<KEY>`, `${KEY}`, `{{KEY}}`: a template slot, not a value.
fn templated(before: &[u8], after: &[u8]) -> bool {
    let last = before.last().copied();
    let next = after.first().copied();
    (last == Some(b'<') && next == Some(b'>')) || (last == Some(b'{') && next == Some(b'}')) || before.ends_with(b"${")
}

/// Whether `body` holds a run of `n` characters each one above (or below) the last.
fn sequential(body: &[u8], n: usize) -> bool {
    if n < 2 {
        return false;
    }
    let (mut up, mut down) = (1, 1);
    for pair in body.windows(2) {
        let (a, b) = match pair {
            [a, b] => (*a, *b),
            _ => continue,
        };
        up = if b == a.wrapping_add(1) { up + 1 } else { 1 };
        down = if b.wrapping_add(1) == a { down + 1 } else { 1 };
        if up >= n || down >= n {
            return true;
        }
    }
    false
}

/// Whether `body` is a unit of at most `max` characters repeated (at least twice over).
fn periodic(body: &[u8], max: usize) -> bool {
    (1..=max.min(body.len() / 2)).any(|p| body.iter().zip(body.iter().skip(p)).all(|(a, b)| a == b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_catalogues_compile() {
        let e = CredentialEngine::from_catalogues(custos_core::scan::secrets::BUILTIN_CATALOGUE, FILE_CATALOGUE);
        assert!(e.is_ok(), "{:?}", e.err());
    }

    /// The two streams against a plain search: every occurrence once, in order of its end,
    /// wherever it falls (either half, across the middle, at either end), at every length.
    #[test]
    fn the_keyword_streams_find_every_occurrence_once() {
        let literals: Vec<String> = ["AKIA", "sk-ant-", "hf_", "-----BEGIN", "ant"].map(String::from).to_vec();
        let p = Prefilter::build(&literals).unwrap();
        let naive = |bytes: &[u8]| {
            let mut out = Vec::new();
            for end in 1..=bytes.len() {
                for (i, l) in literals.iter().enumerate() {
                    if bytes[..end].ends_with(l.as_bytes()) {
                        out.push((end, i, end - l.len()));
                    }
                }
            }
            out
        };
        let unit = b"xx AKIA sk-ant-hf_ -----BEGIN y";
        for len in 0..200 {
            let bytes: Vec<u8> = unit.iter().cycle().skip(len % 7).take(len).copied().collect();
            let mut got = Vec::new();
            p.each(&bytes, |pattern, start, end| got.push((end, pattern, start)));
            let mut want = naive(&bytes);
            want.sort();
            let mut sorted = got.clone();
            sorted.sort();
            assert_eq!(sorted, want, "length {len}");
            assert!(got.windows(2).all(|w| w[0].0 <= w[1].0), "not in order at length {len}");
        }
    }

    #[test]
    fn bodies_lose_their_prefix() {
        assert_eq!(body_of(b"sk-proj-AbC"), b"AbC");
        assert_eq!(body_of(b"sk-ant-api03-Zz_y"), b"Zz_y");
        assert_eq!(body_of(b"AKIAQ"), b"AKIAQ");
        assert!(sequential(b"xx123456", 6));
        assert!(!sequential(b"x1y2z3", 6));
        assert!(periodic(b"abcabcabc", 8));
        assert!(!periodic(b"abcabcabd", 8));
    }
}

//! YAML read safely: serde-saphyr with tight alias and size budgets, errors reduced to a
//! position (a YAML file may hold secrets, so no message quotes its content), and a split of a
//! multi-document stream that keeps each document's first line.

use serde_json::Value;

/// Alias replays allowed in one document. Real configs and manifests replay a few hundred
/// events at most; a "billion laughs" document needs millions, so it stops early and cheaply.
const MAX_REPLAYED_EVENTS: usize = 100_000;
/// Nesting allowed: manifests stay far below this; deeper input is hostile or broken.
const MAX_DEPTH: usize = 64;

fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: MAX_DEPTH,
            max_aliases: 10_000,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: MAX_REPLAYED_EVENTS,
        },
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::LastWins,
        with_snippet: false,
    }
}

/// One YAML document as JSON. `first_line` (1-based) is where the document starts in its file,
/// so the position in the error is a position in the file.
pub(crate) fn parse(text: &str, first_line: u32) -> Result<Value, String> {
    serde_saphyr::from_str_with_options::<Value>(text, options()).map_err(|e| {
        let mut inner = &e;
        while let serde_saphyr::Error::AliasError { error, .. } | serde_saphyr::Error::WithSnippet { error, .. } = inner
        {
            inner = error;
        }
        let exceeded = matches!(
            inner,
            serde_saphyr::Error::Budget { .. }
                | serde_saphyr::Error::AliasReplayLimitExceeded { .. }
                | serde_saphyr::Error::AliasExpansionLimitExceeded { .. }
                | serde_saphyr::Error::AliasReplayStackDepthExceeded { .. }
        );
        let what = if exceeded { "YAML exceeds the parser's limits (aliases, size or depth)" } else { "invalid YAML" };
        match e.location() {
            Some(at) if at.line() > 0 => {
                let line = u64::from(first_line).saturating_add(at.line()).saturating_sub(1);
                format!("{what} at line {line}, column {}", at.column())
            }
            _ => what.to_string(),
        }
    })
}

/// The documents of a YAML stream, each with the 1-based line it starts on. A line that starts
/// with `---` at column 0 begins a new document (inside a block scalar such a line would have to
/// be indented); whatever follows the marker on its line stays in the document, and the marker
/// itself is blanked so that columns keep their place.
pub(crate) fn documents(text: &str) -> Vec<(u32, String)> {
    let mut docs = Vec::new();
    let mut current = String::new();
    let mut start = 1u32;
    let mut line_no = 0u32;
    for line in text.split_inclusive('\n') {
        line_no = line_no.saturating_add(1);
        let marker = line.starts_with("---")
            && line.get(3..).is_none_or(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n']));
        let preamble_only = current.lines().all(|l| {
            let t = l.trim_start();
            t.is_empty() || t.starts_with('%') || t.starts_with('#')
        });
        if marker && preamble_only && current.lines().any(|l| l.starts_with('%')) {
            // Directives belong to the document their `---` opens.
            current.push_str(line);
        } else if marker {
            if !current.trim().is_empty() {
                docs.push((start, std::mem::take(&mut current)));
            }
            current.clear();
            start = line_no;
            current.push_str("   ");
            current.push_str(line.get(3..).unwrap_or_default());
        } else if line.starts_with("...") && line.get(3..).is_none_or(|rest| rest.trim().is_empty()) {
            if !current.trim().is_empty() {
                docs.push((start, std::mem::take(&mut current)));
            }
            current.clear();
            start = line_no.saturating_add(1);
        } else {
            if current.is_empty() && line.trim().is_empty() && docs.is_empty() {
                start = line_no.saturating_add(1);
                continue;
            }
            current.push_str(line);
        }
    }
    if !current.trim().is_empty() {
        docs.push((start, current));
    }
    docs
}

#[cfg(test)]
mod tests {
    use super::{documents, parse};

    #[test]
    fn documents_keep_their_first_line() {
        let docs = documents("# c\na: 1\n---\nb: 2\n--- \nc: 3\n...\n");
        let starts: Vec<u32> = docs.iter().map(|d| d.0).collect();
        assert_eq!(starts, [1, 3, 5]);
        let docs = documents("%YAML 1.2\n---\na: 1\n");
        assert_eq!(docs.len(), 1);
        assert_eq!(parse(&docs[0].1, docs[0].0).ok(), Some(serde_json::json!({"a": 1})));
    }

    #[test]
    fn errors_give_a_position_not_the_content() {
        let err = parse("a: 1\nb: \"secret-value\n", 10).unwrap_err();
        assert!(err.starts_with("invalid YAML"), "{err}");
        assert!(!err.contains("secret-value"), "{err}");
    }
}

//! JSON with comments and trailing commas (VS Code, Zed, OpenCode settings), turned into plain
//! JSON by blanking comments and dropping trailing commas, so that `serde_json` can parse it and
//! its error positions still point into the original text.

/// `text` with `//` and `/* */` comments replaced by spaces (newlines kept) and every comma
/// that only whitespace or comments separate from a closing `}` or `]` removed.
pub fn strip(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut in_string = false;
    // The byte index in `out` of a comma that may turn out to be trailing.
    let mut pending_comma: Option<usize> = None;
    while let Some(&c) = chars.get(i) {
        let next = chars.get(i + 1).copied();
        if in_string {
            out.push(c);
            if c == '\\' {
                if let Some(n) = next {
                    out.push(n);
                    i += 1;
                }
            } else if c == '"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        match (c, next) {
            ('/', Some('/')) => {
                while let Some(&c) = chars.get(i) {
                    if c == '\n' {
                        break;
                    }
                    out.push(' ');
                    i += 1;
                }
                continue;
            }
            ('/', Some('*')) => {
                out.push_str("  ");
                i += 2;
                while let Some(&c) = chars.get(i) {
                    if c == '*' && chars.get(i + 1) == Some(&'/') {
                        out.push_str("  ");
                        i += 2;
                        break;
                    }
                    out.push(if c == '\n' { '\n' } else { ' ' });
                    i += 1;
                }
                continue;
            }
            _ => {}
        }
        match c {
            '"' => {
                in_string = true;
                pending_comma = None;
            }
            ',' => pending_comma = Some(out.len()),
            '}' | ']' => {
                if let Some(at) = pending_comma.take() {
                    out.replace_range(at..at + 1, " ");
                }
            }
            c if c.is_whitespace() => {}
            _ => pending_comma = None,
        }
        out.push(c);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::strip;

    #[test]
    fn comments_and_trailing_commas_go_strings_stay() {
        let text = "{\n // note\n \"a\": \"x//y\", /* b */ \"b\": [1, 2,],\n}";
        let v: serde_json::Value = serde_json::from_str(&strip(text)).unwrap_or_default();
        assert_eq!(v, serde_json::json!({"a": "x//y", "b": [1, 2]}));
    }
}

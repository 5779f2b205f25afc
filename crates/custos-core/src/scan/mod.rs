//! Text scanners that look inside what agents and tools exchange: credentials in arguments and
//! results ([`secrets`]) and instructions hidden in tool manifests ([`poison`]).
//!
//! Both are pure functions over strings and JSON values; the rules they apply are data, in the
//! crate's `catalogue/` directory, compiled into the binary.

pub mod poison;
pub mod secrets;

use std::fmt::Write as _;

/// Appends one RFC 6901 reference token to a JSON pointer: `~` becomes `~0` and `/` becomes
/// `~1`, so a key that contains a slash cannot pose as two levels.
pub(crate) fn push_pointer_token(pointer: &mut String, token: &str) {
    pointer.push('/');
    for c in token.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

/// Characters a reader cannot see but a model reads: Unicode tag characters, zero-width
/// characters, bidirectional controls and other format characters. They are how instructions
/// hide in text that looks clean on screen.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFFB}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// `text` with every invisible or control character written as a `\u{...}` escape, so that a
/// report or a diff shows what a model would read. Newlines and tabs are kept: they are visible
/// as layout.
pub fn escape_invisible(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if (c.is_control() && c != '\n' && c != '\t') || is_invisible(c) {
            // Writing to a String cannot fail.
            let _ = write!(out, "\\u{{{:X}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

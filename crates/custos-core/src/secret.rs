//! A wrapper for values that must never be printed: tokens, keys, credentials.
//!
//! `Debug` and `Display` print `***`, so a secret that ends up in a log line, an error message
//! or a panic shows nothing. Code that needs the value calls [`Secret::expose`], which makes
//! every use greppable.

use std::fmt;

/// Reads a secret a configuration file points at instead of holding it: `env:VAR` (an
/// environment variable) or `file:/path` (a file's contents), trimmed. `None` when `value` is
/// neither; otherwise the value, or why it could not be read (naming the variable or path,
/// never a value).
pub fn read_reference(value: &str) -> Option<Result<String, String>> {
    let read = if let Some(var) = value.strip_prefix("env:") {
        std::env::var(var).map_err(|_| format!("environment variable `{var}` is not set"))
    } else if let Some(path) = value.strip_prefix("file:") {
        std::fs::read_to_string(path).map_err(|e| format!("cannot read `{path}`: {e}"))
    } else {
        return None;
    };
    Some(read.map(|v| v.trim().to_string()))
}

/// A value that redacts itself when printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret value itself. Every call site is a place where the secret leaves its box.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn printing_never_shows_the_value() {
        let s = Secret::new("cst_hunter2".to_string());
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{:?}", Some(&s)), "Some(***)");
        assert_eq!(s.expose(), "cst_hunter2");
    }
}

//! Printing: JSON for `--json`, text otherwise, and progress bars only on a terminal.

use std::{io::IsTerminal, sync::Arc};

use custos_store::Progress;
use indicatif::{ProgressBar, ProgressStyle};

/// Prints `value` as pretty JSON on standard output.
pub fn json(value: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()));
}

/// A progress callback that drives a bar on stderr when it is a terminal, and nothing otherwise.
pub fn progress(label: &'static str) -> (Progress, Option<ProgressBar>) {
    if !std::io::stderr().is_terminal() {
        return (custos_store::no_progress(), None);
    }
    let bar = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template("{msg} {bar:40} {human_pos}/{human_len} entries, eta {eta}") {
        bar.set_style(style);
    }
    bar.set_message(label);
    let b = bar.clone();
    let cb: Progress = Arc::new(move |done, total| {
        b.set_length(total);
        b.set_position(done);
    });
    (cb, Some(bar))
}

/// `n` and the noun, singular or plural: "1 entry", "2 entries".
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

//! Inline SVG charts for the report, computed here so the page needs no script and no library.
//!
//! Each chart is a standalone, well-formed SVG element (it parses as XML on its own) with a
//! `viewBox`, so it scales to the page and prints crisply. Every bar carries a `<title>` with its
//! exact figures, because a printed chart is read by eye and the numbers must still be there.

use std::collections::BTreeMap;

use super::{Esc, thousands};
use crate::report::{ControlCoverage, CoverageStatus, DayCalls, DecisionTotals, ToolUse};

const ALLOW: &str = "#2e7d32";
const APPROVAL: &str = "#e0a100";
const DENY: &str = "#c62828";
const NONE: &str = "#b9c0c9";
const BRAND: &str = "#1f3a5f";
const MUTED: &str = "#5b6572";
const RULE: &str = "#d5dae1";

/// Width of every chart's coordinate system; the page scales it.
const W: f64 = 720.0;
/// Longest gap between two listed days that is filled with empty days; beyond it the days are
/// drawn as listed (a window of years is not drawn one bar per day).
const MAX_FILLED_DAYS: usize = 1000;
/// Tools drawn one per bar; the rest are summed into one bar.
const MAX_TOOLS: usize = 12;

fn open(out: &mut String, height: f64, label: &str) {
    w!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {height:.0}\" width=\"{W}\" height=\"{height:.0}\" \
         role=\"img\" aria-label=\"{label}\" font-family=\"DejaVu Sans, Liberation Sans, Arial, sans-serif\" font-size=\"11\">\
         <title>{label}</title>",
        label = Esc(label),
    );
}

fn empty(label: &str, message: &str) -> String {
    let mut out = String::new();
    open(&mut out, 60.0, label);
    w!(
        out,
        "<text x=\"{x}\" y=\"34\" text-anchor=\"middle\" fill=\"{MUTED}\">{}</text></svg>",
        Esc(message),
        x = W / 2.0
    );
    out
}

/// A step of 1, 2 or 5 times a power of ten so that `ticks` steps reach `max`.
fn nice_step(max: u64, ticks: u64) -> u64 {
    let mut magnitude: u64 = 1;
    loop {
        for m in [1, 2, 5] {
            let step = magnitude.saturating_mul(m);
            if step.saturating_mul(ticks) >= max {
                return step;
            }
        }
        match magnitude.checked_mul(10) {
            Some(next) => magnitude = next,
            None => return max.max(1),
        }
    }
}

/// `s` cut to `n` characters, with an ellipsis when cut.
fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
    out.push('\u{2026}');
    out
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 * 100.0 / whole as f64 }
}

/// One day's counts, keyed by its label.
struct Day {
    label: String,
    allow: u64,
    approval: u64,
    deny: u64,
}

impl Day {
    fn total(&self) -> u64 {
        self.allow.saturating_add(self.approval).saturating_add(self.deny)
    }
}

/// The days in calendar order with the missing ones as zero, so that a quiet day shows as a gap
/// rather than disappearing. Labels that are not dates are drawn as given, in the given order.
fn days(input: &[DayCalls]) -> Vec<Day> {
    let as_given = || {
        input
            .iter()
            .map(|d| Day { label: d.day.clone(), allow: d.allow, approval: d.approval, deny: d.deny })
            .collect::<Vec<_>>()
    };
    let mut by_date: BTreeMap<jiff::civil::Date, (u64, u64, u64)> = BTreeMap::new();
    for d in input {
        let Ok(date) = d.day.parse::<jiff::civil::Date>() else { return as_given() };
        let e = by_date.entry(date).or_default();
        e.0 = e.0.saturating_add(d.allow);
        e.1 = e.1.saturating_add(d.approval);
        e.2 = e.2.saturating_add(d.deny);
    }
    let (Some((&first, _)), Some((&last, _))) = (by_date.first_key_value(), by_date.last_key_value()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut day = first;
    while day <= last {
        if out.len() > MAX_FILLED_DAYS {
            // Too long to draw day by day: the listed days only.
            return by_date
                .iter()
                .map(|(d, c)| Day { label: d.to_string(), allow: c.0, approval: c.1, deny: c.2 })
                .collect();
        }
        let c = by_date.get(&day).copied().unwrap_or_default();
        out.push(Day { label: day.to_string(), allow: c.0, approval: c.1, deny: c.2 });
        match day.tomorrow() {
            Ok(next) => day = next,
            Err(_) => break,
        }
    }
    out
}

/// Stacked bars of calls per day: allowed, held for approval, denied.
pub(super) fn calls_per_day(input: &[DayCalls]) -> String {
    const LABEL: &str = "Tool calls per day by decision";
    let days = days(input);
    if days.iter().all(|d| d.total() == 0) {
        return empty(LABEL, "No tool call in this window.");
    }
    let (height, left, right, top, bottom) = (230.0, 48.0, 8.0, 10.0, 34.0);
    let plot_w = W - left - right;
    let plot_h = height - top - bottom;
    let max = days.iter().map(Day::total).max().unwrap_or(1).max(1);
    let ticks = 4;
    let step = nice_step(max, ticks);
    let top_value = (step.saturating_mul(max.div_ceil(step))).max(1) as f64;
    let y_of = |v: f64| top + plot_h - plot_h * v / top_value;

    let mut out = String::new();
    open(&mut out, height, LABEL);
    let mut k = 0;
    while k <= max.div_ceil(step) {
        let v = k.saturating_mul(step);
        let y = y_of(v as f64);
        w!(
            out,
            "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{x2}\" y2=\"{y:.1}\" stroke=\"{RULE}\" stroke-width=\"1\"/>\
             <text x=\"{tx}\" y=\"{ty:.1}\" text-anchor=\"end\" fill=\"{MUTED}\">{label}</text>",
            x2 = W - right,
            tx = left - 6.0,
            ty = y + 4.0,
            label = thousands(v),
        );
        k += 1;
    }
    let n = days.len() as f64;
    let slot = plot_w / n;
    let bar = (slot * 0.72).max(0.8);
    let every = days.len().div_ceil(10).max(1);
    for (i, d) in days.iter().enumerate() {
        let x = left + i as f64 * slot + (slot - bar) / 2.0;
        w!(
            out,
            "<g><title>{day}: {a} allowed, {p} held for approval, {x_} denied</title>",
            day = Esc(&d.label),
            a = thousands(d.allow),
            p = thousands(d.approval),
            x_ = thousands(d.deny),
        );
        let mut base = 0u64;
        for (value, colour) in [(d.allow, ALLOW), (d.approval, APPROVAL), (d.deny, DENY)] {
            if value == 0 {
                continue;
            }
            let y0 = y_of(base as f64);
            base = base.saturating_add(value);
            let y1 = y_of(base as f64);
            w!(
                out,
                "<rect x=\"{x:.1}\" y=\"{y1:.1}\" width=\"{bar:.1}\" height=\"{h:.1}\" fill=\"{colour}\"/>",
                h = y0 - y1
            );
        }
        out.push_str("</g>");
        if i % every == 0 {
            // `YYYY-MM-DD` shown as `MM-DD`: the year is in the window above the chart.
            let label = if d.label.len() == 10 { d.label.get(5..).unwrap_or(&d.label) } else { &d.label };
            w!(
                out,
                "<text x=\"{cx:.1}\" y=\"{ty:.1}\" text-anchor=\"middle\" fill=\"{MUTED}\">{}</text>",
                Esc(&clip(label, 10)),
                cx = left + (i as f64 + 0.5) * slot,
                ty = height - bottom + 16.0,
            );
        }
    }
    w!(
        out,
        "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{x2}\" y2=\"{y:.1}\" stroke=\"{MUTED}\" stroke-width=\"1\"/></svg>",
        y = top + plot_h,
        x2 = W - right,
    );
    out
}

/// Horizontal bars of calls per tool, most used first, the denied part in red.
pub(super) fn tools(input: &[ToolUse]) -> String {
    const LABEL: &str = "Tool calls per tool";
    if input.is_empty() {
        return empty(LABEL, "No tool was called in this window.");
    }
    let mut sorted: Vec<(String, u64, u64)> =
        input.iter().map(|t| (t.tool.clone(), t.calls, t.denied.min(t.calls))).collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    if sorted.len() > MAX_TOOLS {
        let rest = sorted.split_off(MAX_TOOLS - 1);
        let calls = rest.iter().map(|r| r.1).fold(0u64, u64::saturating_add);
        let denied = rest.iter().map(|r| r.2).fold(0u64, u64::saturating_add);
        sorted.push((format!("{} other tools", rest.len()), calls, denied));
    }
    let (row, top, label_w, count_w) = (22.0, 6.0, 236.0, 150.0);
    let bar_w = W - label_w - count_w;
    let height = top * 2.0 + row * sorted.len() as f64;
    let max = sorted.iter().map(|r| r.1).max().unwrap_or(1).max(1) as f64;
    let mut out = String::new();
    open(&mut out, height, LABEL);
    for (i, (tool, calls, denied)) in sorted.iter().enumerate() {
        let y = top + i as f64 * row;
        let ok_w = bar_w * calls.saturating_sub(*denied) as f64 / max;
        let deny_w = bar_w * *denied as f64 / max;
        w!(
            out,
            "<g><title>{tool}: {c} calls, {d} denied</title>\
             <text x=\"{lx}\" y=\"{ty:.1}\" text-anchor=\"end\" fill=\"#1b1f24\">{short}</text>\
             <rect x=\"{label_w}\" y=\"{by:.1}\" width=\"{ok_w:.1}\" height=\"14\" fill=\"{BRAND}\"/>\
             <rect x=\"{dx:.1}\" y=\"{by:.1}\" width=\"{deny_w:.1}\" height=\"14\" fill=\"{DENY}\"/>\
             <text x=\"{cx:.1}\" y=\"{ty:.1}\" fill=\"{MUTED}\">{c}{dn}</text></g>",
            tool = Esc(tool),
            c = thousands(*calls),
            d = thousands(*denied),
            lx = label_w - 8.0,
            ty = y + 15.0,
            short = Esc(&clip(tool, 34)),
            by = y + 4.0,
            dx = label_w + ok_w,
            cx = label_w + ok_w + deny_w + 6.0,
            dn = if *denied > 0 { format!(" ({} denied)", thousands(*denied)) } else { String::new() },
        );
    }
    out.push_str("</svg>");
    out
}

/// A donut of the decisions, with a legend of counts and shares.
pub(super) fn decisions(d: &DecisionTotals) -> String {
    const LABEL: &str = "Decisions: allowed, held for approval, denied";
    let (height, cx, cy, r, stroke) = (170.0, 95.0, 85.0, 60.0, 26.0);
    let total = d.total();
    let circumference = 2.0 * std::f64::consts::PI * r;
    let mut out = String::new();
    open(&mut out, height, LABEL);
    let parts = [(d.allow, ALLOW, "allowed"), (d.approval, APPROVAL, "held for approval"), (d.deny, DENY, "denied")];
    if total == 0 {
        w!(
            out,
            "<circle cx=\"{cx}\" cy=\"{cy}\" r=\"{r}\" fill=\"none\" stroke=\"{NONE}\" stroke-width=\"{stroke}\"/>"
        );
    } else {
        let mut offset = 0.0;
        for (value, colour, name) in parts {
            if value == 0 {
                continue;
            }
            let len = circumference * value as f64 / total as f64;
            // Each slice is the same circle with one dash, rotated so slices start at twelve o'clock.
            w!(
                out,
                "<circle cx=\"{cx}\" cy=\"{cy}\" r=\"{r}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"{stroke}\" \
                 stroke-dasharray=\"{len:.2} {gap:.2}\" stroke-dashoffset=\"{off:.2}\" transform=\"rotate(-90 {cx} {cy})\">\
                 <title>{name}: {n} ({p:.1}%)</title></circle>",
                gap = (circumference - len).max(0.0),
                off = -offset,
                n = thousands(value),
                p = percent(value, total),
            );
            offset += len;
        }
    }
    w!(
        out,
        "<text x=\"{cx}\" y=\"{y1}\" text-anchor=\"middle\" font-size=\"20\" font-weight=\"bold\" fill=\"#1b1f24\">{t}</text>\
         <text x=\"{cx}\" y=\"{y2}\" text-anchor=\"middle\" fill=\"{MUTED}\">calls</text>",
        y1 = cy + 4.0,
        y2 = cy + 20.0,
        t = thousands(total),
    );
    for (i, (value, colour, name)) in parts.into_iter().enumerate() {
        let y = 45.0 + i as f64 * 32.0;
        w!(
            out,
            "<rect x=\"220\" y=\"{ry}\" width=\"14\" height=\"14\" rx=\"2\" fill=\"{colour}\"/>\
             <text x=\"244\" y=\"{ty}\" font-size=\"13\" fill=\"#1b1f24\">{name}</text>\
             <text x=\"470\" y=\"{ty}\" font-size=\"13\" text-anchor=\"end\" font-weight=\"bold\" fill=\"#1b1f24\">{n}</text>\
             <text x=\"540\" y=\"{ty}\" font-size=\"13\" text-anchor=\"end\" fill=\"{MUTED}\">{p:.1}%</text>",
            ry = y - 12.0,
            ty = y,
            n = thousands(value),
            p = percent(value, total),
        );
    }
    out.push_str("</svg>");
    out
}

/// One 100% stacked bar per framework: evidenced, partial, no evidence.
pub(super) fn coverage(controls: &[ControlCoverage]) -> String {
    const LABEL: &str = "Controls per framework by coverage";
    let mut frameworks: Vec<(&str, [u64; 3])> = Vec::new();
    for c in controls {
        let slot = match c.status {
            CoverageStatus::Evidenced => 0,
            CoverageStatus::Partial => 1,
            CoverageStatus::NoEvidence => 2,
        };
        let i = match frameworks.iter().position(|(f, _)| *f == c.framework) {
            Some(i) => i,
            None => {
                frameworks.push((&c.framework, [0; 3]));
                frameworks.len() - 1
            }
        };
        if let Some((_, counts)) = frameworks.get_mut(i)
            && let Some(n) = counts.get_mut(slot)
        {
            *n = n.saturating_add(1);
        }
    }
    if frameworks.is_empty() {
        return empty(LABEL, "No control catalogue was applied.");
    }
    let (row, top, label_w, count_w) = (28.0, 6.0, 236.0, 130.0);
    let bar_w = W - label_w - count_w;
    let height = top * 2.0 + row * frameworks.len() as f64;
    let mut out = String::new();
    open(&mut out, height, LABEL);
    for (i, (name, [e, p, n])) in frameworks.iter().enumerate() {
        let y = top + i as f64 * row;
        let total = e.saturating_add(*p).saturating_add(*n).max(1);
        w!(
            out,
            "<g><title>{name}: {e} evidenced, {p} partial, {n} no evidence</title>\
             <text x=\"{lx}\" y=\"{ty:.1}\" text-anchor=\"end\" fill=\"#1b1f24\">{short}</text>",
            name = Esc(name),
            lx = label_w - 8.0,
            ty = y + 18.0,
            short = Esc(&clip(name, 34)),
        );
        let mut x = label_w;
        for (value, colour) in [(*e, ALLOW), (*p, APPROVAL), (*n, NONE)] {
            let width = bar_w * value as f64 / total as f64;
            if width > 0.0 {
                w!(
                    out,
                    "<rect x=\"{x:.1}\" y=\"{by:.1}\" width=\"{width:.1}\" height=\"18\" fill=\"{colour}\"/>",
                    by = y + 5.0
                );
            }
            x += width;
        }
        w!(
            out,
            "<text x=\"{cx:.1}\" y=\"{ty:.1}\" fill=\"{MUTED}\">{e} / {p} / {n} of {t}</text></g>",
            cx = label_w + bar_w + 8.0,
            ty = y + 18.0,
            t = e.saturating_add(*p).saturating_add(*n),
        );
    }
    out.push_str("</svg>");
    out
}

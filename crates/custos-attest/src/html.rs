//! The printable evidence report: one self-contained HTML5 file rendered from [`ReportData`].
//!
//! Self-contained because the report travels with the bundle to people who open it offline and
//! must not have to trust a network: CSS is inline (`templates/report.css`), charts are inline
//! SVG computed here, there is no script, and a Content-Security-Policy meta forbids every load
//! (and every script), so even a mistake in escaping could not fetch or run anything. Every piece
//! of text that came from outside goes through [`Esc`], which is correct both in element text and
//! in double-quoted attributes, in HTML and in the SVG (XML) parts.

use std::fmt;

use custos_core::Timestamp;

use crate::report::{CoverageStatus, ReportData, TimelineEntry};

/// Writes formatted text into a `String`; writing into a `String` cannot fail, so the
/// `fmt::Result` carries nothing.
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {{
        use ::std::fmt::Write as _;
        let _ = ::std::write!($out, $($arg)*);
    }};
}

mod chart;

/// The stylesheet, inlined into every report.
const CSS: &str = include_str!("../templates/report.css");

/// The Content-Security-Policy: nothing may load, nothing may run; only the inline stylesheet
/// and inline style attributes (SVG presentation) apply. `frame-ancestors` and `sandbox` are left
/// out because a `<meta>` policy ignores them and Chromium logs a console error for each.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'";

/// Rows of a long table shown before the report points at the bundle for the rest.
const MAX_ROWS: usize = 100;

/// Text escaped for HTML and XML: element content and double- or single-quoted attribute values.
///
/// Besides the five markup characters, control characters (other than tab, newline and carriage
/// return) and the noncharacters U+FFFE and U+FFFF become U+FFFD: XML forbids them, so one in an
/// agent's name would otherwise make the SVG parts ill-formed.
#[derive(Debug, Clone, Copy)]
pub struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut start = 0;
        for (i, c) in self.0.char_indices() {
            let replacement = match c {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&#39;",
                '\t' | '\n' | '\r' => continue,
                c if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' => "\u{FFFD}",
                _ => continue,
            };
            f.write_str(self.0.get(start..i).unwrap_or_default())?;
            f.write_str(replacement)?;
            start = i + c.len_utf8();
        }
        f.write_str(self.0.get(start..).unwrap_or_default())
    }
}

/// `s` escaped (see [`Esc`]).
pub fn escape(s: &str) -> String {
    Esc(s).to_string()
}

/// The whole report as one HTML5 document.
pub fn render_html(data: &ReportData) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let agent = &data.agent;
    w!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <meta name=\"color-scheme\" content=\"light\">\n\
         <meta name=\"generator\" content=\"custos-attest {version}\">\n\
         <title>Evidence report: {name} ({id})</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n<main>\n",
        csp = Esc(CSP),
        version = env!("CARGO_PKG_VERSION"),
        name = Esc(&agent.name),
        id = Esc(&agent.id),
    );
    cover(&mut out, data);
    identity(&mut out, data);
    timeline(&mut out, &data.timeline);
    behavior(&mut out, data);
    findings(&mut out, data);
    coverage(&mut out, data);
    verification(&mut out, data);
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

fn cover(out: &mut String, data: &ReportData) {
    let a = &data.agent;
    let v = &data.verification;
    let b = &data.behavior;
    w!(
        out,
        "<section class=\"sheet\" id=\"summary\">\n<p class=\"kicker\">custos agent evidence report</p>\n\
         <h1>{name}</h1>\n<p class=\"sub\"><code>{id}</code> &#183; window {from} to {to} &#183; generated {gen}</p>\n",
        name = Esc(&a.name),
        id = Esc(&a.id),
        from = when(&v.window_from),
        to = when(&v.window_to),
        gen = when(&data.generated_at),
    );
    let owner = match &a.owner {
        Some(o) => format!("<div class=\"v small\">{}</div>", Esc(o)),
        None => "<div class=\"v small warn\">none</div>".to_string(),
    };
    let evidenced = data.coverage.iter().filter(|c| c.status == CoverageStatus::Evidenced).count();
    let high = data.findings.iter().filter(|f| f.severity >= crate::report::Severity::High).count();
    w!(
        out,
        "<div class=\"cards\">\n\
         <div class=\"card\"><div class=\"k\">Owner</div>{owner}</div>\n\
         <div class=\"card\"><div class=\"k\">State</div><div class=\"v\">{state}{orphan}</div></div>\n\
         <div class=\"card\"><div class=\"k\">Risk tier</div><div class=\"v\">{risk}</div></div>\n\
         <div class=\"card\"><div class=\"k\">Environment</div><div class=\"v\">{env}</div></div>\n\
         <div class=\"card\"><div class=\"k\">Tool calls</div><div class=\"v\">{calls}</div></div>\n\
         <div class=\"card\"><div class=\"k\">Denied</div><div class=\"v\">{denied}</div></div>\n\
         <div class=\"card\"><div class=\"k\">Findings (high+)</div><div class=\"v\">{findings} ({high})</div></div>\n\
         <div class=\"card\"><div class=\"k\">Controls evidenced</div><div class=\"v\">{evidenced} / {controls}</div></div>\n\
         </div>\n",
        state = Esc(&a.state),
        orphan = if a.orphaned { " <span class=\"warn\">(orphaned)</span>" } else { "" },
        risk = Esc(&a.risk_tier),
        env = Esc(&a.environment),
        calls = thousands(b.decisions.total()),
        denied = thousands(b.decisions.deny),
        findings = thousands(data.findings.len() as u64),
        high = thousands(high as u64),
        controls = data.coverage.len(),
    );
    w!(
        out,
        "<div class=\"charts\">\n<div class=\"chart\"><h3>Tool calls per day</h3>\n{}\n{}</div>\n</div>\n",
        chart::calls_per_day(&data.behavior.calls_per_day),
        DECISION_LEGEND,
    );
    out.push_str(
        "<nav class=\"toc\"><h3>Contents</h3><ol>\
         <li><a href=\"#identity\">Identity, owner and recertifications</a></li>\
         <li><a href=\"#lifecycle\">Lifecycle</a></li>\
         <li><a href=\"#behavior\">Observed behavior</a></li>\
         <li><a href=\"#findings\">Findings and probe results</a></li>\
         <li><a href=\"#coverage\">Control coverage</a></li>\
         <li><a href=\"#verification\">Verification</a></li>\
         </ol></nav>\n",
    );
    w!(
        out,
        "<p class=\"note\">Every event this report relies on is in ledger <code>{origin}</code> and is \
         proven against its signed checkpoint (tree size {size}) in the accompanying bundle. \
         Check it offline with <code>custos verify BUNDLE --key KEY</code>; this page itself is \
         not evidence.</p>\n</section>\n",
        origin = Esc(&v.checkpoint_origin),
        size = thousands(v.tree_size),
    );
}

const DECISION_LEGEND: &str = "<p class=\"legend\"><span class=\"sw allow\"></span>allowed\
    <span class=\"sw approval\"></span>held for approval<span class=\"sw deny\"></span>denied</p>";

fn identity(out: &mut String, data: &ReportData) {
    let a = &data.agent;
    out.push_str("<section class=\"sheet\" id=\"identity\">\n<h2>Identity, owner and recertifications</h2>\n<table class=\"facts\">\n<tbody>\n");
    let fact = |out: &mut String, k: &str, v: String| w!(out, "<tr><th scope=\"row\">{k}</th><td>{v}</td></tr>\n");
    fact(out, "Agent id", format!("<code>{}</code>", Esc(&a.id)));
    fact(out, "Name", Esc(&a.name).to_string());
    fact(
        out,
        "Owner",
        match &a.owner {
            Some(o) => Esc(o).to_string(),
            None => "<span class=\"warn\">none</span>".into(),
        },
    );
    fact(out, "Sponsor", a.sponsor.as_deref().map_or_else(|| "none".into(), |s| Esc(s).to_string()));
    fact(out, "Purpose", if a.purpose.is_empty() { "not stated".into() } else { Esc(&a.purpose).to_string() });
    fact(
        out,
        "State",
        format!(
            "<span class=\"badge st-{cls}\">{state}</span>{orphan}",
            cls = css_token(&a.state),
            state = Esc(&a.state),
            orphan = if a.orphaned {
                " <span class=\"warn\">orphaned: the owner was offboarded and no one took the agent over</span>"
            } else {
                ""
            }
        ),
    );
    fact(out, "Environment", Esc(&a.environment).to_string());
    fact(out, "Risk tier", Esc(&a.risk_tier).to_string());
    let labels: Vec<String> = a.labels.iter().map(|l| format!("<code>{}</code>", Esc(l))).collect();
    fact(out, "Labels", if labels.is_empty() { "none".into() } else { labels.join(" ") });
    fact(
        out,
        "Granted policy",
        match &a.granted_policy {
            Some(p) => format!("{} <br><code class=\"hash\">sha256:{}</code>", Esc(&p.name), Esc(&p.sha256)),
            None => "none granted".into(),
        },
    );
    fact(out, "Registered", a.registered_at.as_ref().map_or_else(|| "unknown".into(), when));
    let overdue = a.recert_due.as_ref().is_some_and(|d| d.as_jiff() < data.generated_at.as_jiff());
    fact(
        out,
        "Recertification due",
        match &a.recert_due {
            Some(d) if overdue => format!("{} <span class=\"warn\">overdue</span>", when(d)),
            Some(d) => when(d),
            None => "not set".into(),
        },
    );
    if let Some(d) = &a.identity_digest {
        fact(out, "Identity record digest", format!("<code class=\"hash\">sha256:{}</code>", Esc(d)));
    }
    out.push_str("</tbody>\n</table>\n");
    recertifications(out, data);
    out.push_str("</section>\n");
}

fn recertifications(out: &mut String, data: &ReportData) {
    out.push_str("<h3>Recertifications</h3>\n");
    if data.recertifications.is_empty() {
        out.push_str("<p class=\"muted\">No recertification in this window.</p>\n");
        return;
    }
    out.push_str(
        "<table>\n<thead><tr><th class=\"num\">Entry</th><th>Time</th><th>Reviewer</th><th>Decision</th>\
         <th>Next due</th><th>Note</th></tr></thead>\n<tbody>\n",
    );
    for r in &data.recertifications {
        w!(
            out,
            "<tr><td class=\"num\">{}</td><td class=\"nw\">{}</td><td>{}</td><td>{}</td><td class=\"nw\">{}</td><td>{}</td></tr>\n",
            r.index,
            when(&r.time),
            Esc(&r.reviewer),
            Esc(&r.decision),
            r.next_due.as_ref().map_or_else(String::new, when),
            Esc(&r.note),
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

fn timeline(out: &mut String, entries: &[TimelineEntry]) {
    out.push_str("<section class=\"sheet\" id=\"lifecycle\">\n<h2>Lifecycle</h2>\n");
    if entries.is_empty() {
        out.push_str("<p class=\"muted\">No lifecycle event in this window.</p>\n</section>\n");
        return;
    }
    w!(
        out,
        "<p class=\"muted\">{} lifecycle events, oldest first; the number is the ledger entry.</p>\n<ol class=\"timeline\">\n",
        entries.len()
    );
    for e in entries {
        let class = match e.kind.as_str() {
            "agent.state_changed" => "k-state",
            "agent.owner_changed" | "owner.offboarded" => "k-owner",
            k if k.starts_with("credential.") => "k-credential",
            k if k.starts_with("recert.") => "k-recert",
            _ => "k-other",
        };
        w!(
            out,
            "<li class=\"{class}\"><div class=\"when\">#{index} &#183; <time datetime=\"{iso}\">{time}</time> &#183; {actor}</div>\
             <div><span class=\"what\"><code>{kind}</code></span> {summary}</div></li>\n",
            index = e.index,
            iso = e.time,
            time = when(&e.time),
            actor = Esc(&e.actor),
            kind = Esc(&e.kind),
            summary = Esc(&e.summary),
        );
    }
    out.push_str("</ol>\n</section>\n");
}

fn behavior(out: &mut String, data: &ReportData) {
    let b = &data.behavior;
    let d = &b.decisions;
    w!(
        out,
        "<section class=\"sheet\" id=\"behavior\">\n<h2>Observed behavior</h2>\n\
         <p>{total} tool calls through the gateway: {allow} allowed, {approval} held for a human's approval, \
         {deny} denied; {tools} distinct tools.</p>\n<div class=\"charts\">\n",
        total = thousands(d.total()),
        allow = thousands(d.allow),
        approval = thousands(d.approval),
        deny = thousands(d.deny),
        tools = b.tools.len(),
    );
    w!(out, "<div class=\"chart\"><h3>Decisions</h3>\n{}\n</div>\n", chart::decisions(d));
    w!(
        out,
        "<div class=\"chart\"><h3>Tools used</h3>\n{}\n<p class=\"legend\"><span class=\"sw calls\"></span>calls\
         <span class=\"sw deny\"></span>denied</p></div>\n",
        chart::tools(&b.tools)
    );
    out.push_str("</div>\n<h3>First use of each tool</h3>\n");
    if b.first_uses.is_empty() {
        out.push_str("<p class=\"muted\">No first use in this window.</p>\n");
    } else {
        out.push_str(
            "<table>\n<thead><tr><th class=\"num\">Entry</th><th>Time</th><th>Tool</th></tr></thead>\n<tbody>\n",
        );
        for f in b.first_uses.iter().take(MAX_ROWS) {
            w!(
                out,
                "<tr><td class=\"num\">{}</td><td class=\"nw\">{}</td><td><code>{}</code></td></tr>\n",
                f.index,
                when(&f.time),
                Esc(&f.tool)
            );
        }
        out.push_str("</tbody>\n</table>\n");
        more(out, b.first_uses.len());
    }
    out.push_str("<h3>Denied calls</h3>\n");
    if b.denials.is_empty() {
        out.push_str("<p class=\"muted\">No call was denied in this window.</p>\n");
    } else {
        out.push_str(
            "<table>\n<thead><tr><th class=\"num\">Entry</th><th>Time</th><th>Tool</th><th>Reason</th></tr></thead>\n<tbody>\n",
        );
        for x in b.denials.iter().take(MAX_ROWS) {
            w!(
                out,
                "<tr><td class=\"num\">{}</td><td class=\"nw\">{}</td><td><code>{}</code></td><td>{}</td></tr>\n",
                x.index,
                when(&x.time),
                Esc(&x.tool),
                Esc(&x.reason)
            );
        }
        out.push_str("</tbody>\n</table>\n");
        more(out, b.denials.len());
    }
    out.push_str("</section>\n");
}

fn findings(out: &mut String, data: &ReportData) {
    out.push_str("<section class=\"sheet\" id=\"findings\">\n<h2>Findings and probe results</h2>\n<h3>Findings</h3>\n");
    if data.findings.is_empty() {
        out.push_str("<p class=\"muted\">No finding in this window.</p>\n");
    } else {
        let mut sorted: Vec<_> = data.findings.iter().collect();
        sorted.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.index.cmp(&b.index)));
        out.push_str(
            "<table>\n<thead><tr><th>Severity</th><th>Type</th><th>Summary</th><th class=\"num\">Entry</th><th>Time</th></tr></thead>\n<tbody>\n",
        );
        for f in sorted.iter().take(MAX_ROWS) {
            w!(
                out,
                "<tr><td><span class=\"badge sev-{sev}\">{sev}</span></td><td><code>{ty}</code></td><td>{summary}</td>\
                 <td class=\"num\">{index}</td><td class=\"nw\">{time}</td></tr>\n",
                sev = f.severity.as_str(),
                ty = Esc(&f.finding_type),
                summary = Esc(&f.summary),
                index = f.index,
                time = f.time.as_ref().map_or_else(String::new, when),
            );
        }
        out.push_str("</tbody>\n</table>\n");
        more(out, sorted.len());
    }
    out.push_str("<h3>Probe results</h3>\n");
    if data.probes.is_empty() {
        out.push_str("<p class=\"muted\">No probe ran against this agent in this window.</p>\n");
    } else {
        out.push_str(
            "<table>\n<thead><tr><th>Result</th><th>Probe</th><th>Summary</th><th class=\"num\">Entry</th><th>Time</th></tr></thead>\n<tbody>\n",
        );
        for p in data.probes.iter().take(MAX_ROWS) {
            w!(
                out,
                "<tr><td><span class=\"badge st-{r}\">{r}</span></td><td><code>{probe}</code></td><td>{summary}</td>\
                 <td class=\"num\">{index}</td><td class=\"nw\">{time}</td></tr>\n",
                r = p.result.as_str(),
                probe = Esc(&p.probe),
                summary = Esc(&p.summary),
                index = p.index,
                time = when(&p.time),
            );
        }
        out.push_str("</tbody>\n</table>\n");
        more(out, data.probes.len());
    }
    out.push_str("</section>\n");
}

fn coverage(out: &mut String, data: &ReportData) {
    out.push_str("<section class=\"sheet\" id=\"coverage\">\n<h2>Control coverage</h2>\n");
    if data.coverage.is_empty() {
        out.push_str("<p class=\"muted\">No control catalogue was applied.</p>\n</section>\n");
        return;
    }
    w!(
        out,
        "<div class=\"chart\"><h3>Controls per framework</h3>\n{}\n<p class=\"legend\"><span class=\"sw evidenced\"></span>evidenced\
         <span class=\"sw partial\"></span>partial<span class=\"sw no_evidence\"></span>no evidence</p></div>\n",
        chart::coverage(&data.coverage)
    );
    // Frameworks in first-seen order, the catalogue's own order within each.
    let mut frameworks: Vec<&str> = Vec::new();
    for c in &data.coverage {
        if !frameworks.contains(&c.framework.as_str()) {
            frameworks.push(&c.framework);
        }
    }
    for fw in frameworks {
        w!(
            out,
            "<h3>{}</h3>\n<table>\n<thead><tr><th>Control</th><th>Title</th><th>Status</th><th class=\"num\">Events</th></tr></thead>\n<tbody>\n",
            Esc(fw)
        );
        for c in data.coverage.iter().filter(|c| c.framework == fw) {
            w!(
                out,
                "<tr><td class=\"nw\"><code>{official}</code></td><td>{title}</td><td><span class=\"badge cov-{cls}\">{label}</span></td>\
                 <td class=\"num\">{n}</td></tr>\n",
                official = Esc(&c.official_id),
                title = Esc(&c.title),
                cls = c.status.as_str(),
                label = c.status.label(),
                n = thousands(c.event_count),
            );
        }
        out.push_str("</tbody>\n</table>\n");
    }
    out.push_str("</section>\n");
}

fn verification(out: &mut String, data: &ReportData) {
    let v = &data.verification;
    out.push_str(
        "<section class=\"sheet\" id=\"verification\">\n<h2>Verification</h2>\n\
         <p>The bundle is a DSSE envelope over an in-toto Statement. Its predicate carries the events above \
         with inclusion proofs against this signed checkpoint. Anyone holding the public key can check it \
         without custos's database or network access.</p>\n<table class=\"facts\">\n<tbody>\n",
    );
    let fact = |out: &mut String, k: &str, v: String| w!(out, "<tr><th scope=\"row\">{k}</th><td>{v}</td></tr>\n");
    fact(out, "Checkpoint origin", format!("<code>{}</code>", Esc(&v.checkpoint_origin)));
    fact(out, "Tree size", thousands(v.tree_size));
    fact(out, "Root hash", format!("<code class=\"hash\">{}</code>", Esc(&v.root_hash)));
    fact(out, "Signing key id", format!("<code class=\"hash\">{}</code>", Esc(&v.key_id)));
    fact(out, "Window", format!("{} to {}", when(&v.window_from), when(&v.window_to)));
    fact(
        out,
        "Ledger entries in window",
        match (v.first_index, v.last_index) {
            (Some(a), Some(b)) => format!("{a} to {b}"),
            _ => "none".into(),
        },
    );
    fact(out, "Events referenced", thousands(v.events_referenced));
    fact(
        out,
        "Previous export",
        match v.previous_tree_size {
            Some(n) => format!("tree size {}; consistency proof included", thousands(n)),
            None => "none (first export for this scope)".into(),
        },
    );
    out.push_str(
        "</tbody>\n</table>\n<h3>How to check</h3>\n<p><code>custos verify BUNDLE --key KEY</code> checks the DSSE \
         signature, the Statement, every inclusion proof, the checkpoint signature, consistency with the previous \
         export and that no event of the range is missing. It exits 0 when everything holds and 2 naming the part \
         that failed.</p>\n",
    );
    w!(
        out,
        "<footer>Generated {gen} by custos-attest {version}. Times are UTC.</footer>\n</section>\n",
        gen = when(&data.generated_at),
        version = env!("CARGO_PKG_VERSION"),
    );
}

fn more(out: &mut String, total: usize) {
    if total > MAX_ROWS {
        w!(out, "<p class=\"note\">and {} more, listed in the bundle.</p>\n", thousands((total - MAX_ROWS) as u64));
    }
}

/// A time for a reader, to the minute, in UTC.
fn when(ts: &Timestamp) -> String {
    ts.as_jiff().strftime("%Y-%m-%d %H:%M UTC").to_string()
}

/// `1234567` as `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A word usable in a class name: lowercase ASCII letters, digits, `-` and `_`, others dropped.
fn css_token(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')).map(|c| c.to_ascii_lowercase()).collect()
}

//! Offline verification of evidence bundles with only the instance's public key.
//!
//! Input that cannot be checked at all (not JSON, cut short, not an envelope, an unknown
//! predicate type, a key in the wrong format) is a [`VerifyError`]. Everything else yields a
//! [`VerifyReport`] naming every part checked and exactly which failed: `signature`,
//! `statement`, `checkpoint`, `inclusion` (and `inclusion[<index>]` per failing event, whose
//! audit path, recovered from the bundle's multiproof, does not reach the root),
//! `anchor`, `consistency`, `completeness`, `summary`. Every part is checked even after one
//! fails, so a report shows all that is wrong; parts that cannot be checked because another
//! failed are reported as skipped.

use custos_core::{AgentId, AttestationExported, Entry, Event, EventKind, canonical};
use custos_ledger::{
    Hash, NoteVerifier, SignedCheckpoint,
    hash::leaf_hash,
    tree::{multiproof_paths, verify_consistency, verify_inclusion, verify_multiproof},
};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{
    bundle::{PreviousExport, events_sha256},
    dsse::{Envelope, b64_decode},
    statement::{Evidence, PREDICATE_TYPE, PREDICATE_TYPE_PREFIX, Predicate, STATEMENT_TYPE, Statement, derive},
};

/// How many per-event inclusion failures a report lists one by one.
const MAX_LISTED_FAILURES: usize = 100;

/// Input that cannot be verified at all (`custos verify` exit 3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the bundle is truncated: the JSON ends early ({0})")]
    Truncated(String),
    #[error("the bundle is not JSON: {0}")]
    NotJson(String),
    #[error("the bundle is not a DSSE envelope: {0}")]
    NotAnEnvelope(String),
    #[error("unknown predicate type `{found}` (this build verifies `{PREDICATE_TYPE}`)")]
    UnknownPredicate { found: String },
    #[error("the key is not a C2SP verifier key (`<name>+<hex8>+<base64>`): {0}")]
    BadKey(String),
}

/// Parses the public key a verifier is given: a C2SP verifier key `name+hex8+base64`.
pub fn parse_key(s: &str) -> Result<NoteVerifier, VerifyError> {
    NoteVerifier::from_encoded(s).map_err(|e| VerifyError::BadKey(e.to_string()))
}

/// The result of one part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed(String),
    Failed(String),
    /// Not checked because a part it depends on failed.
    Skipped(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub part: String,
    pub outcome: Outcome,
}

/// Every part checked, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VerifyReport {
    /// The subject (agent id) the statement names, when it could be read.
    pub subject: Option<String>,
    pub checks: Vec<Check>,
}

impl VerifyReport {
    /// True when every part passed.
    pub fn verified(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| matches!(c.outcome, Outcome::Passed(_)))
    }

    /// The parts that failed, by name.
    pub fn failed(&self) -> Vec<&str> {
        self.checks.iter().filter(|c| matches!(c.outcome, Outcome::Failed(_))).map(|c| c.part.as_str()).collect()
    }

    fn pass(&mut self, part: &str, why: impl Into<String>) {
        self.checks.push(Check { part: part.to_string(), outcome: Outcome::Passed(why.into()) });
    }

    fn fail(&mut self, part: &str, why: impl Into<String>) {
        self.checks.push(Check { part: part.to_string(), outcome: Outcome::Failed(why.into()) });
    }

    fn skip(&mut self, part: &str, why: impl Into<String>) {
        self.checks.push(Check { part: part.to_string(), outcome: Outcome::Skipped(why.into()) });
    }

    fn record(&mut self, part: &str, r: Result<String, String>) -> bool {
        match r {
            Ok(why) => {
                self.pass(part, why);
                true
            }
            Err(why) => {
                self.fail(part, why);
                false
            }
        }
    }
}

impl std::fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in &self.checks {
            let (tag, why) = match &c.outcome {
                Outcome::Passed(w) => ("ok  ", w),
                Outcome::Failed(w) => ("FAIL", w),
                Outcome::Skipped(w) => ("skip", w),
            };
            writeln!(f, "{tag} {}: {why}", c.part)?;
        }
        Ok(())
    }
}

/// The envelope, read straight from the bytes (a bundle can be a gigabyte: no `Value` first).
fn parse_envelope(bytes: &[u8]) -> Result<Envelope, VerifyError> {
    match serde_json::from_slice::<Envelope>(bytes) {
        Ok(e) => Ok(e),
        // Tell "cut short" and "not JSON" apart from "JSON, but not an envelope".
        Err(e) if e.is_eof() => Err(VerifyError::Truncated(e.to_string())),
        Err(e) if e.is_syntax() => Err(VerifyError::NotJson(e.to_string())),
        Err(e) => Err(VerifyError::NotAnEnvelope(e.to_string())),
    }
}

/// Reads the checkpoint of a bundle without verifying it, for use as the `previous` of the
/// next export (the next verification checks it).
pub fn previous_of(bundle_bytes: &[u8]) -> Result<PreviousExport, VerifyError> {
    let envelope = parse_envelope(bundle_bytes)?;
    let body =
        b64_decode(&envelope.payload).ok_or_else(|| VerifyError::NotAnEnvelope("payload is not base64".into()))?;
    let statement: Statement<Predicate> =
        serde_json::from_slice(&body).map_err(|e| VerifyError::NotAnEnvelope(format!("statement: {e}")))?;
    Ok(PreviousExport { checkpoint_note: statement.predicate.evidence.checkpoint })
}

/// Verifies each line of a `.intoto.jsonl` file; blank lines are skipped.
pub fn verify_jsonl(bytes: &[u8], verifier: &NoteVerifier) -> Vec<Result<VerifyReport, VerifyError>> {
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .map(|l| verify(l, verifier, None))
        .collect()
}

fn hashes(list: &[String]) -> Result<Vec<Hash>, String> {
    list.iter().map(|s| Hash::from_base64(s).map_err(|e| e.to_string())).collect()
}

/// Checks the multiproof of every event and the anchor against the checkpoint. When it fails,
/// each leaf's own audit path is recovered from it and checked alone, to name the events
/// whose proof breaks.
fn check_inclusion(ev: &Evidence, leaves: &[(u64, Hash)], size: u64, root: &Hash) -> Result<(), Vec<(String, String)>> {
    let nodes = hashes(&ev.proof).map_err(|e| vec![("inclusion".to_string(), format!("the proof: {e}"))])?;
    let Err(e) = verify_multiproof(size, leaves, &nodes, root) else { return Ok(()) };
    let mut out = vec![("inclusion".to_string(), e.to_string())];
    if let Ok((_, paths)) = multiproof_paths(size, leaves, &nodes) {
        let bad = leaves
            .iter()
            .zip(&paths)
            .filter(|((i, leaf), path)| verify_inclusion(*i, size, leaf, path, root).is_err())
            .map(|((i, _), _)| *i);
        for i in bad.take(MAX_LISTED_FAILURES) {
            let part = if i == ev.anchor.index { "anchor".to_string() } else { format!("inclusion[{i}]") };
            out.push((part, format!("entry {i}: its audit path from the proof does not reach the checkpoint's root")));
        }
    }
    Err(out)
}

/// Verifies a bundle offline. `previous` is the checkpoint note of the previous export the
/// auditor kept, if any: the bundle must then name that exact checkpoint and prove
/// consistency from it.
pub fn verify(
    bundle_bytes: &[u8],
    verifier: &NoteVerifier,
    previous: Option<&PreviousExport>,
) -> Result<VerifyReport, VerifyError> {
    let envelope = parse_envelope(bundle_bytes)?;
    let mut report = VerifyReport::default();

    // 1. The DSSE signature over PAE.
    let body = match envelope.verify(verifier) {
        Ok(body) => {
            report.pass("signature", format!("DSSE signature by {} verifies", verifier.name()));
            body
        }
        Err(e) => {
            report.fail("signature", e.to_string());
            // Go on with the unsigned payload, to name every other part that is wrong.
            match b64_decode(&envelope.payload) {
                Some(b) => b,
                None => {
                    report.fail("statement", "the payload is not base64");
                    return Ok(report);
                }
            }
        }
    };

    // 2. The statement: its shape, the predicate type, the subject digest.
    // Read twice, both from the bytes: first only the predicate type and the identity record
    // (serde skips the rest without building it), then the typed statement. A bundle of a
    // million events is never held as a `serde_json::Value`.
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(rename = "predicateType", default)]
        predicate_type: Value,
        #[serde(default)]
        predicate: Option<HeadPredicate>,
    }
    #[derive(serde::Deserialize)]
    struct HeadPredicate {
        #[serde(default)]
        agent: Option<HeadAgent>,
    }
    #[derive(serde::Deserialize)]
    struct HeadAgent {
        #[serde(default)]
        record: Option<Value>,
    }
    let head: Head = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            report.fail("statement", format!("the payload is not a JSON statement: {e}"));
            return Ok(report);
        }
    };
    let predicate_type = head.predicate_type.as_str().unwrap_or_default();
    if predicate_type != PREDICATE_TYPE {
        if predicate_type.starts_with(PREDICATE_TYPE_PREFIX) || report.verified() {
            return Err(VerifyError::UnknownPredicate { found: predicate_type.to_string() });
        }
        report.fail("statement", format!("predicateType is `{predicate_type}`"));
        return Ok(report);
    }
    let statement: Statement<Predicate> = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => {
            report.fail("statement", format!("the statement does not match the predicate schema: {e}"));
            return Ok(report);
        }
    };
    drop(body);
    let record_digest = head
        .predicate
        .and_then(|p| p.agent)
        .and_then(|a| a.record)
        .map(|r| canonical::to_vec(&r).map(|b| hex::encode(Sha256::digest(b))))
        .transpose()
        .ok()
        .flatten();
    let pred = &statement.predicate;
    let agent: &AgentId = &pred.agent.record.id;
    report.subject = Some(agent.to_string());
    let shape = (|| {
        if statement.type_ != STATEMENT_TYPE {
            return Err(format!("_type is `{}`, expected `{STATEMENT_TYPE}`", statement.type_));
        }
        let [subject] = statement.subject.as_slice() else {
            return Err(format!("{} subjects, expected exactly one (the agent)", statement.subject.len()));
        };
        if subject.name != agent.as_str() {
            return Err(format!("the subject is `{}` but the identity record is `{agent}`", subject.name));
        }
        if subject.digest.get("sha256") != record_digest.as_ref() {
            return Err("the subject's sha256 is not the digest of the identity record".to_string());
        }
        Ok(format!("in-toto Statement v1 about `{agent}`, subject digest matches the identity record"))
    })();
    report.record("statement", shape);

    // 3. The checkpoint signature.
    let ev = &pred.evidence;
    let cp = match SignedCheckpoint::open(&ev.checkpoint, verifier) {
        Ok(cp) => {
            report.pass("checkpoint", format!("signed by {}, tree size {}", verifier.name(), cp.checkpoint.size));
            Some(cp.checkpoint)
        }
        Err(e) => {
            report.fail("checkpoint", e.to_string());
            None
        }
    };
    let tree = cp.as_ref().map(|c| (c.size, &c.root));

    // 4. Every entry is readable, and the one multiproof proves them and the anchor.
    let mut parsed: Vec<(u64, Hash, Event)> = Vec::with_capacity(ev.events.len());
    let mut leaves: Vec<(u64, Hash)> = Vec::with_capacity(ev.events.len() + 1);
    let mut unreadable = Vec::new();
    for p in &ev.events {
        let leaf = leaf_hash(p.entry.as_bytes());
        leaves.push((p.index, leaf));
        match Entry::parse(p.entry.as_bytes()) {
            Ok(event) => parsed.push((p.index, leaf, event)),
            Err(e) => unreadable.push((p.index, e.to_string())),
        }
    }
    leaves.push((ev.anchor.index, leaf_hash(ev.anchor.entry.as_bytes())));
    let mut anchor_proven = false;
    match tree {
        None => report.skip("inclusion", "the checkpoint does not verify, so there is no root to prove against"),
        Some((size, root)) => match check_inclusion(ev, &leaves, size, root) {
            Ok(()) if unreadable.is_empty() => {
                anchor_proven = true;
                report.pass(
                    "inclusion",
                    format!("{} events and the anchor proven against the checkpoint", ev.events.len()),
                )
            }
            Ok(()) => {
                anchor_proven = true;
                report.fail("inclusion", format!("{} of {} entries cannot be read", unreadable.len(), ev.events.len()))
            }
            Err(failures) => {
                for (part, why) in failures {
                    report.fail(&part, why);
                }
            }
        },
    }
    for (index, why) in unreadable.iter().take(MAX_LISTED_FAILURES) {
        report.fail(&format!("inclusion[{index}]"), format!("entry {index}: {why}"));
    }

    // 5. The anchor: the `attestation.exported` entry, proven with the events.
    let anchor = match Entry::parse(ev.anchor.entry.as_bytes()) {
        Ok(event) => {
            let payload = (|| {
                if event.kind != EventKind::AttestationExported {
                    return Err(format!("the anchor is a `{}` event", event.kind));
                }
                if event.agent.as_ref() != Some(agent) {
                    return Err("the anchor names another agent".to_string());
                }
                if ev.anchor.index <= pred.window.to_index {
                    return Err("the anchor lies inside the window it anchors".to_string());
                }
                event.payload::<AttestationExported>().map_err(|e| e.to_string())
            })();
            match payload {
                Ok(a) if anchor_proven => {
                    report.pass("anchor", format!("attestation.exported at index {} is proven", ev.anchor.index));
                    Some(a)
                }
                Ok(a) if tree.is_none() => {
                    report.skip("anchor", "the checkpoint does not verify");
                    Some(a)
                }
                Ok(a) => {
                    if !report.failed().contains(&"anchor") {
                        report.skip("anchor", "the inclusion proof does not verify");
                    }
                    Some(a)
                }
                Err(why) => {
                    report.fail("anchor", why);
                    None
                }
            }
        }
        Err(e) => {
            report.fail("anchor", format!("entry {}: {e}", ev.anchor.index));
            None
        }
    };

    // 6. Consistency with the previous export.
    match (&ev.previous, previous) {
        (None, None) => report.pass("consistency", "no previous export"),
        (None, Some(_)) => {
            report.fail("consistency", "a previous export was given, but the bundle proves nothing from it")
        }
        (Some(prev), expected) => {
            let r = (|| {
                if let Some(expected) = expected
                    && expected.checkpoint_note != prev.checkpoint
                {
                    return Err("the bundle's previous checkpoint is not the one given".to_string());
                }
                let old = SignedCheckpoint::open(&prev.checkpoint, verifier)
                    .map_err(|e| format!("the previous checkpoint: {e}"))?
                    .checkpoint;
                let Some(new) = &cp else { return Err("the checkpoint does not verify".to_string()) };
                let proof = hashes(&prev.consistency)?;
                verify_consistency(old.size, new.size, &old.root, &new.root, &proof).map_err(|e| e.to_string())?;
                if anchor.as_ref().is_some_and(|a| a.previous_size != Some(old.size)) {
                    return Err("the anchor does not name the previous checkpoint's size".to_string());
                }
                Ok(format!("tree {} is consistent with the previous export's tree {}", new.size, old.size))
            })();
            report.record("consistency", r);
        }
    }

    // 7. Completeness: the list is sorted, unique, inside the window, and is what the anchor
    // committed to.
    let r = (|| {
        let w = &pred.window;
        let r = &ev.range;
        if (r.from_index, r.to_index) != (w.from_index, w.to_index) {
            return Err("the range and the window name different indices".to_string());
        }
        if parsed.len() != ev.events.len() {
            return Err("some entries cannot be read".to_string());
        }
        let mut last: Option<u64> = None;
        for (index, _, event) in &parsed {
            if last.is_some_and(|l| *index <= l) {
                return Err(format!("entry {index} is out of order or repeated"));
            }
            last = Some(*index);
            if !w.contains(*index, event.ts) {
                return Err(format!("entry {index} lies outside the window"));
            }
            if event.agent.as_ref() != Some(agent) && event.kind != EventKind::OwnerOffboarded {
                return Err(format!("entry {index} is not about `{agent}`"));
            }
        }
        let digest = events_sha256(parsed.iter().map(|(_, l, _)| l));
        if r.count != parsed.len() as u64 || r.events_sha256 != digest {
            return Err(format!("the range claims {} events, the list holds {}", r.count, parsed.len()));
        }
        let Some(a) = &anchor else { return Err("there is no valid anchor to compare with".to_string()) };
        if a.predicate_type != PREDICATE_TYPE
            || (a.from_index, a.to_index, a.from_time, a.to_time) != (w.from_index, w.to_index, w.from_time, w.to_time)
        {
            return Err("the anchored export covers another window".to_string());
        }
        if a.count != r.count || a.events_sha256 != r.events_sha256 {
            return Err(format!(
                "the ledger anchored {} events ({}), the bundle carries {} ({})",
                a.count, a.events_sha256, r.count, r.events_sha256
            ));
        }
        Ok(format!("{} events, the same the ledger anchored at index {}", r.count, ev.anchor.index))
    })();
    report.record("completeness", r);

    // 8. The summaries are what the evidence says.
    let events: Vec<(u64, Event)> = parsed.into_iter().map(|(i, _, e)| (i, e)).collect();
    let (derived, applied) = derive(&events);
    let r = if derived == pred.derived && applied == pred.granted_scope.applied {
        Ok("lifecycle, behavior, findings, probes, recertifications and granted scope match the events".to_string())
    } else {
        Err("the summaries differ from what the evidence events say".to_string())
    };
    report.record("summary", r);
    Ok(report)
}

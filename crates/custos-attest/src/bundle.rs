//! Building evidence bundles: one DSSE envelope over one in-toto Statement per agent.
//!
//! An export reads the agent's events in the window, appends an `attestation.exported` entry
//! that commits to their count and leaf hashes, has a checkpoint signed that covers that entry,
//! and proves every event and the anchor against it. `--all` writes one envelope per agent,
//! one per line (`.intoto.jsonl`, media type `application/vnd.in-toto.bundle`): each line
//! verifies on its own, and the ledger anchors make a dropped line visible to anyone who
//! checks the ledger, since JSON Lines bundles are not authenticated as a whole.

use std::collections::BTreeMap;

use custos_core::{
    Actor, AgentId, AttestationExported, CoreError, Entry, Event, Timestamp, canonical, registry::Agent,
};
use custos_ledger::{Checkpoint, Hash, LedgerError, NoteSigner, SignedCheckpoint, hash::leaf_hash};
use custos_store::{RegistryStore, StoreError};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{
    controls::{ControlCatalogue, EvidenceIndex, Scope, coverage},
    dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE},
    statement::{
        AgentSection, Derived, Deriver, EventRef, Evidence, GrantedScope, Owner, PREDICATE_TYPE, Predicate, Previous,
        ProvenEntry, Range, STATEMENT_TYPE, Statement, Subject, Window,
    },
};

/// How many history rows one store read takes.
const PAGE: u32 = 4096;

/// What to export: ledger indices (inclusive; default the whole ledger as it is when the
/// export starts) and optional event times (inclusive).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowRequest {
    pub from_index: Option<u64>,
    pub to_index: Option<u64>,
    pub from_time: Option<Timestamp>,
    pub to_time: Option<Timestamp>,
}

/// The previous export for the same scope: its checkpoint note, verbatim (kept by the caller,
/// e.g. in a small state file, or read from the previous bundle with
/// [`crate::verify::previous_of`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousExport {
    pub checkpoint_note: String,
}

/// Options beyond the required arguments.
#[derive(Debug, Clone, Copy, Default)]
pub struct AttestOptions<'a> {
    /// The catalogue whose control coverage (over the bundle's own events: the agent's and
    /// those naming no agent) fills `controls`; an empty array without it.
    pub controls: Option<&'a ControlCatalogue>,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    #[error("agent `{0}` is not in the registry")]
    UnknownAgent(AgentId),
    #[error("the window is empty or outside the ledger: indices {from}..={to}, ledger size {size}")]
    BadWindow { from: u64, to: u64, size: u64 },
    #[error("the previous export's checkpoint is not usable: {0}")]
    BadPrevious(String),
    #[error("ledger entry {index} cannot be exported: {why}")]
    Corrupt { index: u64, why: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("serializing the statement failed: {0}")]
    Json(#[from] serde_json::Error),
}

/// A signed bundle: the envelope as written, and the statement it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    pub envelope: Envelope,
    pub statement: Statement<Predicate>,
}

impl Bundle {
    /// The bundle file: the envelope as one line of JSON.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut out = serde_json::to_vec(&self.envelope)?;
        out.push(b'\n');
        Ok(out)
    }

    /// What the next export for the same scope passes as `previous`.
    pub fn as_previous(&self) -> PreviousExport {
        PreviousExport { checkpoint_note: self.statement.predicate.evidence.checkpoint.clone() }
    }
}

/// Several bundles as JSON Lines (`.intoto.jsonl`): one envelope per line.
pub fn to_jsonl(bundles: &[Bundle]) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::new();
    for b in bundles {
        out.extend(b.to_json()?);
    }
    Ok(out)
}

/// Lowercase hex SHA-256 over concatenated leaf hashes.
pub fn events_sha256<'a>(leaves: impl IntoIterator<Item = &'a Hash>) -> String {
    let mut h = Sha256::new();
    for l in leaves {
        h.update(l.0);
    }
    hex::encode(h.finalize())
}

/// Lowercase hex SHA-256 of the canonical JSON of an identity record: the subject digest.
pub fn record_digest(agent: &Agent) -> Result<String, CoreError> {
    Ok(hex::encode(Sha256::digest(canonical::to_vec(agent)?)))
}

/// Everything gathered for one agent before the checkpoint. The events are kept as their
/// entry bytes only: they were summarised while read.
struct Prepared {
    record: Agent,
    owner: Option<Owner>,
    window: Window,
    /// Ledger index, entry text, leaf hash.
    entries: Vec<(u64, String, Hash)>,
    derived: (Derived, Vec<EventRef>),
    controls: Vec<Value>,
    anchor: Event,
}

async fn prepare(
    store: &impl RegistryStore,
    agent: &AgentId,
    window: &Window,
    previous_size: Option<u64>,
    catalogue: Option<&ControlCatalogue>,
) -> Result<Prepared, AttestError> {
    let record = store.agent(agent).await?.ok_or_else(|| AttestError::UnknownAgent(agent.clone()))?;
    let owner = match &record.owner {
        Some(id) => Some(Owner { id: id.clone(), offboarded_at: store.offboarded_at(id).await? }),
        None => None,
    };
    let mut entries = Vec::new();
    let mut deriver = Deriver::default();
    let mut index = EvidenceIndex::new(Scope::AgentAndInstance(agent.to_string()));
    let mut after = window.from_index.checked_sub(1);
    'pages: loop {
        let page = store.agent_entries(agent, after, PAGE).await?;
        let full = page.len() == PAGE as usize;
        for (at, bytes) in page {
            if at > window.to_index {
                break 'pages;
            }
            after = Some(at);
            // `Entry::parse` refuses any bytes that `Entry::from_event` would not write, so
            // what the bundle carries is both the stored bytes and a valid event.
            let event = Entry::parse(&bytes).map_err(|e| AttestError::Corrupt { index: at, why: e.to_string() })?;
            if !window.contains(at, event.ts) {
                continue;
            }
            deriver.add(at, &event);
            if catalogue.is_some() {
                index.add_event(at, &event);
            }
            let leaf = leaf_hash(&bytes);
            let text = String::from_utf8(bytes).map_err(|e| AttestError::Corrupt { index: at, why: e.to_string() })?;
            entries.push((at, text, leaf));
        }
        if !full {
            break;
        }
    }
    // Serializing these plain structs cannot fail; an entry that somehow did is left out
    // rather than failing the export (`controls` is informative).
    let controls = catalogue
        .map(|cat| coverage(cat, None, &index).iter().filter_map(|c| serde_json::to_value(c).ok()).collect())
        .unwrap_or_default();
    let payload = AttestationExported {
        predicate_type: PREDICATE_TYPE.to_string(),
        from_index: window.from_index,
        to_index: window.to_index,
        from_time: window.from_time,
        to_time: window.to_time,
        count: entries.len() as u64,
        events_sha256: events_sha256(entries.iter().map(|(_, _, l)| l)),
        previous_size,
    };
    let anchor = Event::new(Actor::system(), Some(agent.clone()), &payload)?;
    Ok(Prepared { record, owner, window: window.clone(), entries, derived: deriver.finish(), controls, anchor })
}

fn b64(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(Hash::to_base64).collect()
}

fn resolve(req: &WindowRequest, size: u64) -> Result<Window, AttestError> {
    let from = req.from_index.unwrap_or(0);
    let to = req.to_index.unwrap_or(size.saturating_sub(1));
    if size == 0 || from > to || to >= size {
        return Err(AttestError::BadWindow { from, to, size });
    }
    Ok(Window { from_index: from, to_index: to, from_time: req.from_time, to_time: req.to_time })
}

fn open_previous(prev: &PreviousExport, signer: &NoteSigner) -> Result<Checkpoint, AttestError> {
    SignedCheckpoint::open(&prev.checkpoint_note, &signer.verifier())
        .map(|c| c.checkpoint)
        .map_err(|e| AttestError::BadPrevious(e.to_string()))
}

/// Exports one agent's evidence bundle (see the module documentation).
pub async fn attest(
    store: &impl RegistryStore,
    signer: &NoteSigner,
    agent: &AgentId,
    window: WindowRequest,
    previous: Option<&PreviousExport>,
    options: AttestOptions<'_>,
) -> Result<Bundle, AttestError> {
    let mut previous_of = BTreeMap::new();
    if let Some(p) = previous {
        previous_of.insert(agent.clone(), p.clone());
    }
    let mut out = attest_many(store, signer, std::slice::from_ref(agent), window, &previous_of, options).await?;
    out.pop().ok_or_else(|| AttestError::UnknownAgent(agent.clone()))
}

/// Exports one bundle per agent, in the order given, under one checkpoint: every anchor is
/// appended first, then one checkpoint covers them all. `previous` maps an agent to its
/// previous export.
pub async fn attest_many(
    store: &impl RegistryStore,
    signer: &NoteSigner,
    agents: &[AgentId],
    window: WindowRequest,
    previous: &BTreeMap<AgentId, PreviousExport>,
    options: AttestOptions<'_>,
) -> Result<Vec<Bundle>, AttestError> {
    let size = store.size().await?;
    let window = resolve(&window, size)?;
    let mut prepared = Vec::with_capacity(agents.len());
    for agent in agents {
        let prev = previous.get(agent).map(|p| open_previous(p, signer)).transpose()?;
        let p = prepare(store, agent, &window, prev.as_ref().map(|c| c.size), options.controls).await?;
        prepared.push((p, previous.get(agent).zip(prev)));
    }
    // Queue every anchor before awaiting any, so they share a batch.
    let pending: Vec<_> = prepared.iter().map(|(p, _)| store.submit(p.anchor.clone())).collect();
    let mut anchor_index = Vec::with_capacity(pending.len());
    for fut in pending {
        anchor_index.push(fut.await?.index);
    }
    let last = anchor_index.iter().copied().max().unwrap_or(0);
    let mut cp = store.checkpoint().await?;
    if cp.checkpoint.size <= last {
        cp = store.wait_checkpoint(last).await?;
    }
    let tree = cp.checkpoint.size;
    let mut out = Vec::with_capacity(prepared.len());
    for ((p, prev), anchor_at) in prepared.into_iter().zip(anchor_index) {
        let previous = match prev {
            Some((export, old)) => {
                if old.size > tree {
                    return Err(AttestError::BadPrevious(format!(
                        "its tree size {} is larger than this checkpoint's {tree}",
                        old.size
                    )));
                }
                let proof = store.consistency_proof(old.size, tree).await?;
                Some(Previous { checkpoint: export.checkpoint_note.clone(), consistency: b64(&proof) })
            }
            None => None,
        };
        let anchor_entry = Entry::from_event(&p.anchor)?;
        let mut indices: Vec<u64> = p.entries.iter().map(|(i, _, _)| *i).collect();
        indices.push(anchor_at);
        let proof = store.multiproof(indices, tree).await?;
        let range = Range {
            from_index: p.window.from_index,
            to_index: p.window.to_index,
            count: p.entries.len() as u64,
            events_sha256: events_sha256(p.entries.iter().map(|(_, _, l)| l)),
        };
        let events = p.entries.into_iter().map(|(index, entry, _)| ProvenEntry { index, entry }).collect();
        let anchor =
            ProvenEntry { index: anchor_at, entry: String::from_utf8_lossy(anchor_entry.as_bytes()).into_owned() };
        let (derived, applied) = p.derived;
        let digest = record_digest(&p.record)?;
        let predicate = Predicate {
            granted_scope: GrantedScope { current: p.record.granted_policy.clone(), applied },
            agent: AgentSection { record: p.record.clone(), owner: p.owner },
            window: p.window,
            derived,
            controls: p.controls,
            evidence: Evidence { checkpoint: cp.note.clone(), events, range, anchor, proof: b64(&proof), previous },
        };
        let statement = Statement {
            type_: STATEMENT_TYPE.to_string(),
            subject: vec![Subject {
                name: p.record.id.to_string(),
                digest: BTreeMap::from([("sha256".to_string(), digest)]),
            }],
            predicate_type: PREDICATE_TYPE.to_string(),
            predicate,
        };
        // Plain serde_json, not the canonical form: DSSE signs the bytes as they are, and
        // canonicalising a statement of a million entries would double the export's time.
        let body = serde_json::to_vec(&statement)?;
        let envelope = Envelope::sign(IN_TOTO_PAYLOAD_TYPE, &body, signer)?;
        out.push(Bundle { envelope, statement });
    }
    Ok(out)
}

//! Projections: tables derived from the ledger, updated in the append's transaction.
//!
//! A projection never holds information that is not in the entries: `custos ledger replay`
//! empties its tables and applies every entry again, and the result must be identical to what
//! the live appends produced (checked by [`crate::Store::projections_digest`]).

use custos_core::Event;
use rusqlite::Transaction;

/// A projection kept in SQLite.
pub trait Projection: Send + Sync {
    /// A short name for reports.
    fn name(&self) -> &'static str;

    /// The tables it owns, each with the `ORDER BY` clause that lists its rows in a stable
    /// order (used for the digest).
    fn tables(&self) -> &'static [(&'static str, &'static str)];

    /// Folds one entry into the projection.
    fn apply(&self, tx: &Transaction<'_>, index: u64, event: &Event) -> rusqlite::Result<()>;
}

/// `agent_events`: the index and kind of every entry about an agent, keyed by agent, so an
/// agent's history ("what happened to `payments/refund-bot`, with ledger indices") is a range
/// read. Entries about no agent add nothing.
#[derive(Debug, Default)]
pub struct AgentEvents;

impl Projection for AgentEvents {
    fn name(&self) -> &'static str {
        "agent_events"
    }

    fn tables(&self) -> &'static [(&'static str, &'static str)] {
        &[("agent_events", "agent, idx")]
    }

    fn apply(&self, tx: &Transaction<'_>, index: u64, event: &Event) -> rusqlite::Result<()> {
        // (`owner.offboarded` names no agent: the registry projection adds it to the history of
        // every agent it orphaned, since only the registry knows which those are.)
        let Some(agent) = &event.agent else { return Ok(()) };
        tx.prepare_cached("INSERT INTO agent_events (agent, idx, kind) VALUES (?1, ?2, ?3)")?
            .execute(rusqlite::params![agent.as_str(), index as i64, event.kind.as_str()])?;
        Ok(())
    }
}

/// The projections every store maintains.
pub fn default_projections() -> Vec<Box<dyn Projection>> {
    vec![Box::new(AgentEvents), Box::new(crate::registry::Registry), Box::new(crate::protect::Protect)]
}

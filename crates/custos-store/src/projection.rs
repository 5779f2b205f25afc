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

/// `event_index`: the kind, time and agent of every entry, so later lookups ("this agent's
/// history", "all `tool.changed`") do not scan the entries.
#[derive(Debug, Default)]
pub struct EventIndex;

impl Projection for EventIndex {
    fn name(&self) -> &'static str {
        "event_index"
    }

    fn tables(&self) -> &'static [(&'static str, &'static str)] {
        &[("event_index", "idx")]
    }

    fn apply(&self, tx: &Transaction<'_>, index: u64, event: &Event) -> rusqlite::Result<()> {
        tx.prepare_cached("INSERT INTO event_index (idx, kind, ts, agent) VALUES (?1, ?2, ?3, ?4)")?.execute(
            rusqlite::params![
                index as i64,
                event.kind.as_str(),
                event.ts.as_jiff().as_microsecond(),
                event.agent.as_ref().map(|a| a.as_str())
            ],
        )?;
        Ok(())
    }
}

/// The projections every store maintains.
pub fn default_projections() -> Vec<Box<dyn Projection>> {
    vec![Box::new(EventIndex)]
}

//! The `protect` projection: tool pins, each agent's used tools, and held calls (approvals).
//! The gateway reads these back at start so a restart keeps quarantines, baselines and the
//! record of which held calls were never decided.

use custos_core::{
    Event, EventKind, Timestamp,
    protect::{
        ApprovalDecided, ApprovalOutcome, ApprovalRecord, ApprovalRequested, GatewayFirstUse, PinState, ToolApproved,
        ToolChange, ToolChanged, ToolLabeled, ToolPin, ToolPinned, ToolQuarantined,
    },
};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::{StoreError, projection::Projection};

/// The projection.
#[derive(Debug, Default)]
pub struct Protect;

fn invariant(why: String) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(why.into())
}

fn payload<P: custos_core::Payload>(event: &Event) -> rusqlite::Result<P> {
    event.payload::<P>().map_err(|e| invariant(format!("protect: {e}")))
}

impl Projection for Protect {
    fn name(&self) -> &'static str {
        "protect"
    }

    fn tables(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("tool_pins", "server, tool"),
            ("tool_use", "agent, server, tool"),
            ("approvals", "id"),
            ("session_tools", "session, server, tool"),
            ("gateway_activity", "agent, server, tool, decision"),
        ]
    }

    fn apply(&self, tx: &Transaction<'_>, index: u64, event: &Event) -> rusqlite::Result<()> {
        let ts = event.ts.to_string();
        match event.kind {
            EventKind::ToolPinned => {
                let p: ToolPinned = payload(event)?;
                pin(tx, &p.server, &p.tool, &p.digest, &p.manifest, index, &ts)
            }
            EventKind::ToolApproved => {
                let p: ToolApproved = payload(event)?;
                pin(tx, &p.server, &p.tool, &p.digest, &p.manifest, index, &ts)
            }
            EventKind::ToolChanged => {
                let p: ToolChanged = payload(event)?;
                let (state, reason) = match p.change {
                    ToolChange::Changed => (PinState::Quarantined, "its manifest changed after it was pinned"),
                    ToolChange::Added => (PinState::Quarantined, "it appeared after its server's tools were pinned"),
                    ToolChange::Removed => (PinState::Removed, "its server no longer lists it"),
                };
                let old = p.old_digest.unwrap_or_default();
                tx.prepare_cached(
                    "INSERT INTO tool_pins (server, tool, state, digest, manifest, pending_digest, reason, idx, updated) \
                     VALUES (?1, ?2, ?3, ?4, '{}', ?5, ?6, ?7, ?8) \
                     ON CONFLICT (server, tool) DO UPDATE SET state = ?3, pending_digest = ?5, reason = ?6, \
                     idx = ?7, updated = ?8",
                )?
                .execute(params![p.server, p.tool, state.as_str(), old, p.new_digest, reason, index as i64, ts])?;
                Ok(())
            }
            EventKind::ToolQuarantined => {
                let p: ToolQuarantined = payload(event)?;
                tx.prepare_cached(
                    "INSERT INTO tool_pins (server, tool, state, digest, manifest, pending_digest, reason, idx, updated) \
                     VALUES (?1, ?2, 'quarantined', '', '{}', ?3, ?4, ?5, ?6) \
                     ON CONFLICT (server, tool) DO UPDATE SET state = 'quarantined', \
                     pending_digest = COALESCE(?3, pending_digest), reason = ?4, idx = ?5, updated = ?6",
                )?
                .execute(params![p.server, p.tool, p.digest, p.reason, index as i64, ts])?;
                Ok(())
            }
            EventKind::ToolLabeled => {
                let p: ToolLabeled = payload(event)?;
                let labels = serde_json::to_string(&p.labels).map_err(|e| invariant(e.to_string()))?;
                let n = tx
                    .prepare_cached("UPDATE tool_pins SET labels = ?3 WHERE server = ?1 AND tool = ?2")?
                    .execute(params![p.server, p.tool, labels])?;
                if n == 0 {
                    return Err(invariant(format!("protect: no tool `{}.{}` has been seen", p.server, p.tool)));
                }
                Ok(())
            }
            EventKind::GatewayFirstUse => {
                let Some(agent) = &event.agent else {
                    return Err(invariant("protect: `gateway.first_use` must name its agent".into()));
                };
                let p: GatewayFirstUse = payload(event)?;
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO tool_use (agent, server, tool, first_idx) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![agent.as_str(), p.server, p.tool, index as i64])?;
                Ok(())
            }
            EventKind::ApprovalRequested => {
                let Some(agent) = &event.agent else {
                    return Err(invariant("protect: `approval.requested` must name its agent".into()));
                };
                let p: ApprovalRequested = payload(event)?;
                tx.prepare_cached(
                    "INSERT INTO approvals (id, agent, server, tool, state, reason, requested, expires, idx, session) \
                     VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?7, ?8, ?9)",
                )?
                .execute(params![
                    p.id,
                    agent.as_str(),
                    p.server,
                    p.tool,
                    p.reason,
                    ts,
                    p.expires.to_string(),
                    index as i64,
                    p.session
                ])?;
                Ok(())
            }
            EventKind::ApprovalDecided => {
                let p: ApprovalDecided = payload(event)?;
                let n = tx
                    .prepare_cached(
                        "UPDATE approvals SET state = ?2, decided = ?3, decided_by = ?4, note = ?5 \
                         WHERE id = ?1 AND state = 'pending'",
                    )?
                    .execute(params![p.id, p.outcome.as_str(), ts, event.actor.id.as_str(), p.note])?;
                if n == 0 {
                    return Err(invariant(format!("protect: approval `{}` is not pending", p.id)));
                }
                // An approved call goes out (unless its re-check stops it, in which case its
                // session counts one tool too many: the stricter side for flow policies).
                if p.outcome == ApprovalOutcome::Approved {
                    tx.prepare_cached(
                        "INSERT OR IGNORE INTO session_tools (session, server, tool, first_idx) \
                         SELECT session, server, tool, ?2 FROM approvals WHERE id = ?1 AND session IS NOT NULL",
                    )?
                    .execute(params![p.id, index as i64])?;
                }
                Ok(())
            }
            EventKind::GatewayDecision => {
                // Only calls that went out count (allowed, or decided in shadow mode); a held
                // call's session is not known to its approval, so it is not counted here.
                let d = &event.data;
                let str_of = |k: &str| d.get(k).and_then(serde_json::Value::as_str);
                let enforced = d.get("enforced").and_then(serde_json::Value::as_bool) != Some(false);
                let went_out = str_of("decision") == Some("allow") || !enforced;
                if let (Some(agent), Some(server), Some(tool), Some(decision)) =
                    (event.agent.as_ref(), str_of("server"), str_of("tool"), str_of("decision"))
                {
                    let decision = if !enforced && decision != "allow" { "shadow" } else { decision };
                    tx.prepare_cached(
                        "INSERT INTO gateway_activity \
                         (agent, server, tool, decision, calls, first_ts, last_ts, first_idx, last_idx) \
                         VALUES (?1, ?2, ?3, ?4, 1, ?5, ?5, ?6, ?6) \
                         ON CONFLICT (agent, server, tool, decision) DO UPDATE SET \
                         calls = calls + 1, last_ts = excluded.last_ts, last_idx = excluded.last_idx",
                    )?
                    .execute(params![agent.as_str(), server, tool, decision, ts, index as i64])?;
                }
                if let (true, Some(session), Some(server), Some(tool)) =
                    (went_out, str_of("session"), str_of("server"), str_of("tool"))
                {
                    tx.prepare_cached(
                        "INSERT OR IGNORE INTO session_tools (session, server, tool, first_idx) VALUES (?1, ?2, ?3, ?4)",
                    )?
                    .execute(params![session, server, tool, index as i64])?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

fn pin(
    tx: &Transaction<'_>,
    server: &str,
    tool: &str,
    digest: &str,
    manifest: &serde_json::Value,
    index: u64,
    ts: &str,
) -> rusqlite::Result<()> {
    let manifest = custos_core::canonical::to_string(manifest).map_err(|e| invariant(format!("protect: {e}")))?;
    tx.prepare_cached(
        "INSERT INTO tool_pins (server, tool, state, digest, manifest, pending_digest, reason, idx, updated) \
         VALUES (?1, ?2, 'pinned', ?3, ?4, NULL, NULL, ?5, ?6) \
         ON CONFLICT (server, tool) DO UPDATE SET state = 'pinned', digest = ?3, manifest = ?4, \
         pending_digest = NULL, reason = NULL, idx = ?5, updated = ?6",
    )?
    .execute(params![server, tool, digest, manifest, index as i64, ts])?;
    Ok(())
}

fn ts(s: String) -> rusqlite::Result<Timestamp> {
    s.parse().map_err(|e: custos_core::CoreError| invariant(e.to_string()))
}

/// Every pinned tool.
pub(crate) fn tool_pins(conn: &Connection) -> Result<Vec<ToolPin>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT server, tool, state, digest, pending_digest, reason, idx, updated, manifest, labels FROM tool_pins \
         ORDER BY server, tool",
    )?;
    let rows = stmt.query_map([], |r| {
        let state: String = r.get(2)?;
        Ok(ToolPin {
            server: r.get(0)?,
            tool: r.get(1)?,
            state: PinState::parse(&state).ok_or_else(|| invariant(format!("tool_pins: unknown state `{state}`")))?,
            digest: r.get(3)?,
            pending_digest: r.get(4)?,
            reason: r.get(5)?,
            idx: r.get::<_, i64>(6)? as u64,
            updated: ts(r.get(7)?)?,
            manifest: serde_json::from_str(&r.get::<_, String>(8)?)
                .map_err(|e| invariant(format!("tool_pins: manifest: {e}")))?,
            labels: serde_json::from_str(&r.get::<_, String>(9)?)
                .map_err(|e| invariant(format!("tool_pins: labels: {e}")))?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every (agent, server, tool) an agent has called.
pub(crate) fn gateway_activity(conn: &Connection) -> Result<Vec<GatewayActivity>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT agent, server, tool, decision, calls, first_ts, last_ts, first_idx, last_idx \
         FROM gateway_activity ORDER BY agent, server, tool, decision",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(GatewayActivity {
            agent: r.get(0)?,
            server: r.get(1)?,
            tool: r.get(2)?,
            decision: r.get(3)?,
            calls: r.get::<_, i64>(4)?.max(0) as u64,
            first_ts: r.get(5)?,
            last_ts: r.get(6)?,
            first_index: r.get::<_, i64>(7)?.max(0) as u64,
            last_index: r.get::<_, i64>(8)?.max(0) as u64,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// What one agent did with one tool at the gateway, under one decision.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GatewayActivity {
    pub agent: String,
    pub server: String,
    pub tool: String,
    /// `allow`, `deny`, `approval`, or `shadow` (a non-allow decision not enforced).
    pub decision: String,
    pub calls: u64,
    pub first_ts: String,
    pub last_ts: String,
    pub first_index: u64,
    pub last_index: u64,
}

pub(crate) fn tool_uses(conn: &Connection) -> Result<Vec<(String, String, String)>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT agent, server, tool FROM tool_use ORDER BY agent, server, tool")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn approval_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApprovalRecord> {
    Ok(ApprovalRecord {
        id: r.get(0)?,
        agent: r.get(1)?,
        server: r.get(2)?,
        tool: r.get(3)?,
        state: r.get(4)?,
        reason: r.get(5)?,
        requested: ts(r.get(6)?)?,
        expires: ts(r.get(7)?)?,
        decided: r.get::<_, Option<String>>(8)?.map(ts).transpose()?,
        decided_by: r.get(9)?,
        note: r.get(10)?,
        idx: r.get::<_, i64>(11)? as u64,
    })
}

const APPROVAL_COLUMNS: &str =
    "id, agent, server, tool, state, reason, requested, expires, decided, decided_by, note, idx";

/// Held calls, newest first: only those still pending, or all of them.
pub(crate) fn approvals(conn: &Connection, pending_only: bool) -> Result<Vec<ApprovalRecord>, StoreError> {
    let sql = if pending_only {
        format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE state = 'pending' ORDER BY idx DESC")
    } else {
        format!("SELECT {APPROVAL_COLUMNS} FROM approvals ORDER BY idx DESC")
    };
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], approval_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One held call.
pub(crate) fn approval(conn: &Connection, id: &str) -> Result<Option<ApprovalRecord>, StoreError> {
    let sql = format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = ?1");
    Ok(conn.prepare_cached(&sql)?.query_row([id], approval_row).optional()?)
}

/// The (server, tool) pairs a session (by its digest) was allowed to call.
pub(crate) fn session_tools(conn: &Connection, session: &str) -> Result<Vec<(String, String)>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT server, tool FROM session_tools WHERE session = ?1 ORDER BY first_idx")?;
    let rows = stmt.query_map([session], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

//! The registry projection (agents, labels, credentials, offboarded owners) and its queries.
//!
//! The fold itself is [`custos_core::registry::Agent::apply`]; this module only loads a record,
//! folds one event in and writes it back, in the append's transaction. Because the registry
//! service checks every rule before it appends, an event this projection cannot apply (a second
//! registration of one id, a change to an unknown agent) is an invariant violation: the apply
//! fails, and with it the append, so such an entry never reaches the ledger.

use std::collections::BTreeMap;

use custos_core::{
    AgentId, Entry, Event, EventKind, Timestamp,
    discovery::AgentDiscovered,
    registry::{
        Agent, AgentChange, AgentQuery, AgentRegistered, AgentState, AgentStateChanged, Credential, CredentialIssued,
        CredentialRevoked, OwnerId, OwnerOffboarded, OwnerSummary,
    },
};
use rusqlite::{Connection, OptionalExtension, Transaction, params, types::Value as SqlValue};

use crate::{StoreError, projection::Projection};

/// The registry projection.
#[derive(Debug, Default)]
pub struct Registry;

fn invariant(why: String) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(why.into())
}

fn payload<P: custos_core::Payload>(event: &Event) -> rusqlite::Result<P> {
    event.payload::<P>().map_err(|e| invariant(format!("registry: {e}")))
}

fn subject(event: &Event) -> rusqlite::Result<&AgentId> {
    event.agent.as_ref().ok_or_else(|| invariant(format!("registry: a `{}` event must name its agent", event.kind)))
}

impl Projection for Registry {
    fn name(&self) -> &'static str {
        "registry"
    }

    fn tables(&self) -> &'static [(&'static str, &'static str)] {
        &[("agents", "id"), ("agent_labels", "label, agent"), ("credentials", "id"), ("offboarded_owners", "owner")]
    }

    fn apply(&self, tx: &Transaction<'_>, index: u64, event: &Event) -> rusqlite::Result<()> {
        let ts = event.ts;
        match event.kind {
            EventKind::AgentRegistered => {
                let id = subject(event)?;
                if load(tx, id)?.is_some() {
                    return Err(invariant(format!("registry: agent `{id}` is already registered")));
                }
                let p: AgentRegistered = payload(event)?;
                save(tx, &Agent::registered(id.clone(), index, ts, &p))?;
                // Registering with a discovery finding in the provenance adopts the shadow
                // agent discovery recorded for it: its `discovered/<finding>` record goes.
                let mut adopt = tx.prepare_cached("DELETE FROM agents WHERE id = ?1 AND state = 'discovered'")?;
                for finding in &p.provenance {
                    adopt.execute([format!("discovered/{finding}")])?;
                }
                Ok(())
            }
            EventKind::AgentDiscovered => {
                let id = subject(event)?;
                let p: AgentDiscovered = payload(event)?;
                match load(tx, id)? {
                    // Seen again: the record stays, its last change moves.
                    Some(mut agent) => {
                        agent.updated_at = ts;
                        agent.last_index = index;
                        save(tx, &agent)
                    }
                    None => save(tx, &Agent::discovered(id.clone(), index, ts, &p)),
                }
            }
            EventKind::AgentUpdated => change(tx, subject(event)?, index, ts, AgentChange::Updated(payload(event)?)),
            EventKind::AgentOwnerChanged => {
                change(tx, subject(event)?, index, ts, AgentChange::OwnerChanged(payload(event)?))
            }
            EventKind::AgentStateChanged => {
                let id = subject(event)?;
                let p: AgentStateChanged = payload(event)?;
                if p.to == AgentState::Retired {
                    // Retirement revokes every credential at once, in the same event.
                    tx.prepare_cached(
                        "UPDATE credentials SET revoked_at = ?1, revoked_reason = ?2 WHERE agent = ?3 AND revoked_at IS NULL",
                    )?
                    .execute(params![ts.to_string(), format!("agent retired: {}", p.reason), id.as_str()])?;
                }
                change(tx, id, index, ts, AgentChange::StateChanged(p))
            }
            EventKind::CredentialIssued => {
                let id = subject(event)?;
                let p: CredentialIssued = payload(event)?;
                if load(tx, id)?.is_none() {
                    return Err(invariant(format!("registry: credential for unknown agent `{id}`")));
                }
                tx.prepare_cached(
                    "INSERT INTO credentials (id, agent, sha256, created_at, expires_at, revoked_at, revoked_reason, issued_index) \
                     VALUES (?1, ?2, ?3, ?4, ?5, NULL, NULL, ?6)",
                )?
                .execute(params![
                    p.id,
                    id.as_str(),
                    p.sha256,
                    ts.to_string(),
                    p.expires_at.map(|t| t.to_string()),
                    index as i64
                ])?;
                Ok(())
            }
            EventKind::CredentialRevoked => {
                let id = subject(event)?;
                let p: CredentialRevoked = payload(event)?;
                let n = tx
                    .prepare_cached(
                        "UPDATE credentials SET revoked_at = ?1, revoked_reason = ?2 WHERE id = ?3 AND agent = ?4 AND revoked_at IS NULL",
                    )?
                    .execute(params![ts.to_string(), p.reason, p.id, id.as_str()])?;
                if n != 1 {
                    return Err(invariant(format!("registry: no live credential `{}` of `{id}` to revoke", p.id)));
                }
                Ok(())
            }
            EventKind::OwnerOffboarded => {
                let p: OwnerOffboarded = payload(event)?;
                tx.prepare_cached("INSERT INTO offboarded_owners (owner, offboarded_at, idx) VALUES (?1, ?2, ?3)")?
                    .execute(params![p.owner.as_str(), ts.to_string(), index as i64])?;
                // The orphaned set is derived here, from the state at this entry, so it holds
                // however many agents there are; the event only counts them.
                let ids: Vec<String> = tx
                    .prepare_cached("SELECT id FROM agents WHERE owner = ?1 AND state <> 'retired' ORDER BY id")?
                    .query_map([p.owner.as_str()], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                if ids.len() as u64 != p.orphaned_count {
                    return Err(invariant(format!(
                        "registry: `{}` owns {} live agents, but the offboarding counts {}",
                        p.owner,
                        ids.len(),
                        p.orphaned_count
                    )));
                }
                // An offboarding belongs in the history of every agent it orphaned.
                let mut history =
                    tx.prepare_cached("INSERT INTO agent_events (agent, idx, kind) VALUES (?1, ?2, ?3)")?;
                for id in &ids {
                    let agent: AgentId = id.parse().map_err(|e: custos_core::CoreError| invariant(e.to_string()))?;
                    change(tx, &agent, index, ts, AgentChange::Orphaned)?;
                    history.execute(params![id, index as i64, event.kind.as_str()])?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

fn change(tx: &Transaction<'_>, id: &AgentId, index: u64, ts: Timestamp, change: AgentChange) -> rusqlite::Result<()> {
    let Some(mut agent) = load(tx, id)? else {
        return Err(invariant(format!("registry: event for unknown agent `{id}`")));
    };
    agent.apply(index, ts, &change);
    save(tx, &agent)
}

fn parse_record(json: &str) -> rusqlite::Result<Agent> {
    serde_json::from_str(json).map_err(|e| invariant(format!("registry: stored agent record is unreadable: {e}")))
}

fn load(conn: &Connection, id: &AgentId) -> rusqlite::Result<Option<Agent>> {
    let json: Option<String> = conn
        .prepare_cached("SELECT record FROM agents WHERE id = ?1")?
        .query_row([id.as_str()], |r| r.get(0))
        .optional()?;
    json.map(|j| parse_record(&j)).transpose()
}

fn save(tx: &Transaction<'_>, agent: &Agent) -> rusqlite::Result<()> {
    let record = serde_json::to_string(agent).map_err(|e| invariant(e.to_string()))?;
    tx.prepare_cached(
        "INSERT INTO agents (id, record, state, owner, environment, orphaned, recert_due, last_index) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
         ON CONFLICT (id) DO UPDATE SET record = ?2, state = ?3, owner = ?4, environment = ?5, orphaned = ?6, \
         recert_due = ?7, last_index = ?8",
    )?
    .execute(params![
        agent.id.as_str(),
        record,
        agent.state.as_str(),
        agent.owner.as_ref().map(|o| o.as_str()),
        agent.environment.as_str(),
        agent.orphaned,
        agent.recert_due.to_string(),
        agent.last_index as i64
    ])?;
    tx.prepare_cached("DELETE FROM agent_labels WHERE agent = ?1")?.execute([agent.id.as_str()])?;
    let mut insert = tx.prepare_cached("INSERT INTO agent_labels (label, agent) VALUES (?1, ?2)")?;
    for label in &agent.labels {
        insert.execute([label.as_str(), agent.id.as_str()])?;
    }
    Ok(())
}

pub(crate) fn agent(conn: &Connection, id: &AgentId) -> Result<Option<Agent>, StoreError> {
    Ok(load(conn, id)?)
}

pub(crate) fn agents(conn: &Connection, q: &AgentQuery) -> Result<Vec<Agent>, StoreError> {
    let mut sql = String::from("SELECT record FROM agents WHERE 1 = 1");
    let mut args: Vec<SqlValue> = Vec::new();
    let mut arg = |sql: &mut String, clause: &str, v: SqlValue| {
        args.push(v);
        sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
    };
    if let Some(s) = q.state {
        arg(&mut sql, " AND state = ?", SqlValue::Text(s.as_str().into()));
    }
    if let Some(o) = &q.owner {
        arg(&mut sql, " AND owner = ?", SqlValue::Text(o.as_str().into()));
    }
    if let Some(e) = q.environment {
        arg(&mut sql, " AND environment = ?", SqlValue::Text(e.as_str().into()));
    }
    match q.orphaned {
        Some(true) => sql.push_str(" AND orphaned = 1 AND state IN ('registered', 'active')"),
        Some(false) => sql.push_str(" AND NOT (orphaned = 1 AND state IN ('registered', 'active'))"),
        None => {}
    }
    match q.overdue {
        Some((true, now)) => {
            arg(&mut sql, " AND recert_due < ? AND state <> 'retired'", SqlValue::Text(now.to_string()))
        }
        Some((false, now)) => {
            arg(&mut sql, " AND NOT (recert_due < ? AND state <> 'retired')", SqlValue::Text(now.to_string()))
        }
        None => {}
    }
    if let Some(l) = &q.label {
        arg(&mut sql, " AND id IN (SELECT agent FROM agent_labels WHERE label = ?)", SqlValue::Text(l.as_str().into()));
    }
    if let Some(a) = &q.after {
        arg(&mut sql, " AND id > ?", SqlValue::Text(a.as_str().into()));
    }
    arg(&mut sql, " ORDER BY id LIMIT ?", SqlValue::Integer(i64::from(q.limit)));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for json in rows {
        out.push(parse_record(&json?)?);
    }
    Ok(out)
}

pub(crate) fn history(
    conn: &Connection,
    id: &AgentId,
    after: Option<u64>,
    limit: u32,
) -> Result<Vec<(u64, Event)>, StoreError> {
    history_entries(conn, id, after, limit)?
        .into_iter()
        .map(|(index, bytes)| {
            let event = Entry::parse(&bytes).map_err(|e| StoreError::Corrupt { index, why: e.to_string() })?;
            Ok((index, event))
        })
        .collect()
}

/// The stored bytes of the events about one agent after index `after`, oldest first.
pub(crate) fn history_entries(
    conn: &Connection,
    id: &AgentId,
    after: Option<u64>,
    limit: u32,
) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
    let after = after.map(|a| a.min(i64::MAX as u64) as i64).unwrap_or(-1);
    let mut stmt = conn.prepare_cached(
        "SELECT a.idx, e.data FROM agent_events a JOIN entries e ON e.idx = a.idx \
         WHERE a.agent = ?1 AND a.idx > ?2 ORDER BY a.idx LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![id.as_str(), after, i64::from(limit)], |r| {
        Ok((r.get::<_, i64>(0)? as u64, r.get::<_, Vec<u8>>(1)?))
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

fn opt_ts(v: Option<String>) -> rusqlite::Result<Option<Timestamp>> {
    v.map(|s| s.parse().map_err(|e: custos_core::CoreError| invariant(e.to_string()))).transpose()
}

/// Credentials with their SHA-256 (hex), of one agent or of all.
pub(crate) fn credentials(conn: &Connection, agent: Option<&AgentId>) -> Result<Vec<(Credential, String)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT c.id, c.agent, c.sha256, c.created_at, c.expires_at, c.revoked_at, c.revoked_reason, c.issued_index, u.last_used \
         FROM credentials c LEFT JOIN credential_usage u ON u.id = c.id \
         WHERE ?1 IS NULL OR c.agent = ?1 ORDER BY c.agent, c.issued_index",
    )?;
    let rows = stmt.query_map([agent.map(|a| a.as_str())], |r| {
        let agent: String = r.get(1)?;
        let created: String = r.get(3)?;
        Ok((
            Credential {
                id: r.get(0)?,
                agent: agent.parse().map_err(|e: custos_core::CoreError| invariant(e.to_string()))?,
                created_at: created.parse().map_err(|e: custos_core::CoreError| invariant(e.to_string()))?,
                expires_at: opt_ts(r.get(4)?)?,
                revoked_at: opt_ts(r.get(5)?)?,
                revoked_reason: r.get(6)?,
                last_used_at: opt_ts(r.get(8)?)?,
                issued_index: r.get::<_, i64>(7)? as u64,
            },
            r.get::<_, String>(2)?,
        ))
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub(crate) fn owners(conn: &Connection) -> Result<Vec<OwnerSummary>, StoreError> {
    let mut out: BTreeMap<String, OwnerSummary> = BTreeMap::new();
    let mut stmt = conn.prepare_cached(
        "SELECT owner, SUM(state <> 'retired'), SUM(orphaned = 1 AND state IN ('registered', 'active')) \
         FROM agents WHERE owner IS NOT NULL GROUP BY owner",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)))?;
    for row in rows {
        let (owner, agents, orphaned) = row?;
        let id = owner.parse().map_err(|e: custos_core::CoreError| invariant(e.to_string()))?;
        out.insert(
            owner,
            OwnerSummary { owner: id, agents: agents as u64, offboarded_at: None, orphaned: orphaned as u64 },
        );
    }
    let mut stmt = conn.prepare_cached("SELECT owner, offboarded_at FROM offboarded_owners")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    for row in rows {
        let (owner, at) = row?;
        let at = opt_ts(Some(at))?;
        let id = owner.parse().map_err(|e: custos_core::CoreError| invariant(e.to_string()))?;
        out.entry(owner)
            .or_insert(OwnerSummary { owner: id, agents: 0, offboarded_at: None, orphaned: 0 })
            .offboarded_at = at;
    }
    Ok(out.into_values().collect())
}

pub(crate) fn offboarded_at(conn: &Connection, owner: &OwnerId) -> Result<Option<Timestamp>, StoreError> {
    let at: Option<String> = conn
        .prepare_cached("SELECT offboarded_at FROM offboarded_owners WHERE owner = ?1")?
        .query_row([owner.as_str()], |r| r.get(0))
        .optional()?;
    Ok(opt_ts(at)?)
}

pub(crate) fn record_usage(conn: &Connection, uses: &[(String, Timestamp)]) -> Result<(), StoreError> {
    let tx = conn.unchecked_transaction()?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO credential_usage (id, last_used) VALUES (?1, ?2) \
             ON CONFLICT (id) DO UPDATE SET last_used = MAX(last_used, ?2)",
        )?;
        for (id, ts) in uses {
            stmt.execute(params![id, ts.to_string()])?;
        }
    }
    tx.commit()?;
    Ok(())
}

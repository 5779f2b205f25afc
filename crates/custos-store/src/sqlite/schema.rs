//! Opening a database: pragmas, the custos check, and append-only migrations.
//!
//! Migrations are embedded SQL files, one per change. Each applied migration is recorded with
//! the SHA-256 of its text; if a shipped file no longer matches what was applied, opening fails
//! rather than running a database whose schema nobody can describe.

use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use sha2::{Digest, Sha256};

use crate::StoreError;

/// `(version, name, sql)`, in order. Append here; never edit or reorder.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "ledger", include_str!("../../migrations/sqlite/0001_ledger.sql")),
    (2, "agent_events", include_str!("../../migrations/sqlite/0002_agent_events.sql")),
    (3, "registry", include_str!("../../migrations/sqlite/0003_registry.sql")),
    (4, "protect", include_str!("../../migrations/sqlite/0004_protect.sql")),
    (5, "discovery", include_str!("../../migrations/sqlite/0005_discovery.sql")),
];

fn not_a_ledger(path: &Path, why: impl Into<String>) -> StoreError {
    StoreError::NotALedger { path: path.to_path_buf(), why: why.into() }
}

fn configure(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // The first statement that reads the file tells us whether it is SQLite at all.
    let mode: String =
        conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).map_err(|e| not_a_ledger(path, e.to_string()))?;
    let _ = mode;
    Ok(())
}

/// Opens (creating if asked) the database for writing: WAL, full sync, migrations applied.
pub(crate) fn open_writer(path: &Path, create: bool) -> Result<Connection, StoreError> {
    if !create && !path.exists() {
        return Err(not_a_ledger(path, "the file does not exist"));
    }
    let conn = Connection::open(path)?;
    configure(&conn, path)?;
    conn.pragma_update(None, "journal_mode", "WAL").map_err(|e| not_a_ledger(path, e.to_string()))?;
    // FULL: a commit returns only after the WAL is synced, so an acknowledged append survives
    // a crash or power loss. NORMAL would lose the last commits on power loss.
    conn.pragma_update(None, "synchronous", "FULL")?;
    // Checkpoint the WAL into the main file in larger steps, so fewer commits pay for it.
    conn.pragma_update(None, "wal_autocheckpoint", 8192)?;
    migrate(&conn, path)?;
    Ok(conn)
}

/// Opens an existing database for reading only. Its schema must be current.
pub(crate) fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    if !path.exists() {
        return Err(not_a_ledger(path, "the file does not exist"));
    }
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    configure(&conn, path)?;
    check_schema(&conn, path)?;
    Ok(conn)
}

fn digest(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

fn has_migrations_table(conn: &Connection, path: &Path) -> Result<bool, StoreError> {
    let found: Option<String> = conn
        .query_row("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(|e| not_a_ledger(path, e.to_string()))?;
    Ok(found.is_some())
}

fn applied(conn: &Connection) -> Result<Vec<(i64, String)>, StoreError> {
    let mut stmt = conn.prepare("SELECT version, sha256 FROM schema_migrations ORDER BY version")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn check_applied(path: &Path, applied: &[(i64, String)]) -> Result<(), StoreError> {
    let known = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    for (version, sha) in applied {
        let Some((_, name, sql)) = MIGRATIONS.iter().find(|m| m.0 == *version) else {
            return Err(StoreError::NewerSchema { path: path.to_path_buf(), found: *version, known });
        };
        if digest(sql) != *sha {
            return Err(StoreError::MigrationChanged { version: *version, name: name.to_string() });
        }
    }
    Ok(())
}

fn check_schema(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    if !has_migrations_table(conn, path)? {
        return Err(not_a_ledger(path, "it has no custos schema"));
    }
    let applied = applied(conn)?;
    check_applied(path, &applied)?;
    if applied.len() != MIGRATIONS.len() {
        return Err(not_a_ledger(
            path,
            "its schema is not up to date; open it once with a writer (any `custos ledger` command that appends)",
        ));
    }
    Ok(())
}

fn migrate(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let empty: i64 = conn
        .query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(|e| not_a_ledger(path, e.to_string()))?;
    if !has_migrations_table(conn, path)? {
        if empty != 0 {
            return Err(not_a_ledger(path, "it is an SQLite database with other tables"));
        }
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, sha256 TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT",
        )?;
    }
    let done = applied(conn)?;
    check_applied(path, &done)?;
    for (version, name, sql) in MIGRATIONS {
        if done.iter().any(|(v, _)| v == version) {
            continue;
        }
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, sha256, applied_at) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![version, name, digest(sql), custos_core::Timestamp::now().to_string()],
        )?;
        tx.commit()?;
    }
    Ok(())
}

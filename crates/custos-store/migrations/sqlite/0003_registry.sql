-- Projection `registry`: the agent registry (DESIGN.md §3.1), folded from agent.*, credential.*
-- and owner.offboarded events. `record` is the canonical JSON of the whole agent; the other
-- columns are copies of its fields that lists filter and sort on.

CREATE TABLE agents (
    id          TEXT NOT NULL PRIMARY KEY,
    record      TEXT NOT NULL,
    state       TEXT NOT NULL,
    owner       TEXT,
    environment TEXT NOT NULL,
    orphaned    INTEGER NOT NULL,
    recert_due  TEXT NOT NULL,   -- fixed-width RFC 3339 UTC, so text order is time order
    last_index  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX agents_by_state ON agents (state, id);
CREATE INDEX agents_by_owner ON agents (owner, id);
CREATE INDEX agents_by_environment ON agents (environment, id);
CREATE INDEX agents_by_recert_due ON agents (recert_due);

CREATE TABLE agent_labels (
    label TEXT NOT NULL,
    agent TEXT NOT NULL,
    PRIMARY KEY (label, agent)
) STRICT, WITHOUT ROWID;

CREATE TABLE credentials (
    id             TEXT NOT NULL PRIMARY KEY,
    agent          TEXT NOT NULL,
    sha256         TEXT NOT NULL UNIQUE,
    created_at     TEXT NOT NULL,
    expires_at     TEXT,
    revoked_at     TEXT,
    revoked_reason TEXT,
    issued_index   INTEGER NOT NULL
) STRICT;
CREATE INDEX credentials_by_agent ON credentials (agent, id);

CREATE TABLE offboarded_owners (
    owner         TEXT NOT NULL PRIMARY KEY,
    offboarded_at TEXT NOT NULL,
    idx           INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Not a projection: when each credential last authenticated. Operational data the service
-- flushes every few seconds; it is not evidence, so replay neither reads nor rebuilds it.
CREATE TABLE credential_usage (
    id        TEXT NOT NULL PRIMARY KEY,
    last_used TEXT NOT NULL
) STRICT, WITHOUT ROWID;

-- Projection `protect`: what the gateway must remember across restarts about its protections.
-- Folded from tool.pinned / tool.changed / tool.quarantined / tool.approved,
-- gateway.first_use and approval.requested / approval.decided; rebuilt by replay like every
-- projection.

-- The approved manifest digest of every tool custos has seen, and whether it is callable.
CREATE TABLE tool_pins (
    server         TEXT NOT NULL,
    tool           TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('pinned', 'quarantined', 'removed')),
    digest         TEXT NOT NULL,
    -- The approved manifest (canonical JSON), for the diff when the server changes it.
    manifest       TEXT NOT NULL,
    -- Labels an operator set (JSON array).
    labels         TEXT NOT NULL DEFAULT '[]',
    pending_digest TEXT,
    reason         TEXT,
    idx            INTEGER NOT NULL,
    updated        TEXT NOT NULL,
    PRIMARY KEY (server, tool)
) STRICT, WITHOUT ROWID;

-- The tools each agent has called at least once (its observed baseline).
CREATE TABLE tool_use (
    agent     TEXT NOT NULL,
    server    TEXT NOT NULL,
    tool      TEXT NOT NULL,
    first_idx INTEGER NOT NULL,
    PRIMARY KEY (agent, server, tool)
) STRICT, WITHOUT ROWID;

-- Calls held for a human, and how each ended.
CREATE TABLE approvals (
    id         TEXT PRIMARY KEY,
    agent      TEXT NOT NULL,
    server     TEXT NOT NULL,
    tool       TEXT NOT NULL,
    state      TEXT NOT NULL,
    reason     TEXT,
    requested  TEXT NOT NULL,
    expires    TEXT NOT NULL,
    decided    TEXT,
    decided_by TEXT,
    note       TEXT,
    idx        INTEGER NOT NULL,
    -- The session digest of the held call (its tool joins session_tools once approved).
    session    TEXT
) STRICT;
CREATE INDEX approvals_pending ON approvals (state) WHERE state = 'pending';

-- The tools each MCP session (named by the digest decisions carry) was allowed to call, so the
-- flow policies' `context.session` survives a restart of the gateway as the sealed session does.
CREATE TABLE session_tools (
    session   TEXT NOT NULL,
    server    TEXT NOT NULL,
    tool      TEXT NOT NULL,
    first_idx INTEGER NOT NULL,
    PRIMARY KEY (session, server, tool)
) STRICT, WITHOUT ROWID;

-- Projection `agent_events`: for every entry about an agent, its index and kind, keyed by agent,
-- so an agent's history is one range read without touching the entries. One B-tree (no rowid,
-- no secondary index): the projection is on the append path and must stay cheap.

CREATE TABLE agent_events (
    agent TEXT NOT NULL,
    idx   INTEGER NOT NULL,
    kind  TEXT NOT NULL,
    PRIMARY KEY (agent, idx)
) STRICT, WITHOUT ROWID;

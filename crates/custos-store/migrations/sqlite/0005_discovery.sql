-- Projection `protect`, continued: what each agent did at the gateway, by tool and decision,
-- for discovery's reconciliation (--from-gateway: last seen, tools used, calls beyond scope).
-- Folded from gateway.decision events.

CREATE TABLE gateway_activity (
    agent      TEXT NOT NULL,
    server     TEXT NOT NULL,
    tool       TEXT NOT NULL,
    decision   TEXT NOT NULL,   -- allow | deny | approval | shadow (decided deny, not enforced)
    calls      INTEGER NOT NULL,
    first_ts   TEXT NOT NULL,
    last_ts    TEXT NOT NULL,
    first_idx  INTEGER NOT NULL,
    last_idx   INTEGER NOT NULL,
    PRIMARY KEY (agent, server, tool, decision)
) STRICT, WITHOUT ROWID;

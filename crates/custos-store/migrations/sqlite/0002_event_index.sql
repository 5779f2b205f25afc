-- Projection `event_index`: kind, time and agent of every entry, for lookups by agent and kind.

CREATE TABLE event_index (
    idx   INTEGER PRIMARY KEY,
    kind  TEXT NOT NULL,
    ts    TEXT NOT NULL,
    agent TEXT
) STRICT;

CREATE INDEX event_index_agent ON event_index (agent, idx) WHERE agent IS NOT NULL;
CREATE INDEX event_index_kind ON event_index (kind, idx);

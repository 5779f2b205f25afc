-- Projection `event_index`: kind, time (microseconds since the Unix epoch) and agent of every
-- entry, for lookups by agent, kind and time without reading the entries.

CREATE TABLE event_index (
    idx   INTEGER PRIMARY KEY,
    kind  TEXT NOT NULL,
    ts    INTEGER NOT NULL,
    agent TEXT
) STRICT;

CREATE INDEX event_index_agent ON event_index (agent, idx) WHERE agent IS NOT NULL;
CREATE INDEX event_index_kind ON event_index (kind, idx);

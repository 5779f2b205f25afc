-- The ledger: entries, the stored hashes of the Merkle tree, and signed checkpoints.
-- Append-only: a later change is a new file, never an edit of this one.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- One row per entry: the RFC 8785 canonical JSON of the event, exactly the leaf data.
CREATE TABLE entries (
    idx  INTEGER PRIMARY KEY,
    data BLOB NOT NULL
) STRICT;

-- The Merkle tree hashes each entry's append stored, one row per entry, 32 bytes each: its leaf
-- hash, then the hash of every complete subtree it closed, smallest first (the subtree of 2^k
-- leaves ending at entry `idx` is at offset 32·k). Kept apart from `entries`, so moving an
-- entry row does not move the hashes that pin it to its place.
CREATE TABLE tree_hashes (
    idx    INTEGER PRIMARY KEY,
    hashes BLOB NOT NULL
) STRICT;

-- Signed C2SP checkpoints, at most one per tree size.
CREATE TABLE checkpoints (
    size       INTEGER PRIMARY KEY,
    note       TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;

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

-- Leaf hashes and the hashes of complete subtrees, keyed by their position in append order
-- (custos_ledger::tree::stored_hash_index).
CREATE TABLE tree_hashes (
    id   INTEGER PRIMARY KEY,
    hash BLOB NOT NULL
) STRICT;

-- Signed C2SP checkpoints, at most one per tree size.
CREATE TABLE checkpoints (
    size       INTEGER PRIMARY KEY,
    note       TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;

//! Appends, receipts, checkpoints, proofs, replay, and opens that must be refused.

use std::{sync::Arc, time::Duration};

use custos_ledger::{
    hash::leaf_hash,
    tree::{verify_consistency, verify_inclusion},
};
use custos_store::{
    Store, StoreError, no_progress,
    sqlite::{SqliteOptions, SqliteStore},
};

use crate::support::{create, event, runtime, signer};

#[test]
fn concurrent_appends_get_contiguous_indices_and_valid_proofs() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger.db");
    let rt = runtime();
    rt.block_on(async {
        let store = Arc::new(create(&db, SqliteOptions::default()));
        let mut tasks = Vec::new();
        for w in 0..64u64 {
            let s = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut out = Vec::new();
                for k in 0..20u64 {
                    let ev = event(w * 1000 + k);
                    let bytes = custos_core::Entry::from_event(&ev).unwrap().into_bytes();
                    let r = s.append(ev).await.unwrap();
                    // The receipt proves the entry under the tree head it was committed with.
                    assert_eq!(r.leaf_hash, leaf_hash(&bytes));
                    verify_inclusion(r.index, r.tree_size, &r.leaf_hash, &r.inclusion, &r.root).unwrap();
                    out.push((r.index, bytes));
                }
                out
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all.sort();
        let indices: Vec<u64> = all.iter().map(|(i, _)| *i).collect();
        assert_eq!(indices, (0..1280).collect::<Vec<_>>(), "every append got its own index, none skipped");
        // What the receipts promised is what is stored.
        let stored = store.entries(0, 1280).await.unwrap();
        for ((_, bytes), s) in all.iter().zip(&stored) {
            assert_eq!(bytes, s);
        }
        // A signed checkpoint that covers the last entry arrives within the interval.
        let cp = tokio::time::timeout(Duration::from_secs(5), store.wait_checkpoint(1279)).await.unwrap().unwrap();
        assert!(cp.checkpoint.size >= 1280);
        let file = store.proof_file(700, None).await.unwrap();
        let parsed = custos_ledger::ProofFile::parse(&file.to_text()).unwrap();
        parsed.verify(&leaf_hash(&stored[700]), &signer().verifier()).unwrap();
        store.close().await.unwrap();
        assert!(matches!(store.append(event(1)).await, Err(StoreError::Closed)));
    });
}

#[test]
fn checkpoints_are_consistent_and_replay_is_identical() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger.db");
    let rt = runtime();
    rt.block_on(async {
        let store = create(&db, SqliteOptions { checkpoint_interval: Duration::from_secs(3600), ..Default::default() });
        for n in 0..37 {
            store.append(event(n)).await.unwrap();
        }
        let a = store.checkpoint().await.unwrap();
        // No new entries: the same checkpoint comes back, no second row.
        assert_eq!(store.checkpoint().await.unwrap(), a);
        for n in 37..100 {
            store.append(event(n)).await.unwrap();
        }
        let b = store.checkpoint().await.unwrap();
        assert_eq!((a.checkpoint.size, b.checkpoint.size), (37, 100));
        let proof = store.consistency_proof(37, 100).await.unwrap();
        verify_consistency(37, 100, &a.checkpoint.root, &b.checkpoint.root, &proof).unwrap();
        assert_eq!(store.tree_hash(100).await.unwrap(), b.checkpoint.root);
        assert_eq!(store.checkpoints().await.unwrap().len(), 2);

        // The projection holds exactly the entries about an agent, with their indices and kinds.
        {
            let conn = rusqlite::Connection::open(&db).unwrap();
            let mut stmt = conn.prepare("SELECT agent, idx, kind FROM agent_events ORDER BY idx").unwrap();
            let rows: Vec<(String, i64, String)> =
                stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect();
            let expected: Vec<(String, i64, String)> = (0..100u64)
                .filter_map(|n| {
                    let ev = event(n);
                    ev.agent.map(|a| (a.to_string(), n as i64, ev.kind.as_str().to_string()))
                })
                .collect();
            assert_eq!(rows, expected);
        }
        let live = store.projections_digest().await.unwrap();
        let report = store.replay(no_progress()).await.unwrap();
        assert_eq!(report.entries, 100);
        assert_eq!(report.digest_before, live);
        assert_eq!(report.digest_after, live, "replay rebuilds exactly the live projections");
        let verified = store.verify(&signer().verifier(), no_progress()).await.unwrap();
        assert!(verified.verified(), "{:?}", verified.failures);
        assert_eq!(verified.checkpoints, 2);
        store.close().await.unwrap();
    });
    // Reopening recovers the tree: appends continue at the right index and verify.
    rt.block_on(async {
        let store = SqliteStore::open(&db, signer(), SqliteOptions::default()).unwrap();
        let r = store.append(event(100)).await.unwrap();
        assert_eq!(r.index, 100);
        store.close().await.unwrap();
        let ro = SqliteStore::open_read_only(&db, signer().verifier()).unwrap();
        let report = ro.verify(&signer().verifier(), no_progress()).await.unwrap();
        assert!(report.verified());
        assert_eq!((report.entries, report.latest_checkpoint), (101, Some(101)), "close signs a final checkpoint");
    });
}

#[test]
fn a_second_writer_is_refused_while_readers_work() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger.db");
    let rt = runtime();
    rt.block_on(async {
        let store = create(&db, SqliteOptions::default());
        store.append(event(0)).await.unwrap();
        let second = SqliteStore::open(&db, signer(), SqliteOptions::default());
        match second {
            Err(e @ StoreError::Locked { .. }) => {
                assert!(e.to_string().contains(&format!("pid {}", std::process::id())), "{e}");
            }
            other => panic!("expected Locked, got {other:?}"),
        }
        let reader = SqliteStore::open_read_only(&db, signer().verifier()).unwrap();
        assert_eq!(reader.size().await.unwrap(), 1);
        assert!(matches!(reader.append(event(1)).await, Err(StoreError::ReadOnly)));
        store.close().await.unwrap();
    });
}

#[test]
fn foreign_files_and_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // Not SQLite at all.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"this is not a database, just some bytes that go on for a while.....").unwrap();
    assert!(matches!(SqliteStore::open(&junk, signer(), SqliteOptions::default()), Err(StoreError::NotALedger { .. })));
    assert!(matches!(SqliteStore::open_read_only(&junk, signer().verifier()), Err(StoreError::NotALedger { .. })));
    // SQLite, but someone else's.
    let other = dir.path().join("other.db");
    foreign_sqlite(&other);
    assert!(matches!(
        SqliteStore::open(&other, signer(), SqliteOptions::default()),
        Err(StoreError::NotALedger { .. })
    ));
    // Missing.
    assert!(matches!(
        SqliteStore::open(&dir.path().join("missing.db"), signer(), SqliteOptions::default()),
        Err(StoreError::NotALedger { .. })
    ));
    // A ledger, but opened with another log's key.
    let db = dir.path().join("ledger.db");
    let rt = runtime();
    rt.block_on(async {
        let s = create(&db, SqliteOptions::default());
        s.append(event(0)).await.unwrap();
        s.close().await.unwrap();
    });
    let stranger = custos_ledger::NoteSigner::from_seed("someone.else/log", &[1u8; 32]).unwrap();
    assert!(matches!(
        SqliteStore::open(&db, stranger, SqliteOptions::default()),
        Err(StoreError::OriginMismatch { .. })
    ));
    // Creating over an existing file is refused.
    assert!(SqliteStore::create(&db, signer(), SqliteOptions::default()).is_err());
}

/// An SQLite database with an unrelated table: someone else's file.
fn foreign_sqlite(path: &std::path::Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);").unwrap();
}

/// A staged append says "written" with the index the durable answer confirms, in submit order,
/// and what it wrote is what is stored; after close both steps fail.
#[test]
fn staged_appends_are_written_then_durable_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger.db");
    let rt = runtime();
    rt.block_on(async {
        let store = Arc::new(create(&db, SqliteOptions::default()));
        store.append(event(0)).await.unwrap();
        let events: Vec<_> = (1..=50u64).map(event).collect();
        let bytes: Vec<_> = events.iter().map(|e| custos_core::Entry::from_event(e).unwrap().into_bytes()).collect();
        let staged: Vec<_> = events.into_iter().map(|e| store.submit_staged(e)).collect();
        let mut written = Vec::new();
        let mut durable = Vec::new();
        for s in staged {
            written.push(s.written.await.unwrap());
            durable.push(s.durable);
        }
        assert_eq!(written, (1..=50).collect::<Vec<_>>(), "indices follow submit order");
        for (want, d) in written.iter().zip(durable) {
            assert_eq!(d.await.unwrap(), *want);
        }
        let stored = store.entries(1, 51).await.unwrap();
        assert_eq!(stored, bytes, "what was written is what is stored");
        store.close().await.unwrap();
        let after = store.submit_staged(event(99));
        assert!(matches!(after.written.await, Err(StoreError::Closed)));
        assert!(matches!(after.durable.await, Err(StoreError::Closed)));
    });
    // Reopened, the staged entries are there and the ledger verifies.
    let store = SqliteStore::open(&db, signer(), SqliteOptions::default()).unwrap();
    let rt = runtime();
    rt.block_on(async {
        assert_eq!(store.size().await.unwrap(), 51);
        let report = store.verify(&signer().verifier(), no_progress()).await.unwrap();
        assert!(report.failures.is_empty(), "{report:?}");
        store.close().await.unwrap();
    });
}

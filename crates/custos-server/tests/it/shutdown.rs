//! Graceful shutdown: `serve` returns once the shutdown future resolves, the store is closed
//! with everything durable and signed, and the file reopens with the events in it.

use std::sync::Arc;

use custos_core::{Actor, ActorId, Event, KeyRotated};
use custos_registry::{AuthError, Registry};
use custos_store::{
    RegistryStore, Store, no_progress,
    sqlite::{SqliteOptions, SqliteStore},
};
use serde_json::{Value, json};

use crate::support::{Server, client, note_verifier, signer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_the_ledger_and_the_file_reopens_verified() {
    let s = Server::start().await;
    let created = s.post("/api/v1/agents", &json!({"id": "s/bot", "environment": "prod", "owner": "alice"})).await;
    let index = created.expect(201)["event"]["index"].as_u64().unwrap();
    s.lifecycle("s/bot", "approve").await;
    let (used, used_cred) = s.issue("s/bot", json!({})).await;
    let (revoked, revoked_cred) = s.issue("s/bot", json!({})).await;
    s.post(&format!("/api/v1/agents/s%2Fbot/tokens/{revoked_cred}/revoke"), &json!({})).await.ok();
    // A use the server has not written back yet (it does so every 5 s, and at shutdown).
    s.tokens.verify(&used).unwrap();
    let size = s.ledger_size().await;
    let base = s.base.clone();

    let stopped = s.stop().await;

    // It no longer listens, and the store it used takes no more appends.
    assert!(client().get(format!("{base}/api/v1/ledger")).send().await.is_err(), "still serving after shutdown");
    let late = KeyRotated { verifier_key: "k".into(), previous: None, reason: "after close".into() };
    assert!(stopped.store.append(Event::new(Actor::user(ActorId::admin()), None, &late).unwrap()).await.is_err());

    // Reopened for writing (so the writer lock was released).
    let store = SqliteStore::open(&stopped.db, signer(), SqliteOptions::default()).unwrap();
    assert_eq!(store.size().await.unwrap(), size);
    let entry = store.entries(index, index + 1).await.unwrap().pop().unwrap();
    let event: Value = serde_json::from_slice(&entry).unwrap();
    assert_eq!(event["kind"], "agent.registered");
    assert_eq!(event["agent"], "s/bot");
    let report = store.verify(&note_verifier(), no_progress()).await.unwrap();
    assert!(report.verified(), "{:?}", report.failures);
    assert_eq!(report.stored, size);
    // Closing signed a checkpoint that covers every entry.
    assert_eq!(store.latest_checkpoint().await.unwrap().unwrap().checkpoint.size, size);
    // The projections came through too, with the use written back at shutdown.
    let store: Arc<dyn RegistryStore> = Arc::new(store);
    assert_eq!(store.agent(&"s/bot".parse().unwrap()).await.unwrap().unwrap().state.as_str(), "active");
    let creds = store.credentials(None).await.unwrap();
    let find = |id: &str| creds.iter().find(|(c, _)| c.id == id).unwrap().0.clone();
    assert!(find(&used_cred).last_used_at.is_some(), "the last use was not written back at shutdown");
    assert!(find(&revoked_cred).revoked_at.is_some());
    // A registry over the reopened ledger knows the same tokens.
    let registry = Registry::open(store.clone()).await.unwrap();
    let v = registry.verifier();
    assert_eq!(v.verify(&used).unwrap().credential, used_cred);
    assert_eq!(v.verify(&revoked), Err(AuthError::Unknown));
    store.close().await.unwrap();

    // No token was ever written to disk.
    for file in std::fs::read_dir(stopped.db.parent().unwrap()).unwrap() {
        let bytes = std::fs::read(file.unwrap().path()).unwrap();
        for t in [&used, &revoked] {
            assert!(!bytes.windows(t.len()).any(|w| w == t.as_bytes()), "a token is on disk");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_append_answered_during_shutdown_is_durable() {
    let s = Arc::new(Server::start().await);
    // Registrations racing the shutdown: each is either answered (and then durable) or never
    // accepted; none fails half-way.
    let mut tasks = Vec::new();
    for i in 0..16 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("f/{i}");
            let r = s
                .http
                .post(s.url("/api/v1/agents"))
                .bearer_auth(crate::support::ADMIN_TOKEN)
                .json(&json!({"id": id, "environment": "dev"}))
                .send()
                .await;
            (id, r.map(|r| r.status().as_u16()).ok())
        }));
    }
    tokio::task::yield_now().await;
    s.signal_shutdown();
    let mut answered = Vec::new();
    for t in tasks {
        let (id, status) = t.await.unwrap();
        match status {
            Some(201) => answered.push(id),
            None => {}
            Some(other) => panic!("{id}: {other} during shutdown"),
        }
    }
    let s = Arc::into_inner(s).unwrap();
    let stopped = s.stop().await;
    let store = SqliteStore::open(&stopped.db, signer(), SqliteOptions::default()).unwrap();
    let report = store.verify(&note_verifier(), no_progress()).await.unwrap();
    assert!(report.verified(), "{:?}", report.failures);
    for id in &answered {
        assert!(
            store.agent(&id.parse().unwrap()).await.unwrap().is_some(),
            "{id} was answered 201 but is not in the ledger"
        );
    }
    let size = store.size().await.unwrap();
    assert!(size > answered.len() as u64 && size <= 17, "{size} entries, {} answered", answered.len());
    assert_eq!(store.latest_checkpoint().await.unwrap().unwrap().checkpoint.size, size);
    store.close().await.unwrap();
}

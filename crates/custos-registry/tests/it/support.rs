//! A registry over a fresh SQLite ledger in a temporary directory.

use std::{path::Path, sync::Arc};

use custos_core::{Actor, Entry, Event};
use custos_ledger::NoteSigner;
use custos_registry::{RegisterAgent, Registry};
use custos_store::{
    RegistryStore,
    sqlite::{SqliteOptions, SqliteStore},
};
use tempfile::TempDir;

pub const ORIGIN: &str = "test.custos/registry";

pub fn signer() -> NoteSigner {
    NoteSigner::from_seed(ORIGIN, &[9u8; 32]).unwrap()
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

pub fn open(path: &Path) -> Arc<dyn RegistryStore> {
    Arc::new(SqliteStore::create(path, signer(), SqliteOptions::default()).unwrap())
}

pub struct Fixture {
    pub _tmp: TempDir,
    pub store: Arc<dyn RegistryStore>,
    pub registry: Registry<dyn RegistryStore>,
}

pub async fn fixture() -> Fixture {
    let tmp = TempDir::new().unwrap();
    let store = open(&tmp.path().join("ledger.db"));
    let registry = Registry::open(store.clone()).await.unwrap();
    Fixture { _tmp: tmp, store, registry }
}

pub fn alice() -> Actor {
    Actor::user("alice".parse().unwrap())
}

pub fn register(id: &str, owner: Option<&str>) -> RegisterAgent {
    RegisterAgent {
        id: id.parse().unwrap(),
        name: None,
        owner: owner.map(|o| o.parse().unwrap()),
        sponsor: None,
        purpose: "test agent".into(),
        environment: "prod".parse().unwrap(),
        risk_tier: "high".parse().unwrap(),
        labels: Default::default(),
        recert_interval_days: None,
        provenance: vec![],
        reason: Some("because".into()),
    }
}

/// Every event in the store, parsed.
pub async fn events(store: &dyn RegistryStore) -> Vec<Event> {
    let n = store.size().await.unwrap();
    store.entries(0, n).await.unwrap().iter().map(|b| Entry::parse(b).unwrap()).collect()
}

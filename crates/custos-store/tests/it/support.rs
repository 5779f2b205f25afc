//! Shared helpers: a deterministic signer, events, a seeded PRNG, a multi-thread runtime.

use std::path::Path;

use custos_core::{Actor, Event, EventKind};
use custos_ledger::NoteSigner;
use custos_store::sqlite::{SqliteOptions, SqliteStore};

pub const ORIGIN: &str = "test.custos/ledger";

pub fn signer() -> NoteSigner {
    NoteSigner::from_seed(ORIGIN, &[42u8; 32]).unwrap()
}

pub fn event(n: u64) -> Event {
    let kinds = [EventKind::GatewayDecision, EventKind::PolicyProposed, EventKind::ProbeResult, EventKind::LlmCall];
    let agent = if n.is_multiple_of(3) { None } else { Some(format!("team-{}/bot-{}", n % 7, n % 5).parse().unwrap()) };
    Event::from_parts(
        kinds[(n % 4) as usize],
        Actor::user("tester".parse().unwrap()),
        agent,
        serde_json::json!({ "n": n, "tool": format!("server.tool_{}", n % 11), "pad": "x".repeat((n % 50) as usize) }),
    )
    .unwrap()
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

pub fn create(path: &Path, options: SqliteOptions) -> SqliteStore {
    SqliteStore::create(path, signer(), options).unwrap()
}

/// splitmix64: small, seeded, good enough to pick mutations.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The seed for randomized tests: `CUSTOS_TEST_SEED` or a fixed default, printed so a failure
/// can be replayed.
pub fn seed() -> u64 {
    let s = std::env::var("CUSTOS_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5EED_C057);
    eprintln!("seed: {s} (set CUSTOS_TEST_SEED to replay)");
    s
}

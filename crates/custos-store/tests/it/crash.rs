//! Crash safety: a child process appends in a loop and prints an acknowledgement for every
//! append that returned; it is killed with SIGKILL at a random moment, 20+ times. After each
//! kill every acknowledged entry must be present, intact, and the ledger must verify.
//!
//! The child is this same test binary running the ignored test `crash::child_appender`.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Command, Stdio},
    sync::{Arc, mpsc},
    time::{Duration, Instant},
};

use custos_core::{Entry, Event};
use custos_store::{
    Store, no_progress,
    sqlite::{SqliteOptions, SqliteStore},
};

use crate::support::{Rng, create, runtime, seed, signer};

const ROUNDS: u64 = 24;
const DB_ENV: &str = "CUSTOS_TEST_CRASH_DB";
const ROUND_ENV: &str = "CUSTOS_TEST_CRASH_ROUND";

fn tagged(round: u64, seq: u64) -> Event {
    Event::from_parts(
        custos_core::EventKind::GatewayDecision,
        custos_core::Actor::user("crash-test".parse().unwrap()),
        None,
        serde_json::json!({ "round": round, "seq": seq, "pad": "p".repeat(200) }),
    )
    .unwrap()
}

#[test]
#[ignore = "the child process of crash_safety_under_sigkill; it runs only when that test starts it"]
fn child_appender() {
    let Ok(db) = std::env::var(DB_ENV) else { return };
    let round: u64 = std::env::var(ROUND_ENV).unwrap().parse().unwrap();
    let rt = runtime();
    rt.block_on(async {
        let store = Arc::new(
            SqliteStore::open(
                Path::new(&db),
                signer(),
                SqliteOptions { checkpoint_interval: Duration::from_millis(50), ..Default::default() },
            )
            .unwrap(),
        );
        println!("ready");
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut tasks = Vec::new();
        for w in 0..16u64 {
            let s = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut seq = w;
                while Instant::now() < deadline {
                    let r = s.append(tagged(round, seq)).await.unwrap();
                    // Printed only after append returned: this entry is acknowledged durable.
                    println!("ack {} {round} {seq}", r.index);
                    seq += 16;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

#[test]
fn crash_safety_under_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ledger.db");
    let rt = runtime();
    rt.block_on(async { create(&db, SqliteOptions::default()).close().await.unwrap() });
    let mut rng = Rng(seed());
    let mut acked: Vec<(u64, u64, u64)> = Vec::new();
    let exe = std::env::current_exe().unwrap();
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args(["crash::child_appender", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
            .env(DB_ENV, &db)
            .env(ROUND_ENV, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Wait until the child is appending, then let it run a random while and kill it.
        let mut lines = Vec::new();
        let start = Instant::now();
        loop {
            let line = rx.recv_timeout(Duration::from_secs(30)).expect("the child never started appending");
            let is_ack = line.starts_with("ack ");
            lines.push(line);
            if is_ack {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(30));
        }
        std::thread::sleep(Duration::from_millis(20 + rng.below(400)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        lines.extend(rx.try_iter());
        let before = acked.len();
        for line in lines {
            // A line cut by the kill has fewer fields; it was never a whole acknowledgement.
            let f: Vec<&str> = line.split(' ').collect();
            if f.len() == 4
                && f[0] == "ack"
                && let (Ok(i), Ok(r), Ok(s)) = (f[1].parse(), f[2].parse(), f[3].parse())
            {
                acked.push((i, r, s));
            }
        }
        assert!(acked.len() > before, "round {round}: no acknowledged append before the kill");

        // Every acknowledgement of this round is present and intact, and the ledger verifies.
        rt.block_on(async {
            let store = SqliteStore::open_read_only(&db, signer().verifier()).unwrap();
            check_acked(&store, &acked[before..]).await;
            let report = store.verify(&signer().verifier(), no_progress()).await.unwrap();
            assert!(report.verified(), "round {round}: {:?}", report.failures);
        });
    }
    // And after all the kills, every acknowledgement of every round is still there.
    rt.block_on(async {
        let store = SqliteStore::open_read_only(&db, signer().verifier()).unwrap();
        check_acked(&store, &acked).await;
    });
    eprintln!("{} acknowledged appends over {ROUNDS} kills, all present", acked.len());
    // The writer recovers: a fresh open continues the tree and signs over everything.
    rt.block_on(async {
        let store = SqliteStore::open(&db, signer(), SqliteOptions::default()).unwrap();
        let size = store.size().await.unwrap();
        let r = store.append(tagged(999, 0)).await.unwrap();
        assert_eq!(r.index, size);
        store.close().await.unwrap();
    });
}

async fn check_acked(store: &SqliteStore, acked: &[(u64, u64, u64)]) {
    let size = store.size().await.unwrap();
    let lo = acked.iter().map(|a| a.0).min().unwrap_or(0);
    let entries = store.entries(lo, size).await.unwrap();
    for &(i, r, s) in acked {
        let entry =
            entries.get((i - lo) as usize).unwrap_or_else(|| panic!("acknowledged entry {i} lost (size {size})"));
        let got = Entry::parse(entry).unwrap();
        assert_eq!(got.data, tagged(r, s).data, "entry {i}");
    }
}

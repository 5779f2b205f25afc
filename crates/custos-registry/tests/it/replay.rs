//! Replay = live: after a random sequence of registry operations (legal and refused), the
//! projections rebuilt from the ledger alone are byte-identical to the ones the live appends
//! maintained, both when replayed in place and when the entries are appended to an empty store.

use custos_core::{
    Entry,
    registry::{Environment, LifecycleOp, RiskTier},
};
use custos_registry::{ChangeOwner, IssueToken, Reason, UpdateAgent};
use custos_store::no_progress;
use proptest::prelude::*;

use crate::support::*;

const AGENTS: usize = 60;
const OWNERS: usize = 24;
/// Only these owners ever leave, so most operations keep finding someone accountable.
const LEAVERS: usize = 6;

#[derive(Debug, Clone)]
enum Op {
    Register { agent: usize, owner: Option<usize>, env: usize, label: Option<usize> },
    Update { agent: usize, variant: usize },
    Owner { agent: usize, owner: usize },
    Lifecycle { agent: usize, op: usize },
    Issue { agent: usize },
    Revoke { agent: usize, nth: usize },
    Offboard { owner: usize },
}

fn op() -> impl Strategy<Value = Op> {
    let a = 0..AGENTS;
    prop_oneof![
        3 => (a.clone(), prop::option::of(0..OWNERS), 0..3usize, prop::option::of(0..4usize))
            .prop_map(|(agent, owner, env, label)| Op::Register { agent, owner, env, label }),
        2 => (a.clone(), 0..6usize).prop_map(|(agent, variant)| Op::Update { agent, variant }),
        2 => (a.clone(), 0..OWNERS).prop_map(|(agent, owner)| Op::Owner { agent, owner }),
        5 => (a.clone(), 0..20usize).prop_map(|(agent, op)| Op::Lifecycle { agent, op }),
        2 => a.clone().prop_map(|agent| Op::Issue { agent }),
        1 => (a, 0..3usize).prop_map(|(agent, nth)| Op::Revoke { agent, nth }),
        1 => (0..LEAVERS).prop_map(|owner| Op::Offboard { owner }),
    ]
}

fn agent_id(i: usize) -> custos_core::AgentId {
    format!("team-{}/agent-{i}", i % 4).parse().unwrap()
}

fn owner(i: usize) -> custos_core::registry::OwnerId {
    format!("owner{i}@example.com").parse().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3, ..ProptestConfig::default() })]

    #[test]
    fn replay_equals_live(ops in prop::collection::vec(op(), 2800..3000)) {
        runtime().block_on(run(ops));
    }
}

async fn run(ops: Vec<Op>) {
    let f = fixture().await;
    let r = &f.registry;
    let envs = [Environment::Prod, Environment::Staging, Environment::Dev];
    // Retirement is final, so it is rare: otherwise most agents would be gone early on.
    let lifecycle = |n: usize| match n {
        0..=7 => LifecycleOp::Approve,
        8..=12 => LifecycleOp::Suspend,
        13..=18 => LifecycleOp::Resume,
        _ => LifecycleOp::Retire,
    };
    let (mut applied, mut refused) = (0u64, 0u64);
    for op in &ops {
        let before = f.store.size().await.unwrap();
        let result = match op.clone() {
            Op::Register { agent, owner: o, env, label } => {
                let mut req = register(agent_id(agent).as_str(), None);
                req.owner = o.map(owner);
                req.environment = envs[env];
                req.labels = label.map(|l| format!("l{l}").parse().unwrap()).into_iter().collect();
                r.register(&alice(), req).await.map(drop)
            }
            Op::Update { agent, variant } => {
                let mut u = UpdateAgent::default();
                match variant {
                    0 => u.purpose = Some(format!("purpose {}", ops.len() % 7)),
                    1 => u.risk_tier = Some([RiskTier::Low, RiskTier::Critical][agent % 2]),
                    2 => u.add_labels = [format!("l{}", agent % 4).parse().unwrap()].into(),
                    3 => u.remove_labels = ["l0".parse().unwrap(), "l1".parse().unwrap()].into(),
                    4 => u.recert_interval_days = Some(1 + (agent as u32 % 3) * 30),
                    _ => u.sponsor = Some(owner(agent % OWNERS)),
                }
                r.update(&alice(), &agent_id(agent), u).await.map(drop)
            }
            Op::Owner { agent, owner: o } => r
                .change_owner(&alice(), &agent_id(agent), ChangeOwner { owner: owner(o), reason: None })
                .await
                .map(drop),
            Op::Lifecycle { agent, op } => {
                r.lifecycle(&alice(), &agent_id(agent), lifecycle(op), Reason::default()).await.map(drop)
            }
            Op::Issue { agent } => r.issue_token(&alice(), &agent_id(agent), IssueToken::default()).await.map(drop),
            Op::Revoke { agent, nth } => match r.tokens(&agent_id(agent)).await {
                Ok(tokens) if !tokens.is_empty() => {
                    let cred = tokens[nth % tokens.len()].id.clone();
                    r.revoke_token(&alice(), &agent_id(agent), &cred, Reason::default()).await.map(drop)
                }
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            },
            Op::Offboard { owner: o } => r.offboard(&alice(), &owner(o), Reason::default()).await.map(drop),
        };
        let after = f.store.size().await.unwrap();
        match result {
            Ok(()) => {
                applied += 1;
                assert!(after <= before + 1, "{op:?} appended {} events", after - before);
            }
            Err(e) => {
                refused += 1;
                assert_eq!(after, before, "refused {op:?} ({e}) but appended");
            }
        }
    }
    eprintln!("replay_equals_live: {} ops, {applied} applied, {refused} refused", ops.len());
    // The sequence exercised both sides of the rules.
    assert!(applied >= 700 && refused > 50, "applied {applied}, refused {refused}");

    let live = f.store.projections_digest().await.unwrap();

    // 1. Into an empty store: the entries alone rebuild the same projections.
    let tmp = tempfile::TempDir::new().unwrap();
    let fresh = open(&tmp.path().join("replayed.db"));
    let n = f.store.size().await.unwrap();
    let pending: Vec<_> =
        f.store.entries(0, n).await.unwrap().iter().map(|b| fresh.submit(Entry::parse(b).unwrap())).collect();
    for p in pending {
        p.await.unwrap();
    }
    assert_eq!(fresh.size().await.unwrap(), n);
    assert_eq!(fresh.projections_digest().await.unwrap(), live, "replayed into an empty store");
    assert_eq!(fresh.tree_hash(n).await.unwrap(), f.store.tree_hash(n).await.unwrap());
    fresh.close().await.unwrap();

    // 2. In place: `custos ledger replay` empties and refills the projections.
    let report = f.store.replay(no_progress()).await.unwrap();
    assert_eq!(report.digest_before, live);
    assert_eq!(report.digest_after, live, "replayed in place");
}

//! Inclusion and consistency proofs: equal to RFC 6962's `PATH` and `PROOF`, accepted by the
//! RFC 9162 verifiers, and rejected after any single-bit corruption of the proof, the leaf or
//! the roots, and after any change of index, size or proof length that alters what they prove.

use custos_ledger::{
    Hash, LedgerError,
    hash::leaf_hash,
    tree::{consistency_proof, inclusion_proof, tree_hash, verify_consistency, verify_inclusion},
};

use crate::support::{SplitMix64, Store, big, entries, flip, mth, path, path_shape, proof};

const N: u64 = 64;

/// Roots of every tree size `0..=N` of the shared small log.
fn fixture() -> (Store, Vec<Vec<u8>>, Vec<Hash>) {
    let e = entries(N);
    let store = Store::of(&e);
    let roots = (0..=N).map(|n| tree_hash(&store.at(n), n).unwrap()).collect();
    (store, e, roots)
}

#[test]
fn inclusion_proofs_are_rfc_6962_paths() {
    let (store, e, _) = fixture();
    for n in 1..=N {
        for m in 0..n {
            let got = inclusion_proof(&store.at(n), m, n).unwrap();
            assert_eq!(got, path(m as usize, &e[..n as usize]), "PATH({m}, D[{n}])");
            assert_eq!(got.len(), path_shape(m, n).len());
        }
        assert_eq!(inclusion_proof(&store.at(n), n, n), Err(LedgerError::IndexOutOfRange { index: n, size: n }));
    }
    assert!(inclusion_proof(&store.at(0), 0, 0).is_err());
}

#[test]
fn consistency_proofs_are_rfc_6962_proofs() {
    let (store, e, _) = fixture();
    for n in 0..=N {
        for m in 0..=n {
            let got = consistency_proof(&store.at(n), m, n).unwrap();
            if m == 0 || m == n {
                assert!(got.is_empty(), "PROOF({m}, D[{n}]) should be empty");
            } else {
                assert_eq!(got, proof(m as usize, &e[..n as usize]), "PROOF({m}, D[{n}])");
            }
        }
        assert_eq!(consistency_proof(&store.at(n), n + 1, n), Err(LedgerError::SizesOutOfOrder { old: n + 1, new: n }));
    }
}

/// Runs `f` for every tree size in `sizes`, spread over the available cores: the corruption
/// tests run a few million verifications, and the crate is built without optimisation in tests.
fn for_each_size(sizes: std::ops::RangeInclusive<u64>, f: impl Fn(u64) + Sync) {
    let threads = std::thread::available_parallelism().map_or(1, usize::from) as u64;
    let sizes: Vec<u64> = sizes.collect();
    std::thread::scope(|s| {
        for t in 0..threads {
            let (sizes, f) = (&sizes, &f);
            s.spawn(move || sizes.iter().skip(t as usize).step_by(threads as usize).for_each(|&n| f(n)));
        }
    });
}

#[derive(Debug, Clone, Copy)]
enum Corruption {
    Bit { hash: usize, bit: usize },
    DropLast,
    DropFirst,
    SwapFirstTwo,
    Append,
    Prepend,
}

impl std::fmt::Display for Corruption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bit { hash, bit } => write!(f, "bit {bit} of hash {hash} flipped"),
            Self::DropLast => f.write_str("last hash dropped"),
            Self::DropFirst => f.write_str("first hash dropped"),
            Self::SwapFirstTwo => f.write_str("first two hashes swapped"),
            Self::Append => f.write_str("a hash appended"),
            Self::Prepend => f.write_str("a hash prepended"),
        }
    }
}

/// The ways to alter a list of proof hashes by one bit or one element.
fn corruptions(proof: &[Hash], extra: Hash) -> Vec<(Corruption, Vec<Hash>)> {
    let mut out = Vec::new();
    for i in 0..proof.len() {
        for bit in 0..256 {
            let mut p = proof.to_vec();
            p[i] = flip(&p[i], bit);
            out.push((Corruption::Bit { hash: i, bit }, p));
        }
    }
    if !proof.is_empty() {
        out.push((Corruption::DropLast, proof[..proof.len() - 1].to_vec()));
        out.push((Corruption::DropFirst, proof[1..].to_vec()));
        if proof.len() > 1 {
            let mut p = proof.to_vec();
            p.swap(0, 1);
            out.push((Corruption::SwapFirstTwo, p));
        }
    }
    let mut p = proof.to_vec();
    p.push(extra);
    out.push((Corruption::Append, p));
    let mut p = vec![extra];
    p.extend_from_slice(proof);
    out.push((Corruption::Prepend, p));
    out
}

#[test]
fn every_inclusion_proof_verifies_and_every_corruption_fails() {
    let (store, e, roots) = fixture();
    let checked = std::sync::atomic::AtomicUsize::new(0);
    for_each_size(1..=N, |n| {
        let mut count = 0usize;
        let root = roots[n as usize];
        for m in 0..n {
            let leaf = leaf_hash(&e[m as usize]);
            let p = inclusion_proof(&store.at(n), m, n).unwrap();
            verify_inclusion(m, n, &leaf, &p, &root).unwrap_or_else(|err| panic!("({m}, {n}): {err}"));

            for (what, bad) in corruptions(&p, root) {
                assert!(verify_inclusion(m, n, &leaf, &bad, &root).is_err(), "({m}, {n}): {what} verified");
                count += 1;
            }
            for bit in 0..256 {
                assert!(verify_inclusion(m, n, &flip(&leaf, bit), &p, &root).is_err(), "({m}, {n}) leaf bit {bit}");
                assert!(verify_inclusion(m, n, &leaf, &p, &flip(&root, bit)).is_err(), "({m}, {n}) root bit {bit}");
                count += 2;
            }
            // Another leaf's hash, and the right leaf at a neighbouring index.
            let other = leaf_hash(&e[((m + 1) % n) as usize]);
            assert_eq!(n == 1, verify_inclusion(m, n, &other, &p, &root).is_ok());
            for wrong in [m.wrapping_sub(1), m + 1] {
                if wrong < n {
                    assert!(verify_inclusion(wrong, n, &leaf, &p, &root).is_err(), "({m}, {n}) as index {wrong}");
                }
            }
            assert!(matches!(verify_inclusion(n, n, &leaf, &p, &root), Err(LedgerError::IndexOutOfRange { .. })));
            // Another tree size. The algorithm reads the size only through the shape of the path
            // (which side each sibling is on, and how many there are): a size with the same shape
            // is accepted by design (e.g. index 0 of sizes 3 and 4), and the root, which the
            // checkpoint signs together with its size, is what binds the size. So a wrong size
            // must be rejected exactly when it changes the shape.
            let shape = path_shape(m, n);
            for size in 0..=N + 1 {
                if size == n {
                    continue;
                }
                let r = verify_inclusion(m, size, &leaf, &p, &root);
                if m >= size {
                    assert!(matches!(r, Err(LedgerError::IndexOutOfRange { .. })), "({m}, {n}) as size {size}");
                } else {
                    let same_shape = path_shape(m, size) == shape;
                    assert_eq!(r.is_ok(), same_shape, "({m}, {n}) as size {size}: {r:?}");
                }
                count += 1;
            }
        }
        checked.fetch_add(count, std::sync::atomic::Ordering::Relaxed);
    });
    let checked = checked.into_inner();
    assert!(checked > 4_000_000, "{checked}");
}

#[test]
fn every_consistency_proof_verifies_and_every_corruption_fails() {
    let (store, _, roots) = fixture();
    for_each_size(0..=N, |n| {
        let new_root = roots[n as usize];
        for m in 0..=n {
            let old_root = roots[m as usize];
            let p = consistency_proof(&store.at(n), m, n).unwrap();
            verify_consistency(m, n, &old_root, &new_root, &p).unwrap_or_else(|err| panic!("({m}, {n}): {err}"));

            for (what, bad) in corruptions(&p, new_root) {
                assert!(verify_consistency(m, n, &old_root, &new_root, &bad).is_err(), "({m}, {n}): {what} verified");
            }
            if m == 0 {
                // Every tree extends the empty one, whatever root is claimed for it.
                continue;
            }
            for bit in 0..256 {
                let (o, r) = (flip(&old_root, bit), flip(&new_root, bit));
                assert!(verify_consistency(m, n, &o, &new_root, &p).is_err(), "({m}, {n}) old root bit {bit}");
                assert!(verify_consistency(m, n, &old_root, &r, &p).is_err(), "({m}, {n}) new root bit {bit}");
            }
            if m < n {
                assert!(verify_consistency(m, n, &new_root, &old_root, &p).is_err(), "({m}, {n}) roots swapped");
                assert!(matches!(
                    verify_consistency(n, m, &old_root, &new_root, &p),
                    Err(LedgerError::SizesOutOfOrder { .. })
                ));
                // The root of a neighbouring old size.
                let other = roots[(m - 1) as usize];
                assert!(verify_consistency(m, n, &other, &new_root, &p).is_err(), "({m}, {n}) root of {}", m - 1);
            }
        }
    });
}

/// Proofs drawn at random from the 100,000-entry log, checked against the reference `MTH`.
#[test]
fn random_proofs_in_a_large_log_verify() {
    let (store, e) = big();
    let mut rng = SplitMix64::new(0x9162);
    for _ in 0..20 {
        let n = 1 + rng.below(100_000);
        let root = mth(&e[..n as usize]);
        for _ in 0..20 {
            let m = rng.below(n);
            let p = inclusion_proof(&store.at(n), m, n).unwrap();
            assert!(p.len() <= 17);
            verify_inclusion(m, n, &leaf_hash(&e[m as usize]), &p, &root).unwrap();
            assert!(verify_inclusion(m, n, &leaf_hash(b"not in the log"), &p, &root).is_err());

            let old = 1 + rng.below(n);
            let c = consistency_proof(&store.at(n), old, n).unwrap();
            let old_root = tree_hash(&store.at(old), old).unwrap();
            verify_consistency(old, n, &old_root, &root, &c).unwrap();
        }
    }
}

/// Every subset pattern of a few sizes: the multiproof recovers each leaf's RFC 6962 path,
/// verifies, reads only what `multiproof_reads` announced, and fails when a node, a leaf or
/// the set of leaves is changed.
#[test]
fn multiproofs_recover_every_audit_path_and_reject_changes() {
    use custos_ledger::tree::{multiproof, multiproof_paths, multiproof_reads, verify_multiproof};
    let (store, e, roots) = fixture();
    let mut rng = SplitMix64::new(7);
    for n in 1..=N {
        let root = roots[n as usize];
        for trial in 0..24u64 {
            // Dense, sparse, single, and everything.
            let chosen: Vec<u64> = match trial {
                0 => (0..n).collect(),
                1 => vec![n - 1],
                2 => vec![0],
                _ => (0..n).filter(|_| rng.next_u64().is_multiple_of(1 + trial % 5)).collect(),
            };
            if chosen.is_empty() {
                continue;
            }
            let nodes = multiproof(&store.at(n), &chosen, n).unwrap();
            assert!(multiproof_reads(&chosen, n).unwrap().len() >= nodes.len());
            let leaves: Vec<(u64, Hash)> = chosen.iter().map(|&i| (i, leaf_hash(&e[i as usize]))).collect();
            verify_multiproof(n, &leaves, &nodes, &root).unwrap();
            let (got_root, paths) = multiproof_paths(n, &leaves, &nodes).unwrap();
            assert_eq!(got_root, root);
            for ((i, leaf), p) in leaves.iter().zip(&paths) {
                assert_eq!(p, &path(*i as usize, &e[..n as usize]), "PATH({i}, D[{n}]) from the multiproof");
                verify_inclusion(*i, n, leaf, p, &root).unwrap();
            }
            // Changes are caught.
            for k in 0..nodes.len() {
                let mut bad = nodes.clone();
                bad[k] = flip(&bad[k], (rng.next_u64() % 256) as usize);
                assert!(verify_multiproof(n, &leaves, &bad, &root).is_err(), "node {k} of n={n}");
            }
            let mut bad = leaves.clone();
            let at = (rng.next_u64() % bad.len() as u64) as usize;
            bad[at].1 = flip(&bad[at].1, 3);
            assert!(verify_multiproof(n, &bad, &nodes, &root).is_err());
            if leaves.len() > 1 {
                // A leaf dropped from the set no longer fits the proof's shape.
                let fewer = [&leaves[..at], &leaves[at + 1..]].concat();
                assert!(verify_multiproof(n, &fewer, &nodes, &root).is_err());
            }
            let mut longer = nodes.clone();
            longer.push(root);
            assert!(verify_multiproof(n, &leaves, &longer, &root).is_err());
            if !nodes.is_empty() {
                assert!(verify_multiproof(n, &leaves, &nodes[1..], &root).is_err());
            }
        }
    }
    // Unsorted, repeated, or out-of-range leaves are refused before any hashing.
    let l = |i| (i, leaf_hash(&e[i as usize]));
    assert!(verify_multiproof(8, &[l(3), l(2)], &[], &roots[8]).is_err());
    assert!(verify_multiproof(8, &[l(2), l(2)], &[], &roots[8]).is_err());
    assert!(verify_multiproof(8, &[l(9)], &[], &roots[8]).is_err());
    assert!(verify_multiproof(8, &[], &[roots[8]], &roots[8]).is_err());
}

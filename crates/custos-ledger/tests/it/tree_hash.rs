//! Tree hashes: `tree_hash`, `subtree_hash` and `Frontier::root` against the RFC 6962 `MTH`
//! transcribed in `support`, and against the Certificate Transparency reference vectors.

use custos_ledger::{
    Hash, LedgerError,
    hash::{empty_root, leaf_hash, node_hash},
    tree::{
        Frontier, HashReader, consistency_proof, inclusion_proof, stored_hash_count, stored_hash_index,
        stored_hash_position, subtree_hash, tree_hash,
    },
};

use crate::support::{SplitMix64, Store, big, entries, mth, ref_leaf, ref_node};

fn hexes(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(Hash::to_hex).collect()
}

/// The leaves and roots of the RFC 6962 reference tree used by certificate-transparency and
/// transparency-dev/merkle (`testonly/constants.go`). They pin the hashing to what every other
/// RFC 6962 implementation computes, which the transcribed reference alone cannot do.
#[test]
fn certificate_transparency_reference_tree() {
    let leaves: Vec<Vec<u8>> =
        ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
            .iter()
            .map(|h| hex::decode(h).unwrap())
            .collect();
    let roots = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    assert_eq!(empty_root().to_hex(), roots[0]);
    let mut store = Store::new();
    for (n, want) in roots.iter().enumerate() {
        if n > 0 {
            store.push(&leaves[n - 1]);
        }
        let n64 = n as u64;
        assert_eq!(tree_hash(&store.at(n64), n64).unwrap().to_hex(), *want, "tree_hash, size {n}");
        assert_eq!(store.frontier().root().to_hex(), *want, "Frontier::root, size {n}");
        assert_eq!(mth(&leaves[..n]).to_hex(), *want, "reference MTH, size {n}");
    }
    let r = store.at(8);
    assert_eq!(
        hexes(&inclusion_proof(&r, 0, 8).unwrap()),
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ]
    );
    assert_eq!(
        hexes(&inclusion_proof(&r, 5, 8).unwrap()),
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ]
    );
    assert_eq!(
        hexes(&consistency_proof(&r, 2, 8).unwrap()),
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ]
    );
    assert_eq!(
        hexes(&consistency_proof(&r, 6, 8).unwrap()),
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ]
    );
    assert_eq!(
        hexes(&consistency_proof(&store.at(5), 2, 5).unwrap()),
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ]
    );
}

#[test]
fn library_hashes_match_the_transcribed_prefixes() {
    for e in entries(200) {
        assert_eq!(leaf_hash(&e), ref_leaf(&e));
    }
    let (a, b) = (ref_leaf(b"a"), ref_leaf(b"b"));
    assert_eq!(node_hash(&a, &b), ref_node(&a, &b));
    assert_ne!(node_hash(&a, &b), node_hash(&b, &a));
}

/// Every size from the empty tree to 300: `tree_hash` over the stored hashes, the frontier's
/// root, and a frontier rebuilt from the store all equal the reference `MTH`.
#[test]
fn tree_hash_matches_mth_for_every_size_to_300() {
    let e = entries(300);
    let mut store = Store::new();
    for n in 0..=300usize {
        if n > 0 {
            store.push(&e[n - 1]);
        }
        let n64 = n as u64;
        let want = mth(&e[..n]);
        assert_eq!(tree_hash(&store.at(n64), n64).unwrap(), want, "tree_hash, size {n}");
        assert_eq!(store.frontier().root(), want, "Frontier::root, size {n}");
        let rebuilt = Frontier::from_reader(&store.at(n64), n64).unwrap();
        assert_eq!(&rebuilt, store.frontier(), "Frontier::from_reader, size {n}");
        assert_eq!(rebuilt.root(), want);
    }
}

/// Thirty sizes drawn at random up to 100,000, plus the edges around powers of two.
#[test]
fn tree_hash_matches_mth_for_random_sizes_to_100k() {
    let (store, e) = big();
    let mut rng = SplitMix64::new(0x6962_2026);
    let mut sizes: Vec<u64> = (0..30).map(|_| 1 + rng.below(100_000)).collect();
    sizes.extend([65_535, 65_536, 65_537, 99_999, 100_000]);
    for n in sizes {
        let want = mth(&e[..n as usize]);
        assert_eq!(tree_hash(&store.at(n), n).unwrap(), want, "tree_hash, size {n}");
        let frontier = Frontier::from_reader(&store.at(n), n).unwrap();
        assert_eq!(frontier.root(), want, "Frontier root, size {n}");
    }
    assert_eq!(store.frontier().root(), mth(e));
}

/// The frontier grown one push at a time has the root of `MTH` at each of the random sizes too
/// (the test above rebuilds it from stored hashes instead).
#[test]
fn pushed_frontier_root_matches_mth_at_random_sizes() {
    let e = entries(20_000);
    let mut rng = SplitMix64::new(7);
    let mut sizes: Vec<usize> = (0..10).map(|_| 1 + rng.below(20_000) as usize).collect();
    sizes.sort_unstable();
    let mut store = Store::new();
    for n in sizes {
        while (store.size() as usize) < n {
            store.push(&e[store.size() as usize]);
        }
        assert_eq!(store.frontier().root(), mth(&e[..n]), "size {n}");
    }
}

/// `subtree_hash(lo, hi)` is `MTH(D[lo:hi])` for every non-empty range, aligned or not, read
/// from a store of exactly `hi` entries.
#[test]
fn subtree_hash_is_mth_of_every_range() {
    let e = entries(64);
    let store = Store::of(&e);
    for hi in 1..=64u64 {
        for lo in 0..hi {
            let got = subtree_hash(&store.at(hi), lo, hi).unwrap();
            assert_eq!(got, mth(&e[lo as usize..hi as usize]), "[{lo}, {hi})");
        }
    }
}

/// A reader that lacks a hash makes `tree_hash` fail with its error instead of inventing one.
#[test]
fn missing_hashes_are_errors() {
    let store = Store::of(&entries(10));
    assert!(matches!(tree_hash(&store.at(9), 10), Err(LedgerError::MissingHash { .. })));
    assert!(matches!(inclusion_proof(&store.at(9), 3, 10), Err(LedgerError::MissingHash { .. })));
    assert!(matches!(consistency_proof(&store.at(9), 3, 10), Err(LedgerError::MissingHash { .. })));
    assert!(matches!(Frontier::from_reader(&store.at(9), 10), Err(LedgerError::MissingHash { .. })));
}

/// The positions `Frontier::push` reports are the ones `stored_hash_index` gives each complete
/// subtree, and `stored_hash_position` inverts them.
#[test]
fn pushed_positions_are_stored_hash_indices() {
    let e = entries(300);
    let mut frontier = Frontier::new();
    let mut seen = Vec::new();
    for (m, entry) in e.iter().enumerate() {
        let mut out = Vec::new();
        frontier.push(leaf_hash(entry), &mut out);
        for (level, &(pos, _)) in out.iter().enumerate() {
            let level = level as u8;
            let index = ((m as u64) + 1) / (1u64 << level) - 1;
            assert_eq!(pos, stored_hash_index(level, index), "entry {m} level {level}");
            let back = stored_hash_position(pos);
            assert_eq!((back.level, back.index, back.entry), (level, index, m as u64));
        }
        seen.extend(out);
    }
    assert_eq!(seen.len() as u64, stored_hash_count(300));
    for (i, (pos, _)) in seen.iter().enumerate() {
        assert_eq!(*pos, i as u64);
    }
    // A complete subtree's stored hash is its MTH.
    for (pos, h) in seen {
        let p = stored_hash_position(pos);
        let lo = (p.index << p.level) as usize;
        assert_eq!(h, mth(&e[lo..lo + (1usize << p.level)]), "{p:?}");
    }
}

/// The frontier's nodes are the maximal complete subtrees, largest first, each with its MTH.
#[test]
fn frontier_nodes_are_the_right_edge() {
    let e = entries(100);
    let store = Store::of(&e);
    for n in 0..=100u64 {
        let f = Frontier::from_reader(&store.at(n), n).unwrap();
        assert_eq!(f.size(), n);
        let mut lo = 0u64;
        for (level, index, h) in f.nodes() {
            assert_eq!(index << level, lo);
            let hi = lo + (1u64 << level);
            assert_eq!(h, mth(&e[lo as usize..hi as usize]));
            lo = hi;
        }
        assert_eq!(lo, n);
        assert_eq!(f.nodes().count() as u32, n.count_ones());
    }
}

#[test]
fn tree_hash_reads_only_what_it_needs() {
    struct Counting<'a>(crate::support::AtSize<'a>, std::cell::Cell<usize>);
    impl HashReader for Counting<'_> {
        fn hash(&self, level: u8, index: u64) -> Result<Hash, LedgerError> {
            self.1.set(self.1.get() + 1);
            self.0.hash(level, index)
        }
    }
    let (store, _) = big();
    for n in [1u64, 2, 3, 1000, 65_536, 99_999, 100_000] {
        let c = Counting(store.at(n), std::cell::Cell::new(0));
        tree_hash(&c, n).unwrap();
        // One read per maximal complete subtree: O(log n), as the module promises.
        assert_eq!(c.1.get() as u32, n.count_ones(), "size {n}");
    }
}

//! Merkle tree hashes and proofs (RFC 6962 §2.1, RFC 9162 §2.1).
//!
//! A ledger stores one hash for every leaf and for every *complete* subtree (a subtree of
//! `2^level` leaves starting at a multiple of `2^level`), in the order an append completes them:
//! the leaf hash of entry `m`, then the hashes of the subtrees that entry closes. That order gives
//! each stored hash a position ([`stored_hash_index`]); an append writes about two hashes.
//! Every tree hash, inclusion proof and consistency proof is built from those stored hashes
//! through a [`HashReader`], so a store answers a proof with O(log n) reads.

use crate::{
    LedgerError,
    hash::{Hash, empty_root, node_hash},
};

/// Reads stored hashes of complete subtrees.
pub trait HashReader {
    /// The hash of the complete subtree at `level` with index `index` (it covers leaves
    /// `index·2^level .. (index+1)·2^level`).
    fn hash(&self, level: u8, index: u64) -> Result<Hash, LedgerError>;
}

/// The position of a leaf's hash among the stored hashes.
fn leaf_position(leaf: u64) -> u64 {
    2 * leaf - u64::from(leaf.count_ones())
}

/// The position of the complete subtree (`level`, `index`) among the stored hashes: right after
/// the hash of its last leaf, `level` places on.
pub fn stored_hash_index(level: u8, index: u64) -> u64 {
    let last_leaf = ((index + 1) << level) - 1;
    leaf_position(last_leaf) + u64::from(level)
}

/// How many hashes a tree of `size` leaves stores.
pub fn stored_hash_count(size: u64) -> u64 {
    leaf_position(size)
}

/// Where a stored hash belongs: its subtree, and the entry whose append wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredHashPosition {
    pub level: u8,
    pub index: u64,
    /// The entry whose append completed this subtree (its last leaf).
    pub entry: u64,
}

/// The inverse of [`stored_hash_index`].
pub fn stored_hash_position(position: u64) -> StoredHashPosition {
    // The entry is the largest m with leaf_position(m) <= position; leaf_position is
    // increasing, so a binary search over [0, position] finds it.
    let (mut lo, mut hi) = (0u64, position);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if leaf_position(mid) <= position {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let entry = lo;
    let level = (position - leaf_position(entry)) as u8;
    StoredHashPosition { level, index: ((entry + 1) >> level) - 1, entry }
}

/// The largest power of two strictly smaller than `n` (for `n >= 2`).
fn split_point(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// `MTH(D[lo:hi])` for a range that is a node of the RFC 6962 tree shape.
pub fn subtree_hash(r: &dyn HashReader, lo: u64, hi: u64) -> Result<Hash, LedgerError> {
    if hi <= lo {
        return Err(LedgerError::IndexOutOfRange { index: lo, size: hi });
    }
    let n = hi - lo;
    if n.is_power_of_two() && lo.is_multiple_of(n) {
        return r.hash(n.trailing_zeros() as u8, lo >> n.trailing_zeros());
    }
    let k = split_point(n);
    let left = subtree_hash(r, lo, lo + k)?;
    let right = subtree_hash(r, lo + k, hi)?;
    Ok(node_hash(&left, &right))
}

/// The root of the tree of the first `size` entries.
pub fn tree_hash(r: &dyn HashReader, size: u64) -> Result<Hash, LedgerError> {
    if size == 0 {
        return Ok(empty_root());
    }
    subtree_hash(r, 0, size)
}

/// The RFC 6962 audit path of entry `index` in the tree of `size` entries, leaf sibling first.
pub fn inclusion_proof(r: &dyn HashReader, index: u64, size: u64) -> Result<Vec<Hash>, LedgerError> {
    if index >= size {
        return Err(LedgerError::IndexOutOfRange { index, size });
    }
    let mut proof = Vec::new();
    let (mut lo, mut hi) = (0u64, size);
    while hi - lo > 1 {
        let k = split_point(hi - lo);
        if index < lo + k {
            proof.push(subtree_hash(r, lo + k, hi)?);
            hi = lo + k;
        } else {
            proof.push(subtree_hash(r, lo, lo + k)?);
            lo += k;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// The RFC 6962 consistency proof `PROOF(old, D[new])`. Empty when `old` is 0 or `old == new`.
pub fn consistency_proof(r: &dyn HashReader, old: u64, new: u64) -> Result<Vec<Hash>, LedgerError> {
    if old > new {
        return Err(LedgerError::SizesOutOfOrder { old, new });
    }
    let mut proof = Vec::new();
    if old == 0 || old == new {
        return Ok(proof);
    }
    // SUBPROOF(m, D[lo:hi], b), unrolled: each step descends into one child and records the
    // other, so the list comes out top-down and is reversed at the end.
    let (mut lo, mut hi, mut whole) = (0u64, new, true);
    loop {
        let size = hi - lo;
        let m = old - lo;
        if m == size {
            if !whole {
                proof.push(subtree_hash(r, lo, hi)?);
            }
            break;
        }
        let k = split_point(size);
        if m <= k {
            proof.push(subtree_hash(r, lo + k, hi)?);
            hi = lo + k;
        } else {
            proof.push(subtree_hash(r, lo, lo + k)?);
            lo += k;
            whole = false;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// Verifies an inclusion proof as RFC 9162 §2.1.3.2 specifies.
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> Result<(), LedgerError> {
    if index >= size {
        return Err(LedgerError::IndexOutOfRange { index, size });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(LedgerError::BadInclusionProof("the proof is too long"));
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(LedgerError::BadInclusionProof("the proof is too short"));
    }
    if r != *root {
        return Err(LedgerError::BadInclusionProof("the computed root differs"));
    }
    Ok(())
}

// Multi-leaf inclusion proofs. An export proves thousands to millions of leaves against one
// tree; one RFC 6962 audit path per leaf repeats the upper nodes k times and costs k·log n
// hashes to check. A multiproof carries each node once: the hashes of the maximal subtrees that
// hold none of the proven leaves, in the order a left-to-right walk of the tree meets them.
// Every leaf's RFC 6962 audit path is recovered from it ([`multiproof_paths`]), so a verifier
// that only knows single proofs (Go's `tlog.CheckRecord`) checks the same thing.

fn check_leaf_order(indices: impl Iterator<Item = u64>, size: u64) -> Result<(), LedgerError> {
    let mut last: Option<u64> = None;
    for i in indices {
        if i >= size {
            return Err(LedgerError::IndexOutOfRange { index: i, size });
        }
        if last.is_some_and(|l| i <= l) {
            return Err(LedgerError::BadInclusionProof("the proven leaves are not in ascending order"));
        }
        last = Some(i);
    }
    Ok(())
}

/// Calls `f(lo, hi)` for every maximal range `[lo, hi)` of the tree of `size` that holds none
/// of `indices` (ascending), left to right: the nodes a multiproof carries.
fn walk_gaps(
    lo: u64,
    hi: u64,
    indices: &[u64],
    f: &mut dyn FnMut(u64, u64) -> Result<(), LedgerError>,
) -> Result<(), LedgerError> {
    if indices.is_empty() {
        return f(lo, hi);
    }
    if hi - lo == 1 {
        return Ok(());
    }
    let mid = lo + split_point(hi - lo);
    let at = indices.partition_point(|&i| i < mid);
    let (left, right) = indices.split_at(at);
    walk_gaps(lo, mid, left, f)?;
    walk_gaps(mid, hi, right, f)
}

/// The complete subtrees `(level, index)` whose stored hashes [`multiproof`] reads for these
/// leaves, in the order it reads them (non-decreasing by last leaf), so a store can fetch them
/// in one pass before building the proof.
pub fn multiproof_reads(indices: &[u64], size: u64) -> Result<Vec<(u8, u64)>, LedgerError> {
    check_leaf_order(indices.iter().copied(), size)?;
    fn complete(lo: u64, hi: u64, out: &mut Vec<(u8, u64)>) {
        let n = hi - lo;
        if n.is_power_of_two() && lo.is_multiple_of(n) {
            out.push((n.trailing_zeros() as u8, lo >> n.trailing_zeros()));
            return;
        }
        let k = split_point(n);
        complete(lo, lo + k, out);
        complete(lo + k, hi, out);
    }
    let mut out = Vec::new();
    if size > 0 {
        walk_gaps(0, size, indices, &mut |lo, hi| {
            complete(lo, hi, &mut out);
            Ok(())
        })?;
    }
    Ok(out)
}

/// The multiproof of the leaves at `indices` (strictly ascending) in the tree of `size`.
pub fn multiproof(r: &dyn HashReader, indices: &[u64], size: u64) -> Result<Vec<Hash>, LedgerError> {
    check_leaf_order(indices.iter().copied(), size)?;
    let mut out = Vec::new();
    if size > 0 {
        walk_gaps(0, size, indices, &mut |lo, hi| {
            out.push(subtree_hash(r, lo, hi)?);
            Ok(())
        })?;
    }
    Ok(out)
}

/// Recomputes the root from proven leaves `(index, leaf hash)` (strictly ascending) and a
/// multiproof, and returns each leaf's RFC 6962 audit path (leaf sibling first), as
/// [`inclusion_proof`] would give it.
pub fn multiproof_paths(
    size: u64,
    leaves: &[(u64, Hash)],
    nodes: &[Hash],
) -> Result<(Hash, Vec<Vec<Hash>>), LedgerError> {
    check_leaf_order(leaves.iter().map(|(i, _)| *i), size)?;
    if leaves.is_empty() {
        return Err(LedgerError::BadInclusionProof("a multiproof proves at least one leaf"));
    }
    struct Walk<'a> {
        leaves: &'a [(u64, Hash)],
        nodes: std::slice::Iter<'a, Hash>,
        paths: Vec<Vec<Hash>>,
    }
    impl Walk<'_> {
        /// `MTH(D[lo:hi])`, where `first..first+count` are the proven leaves inside the range.
        fn hash(&mut self, lo: u64, hi: u64, first: usize, count: usize) -> Result<Hash, LedgerError> {
            if count == 0 {
                return self.nodes.next().copied().ok_or(LedgerError::BadInclusionProof("the multiproof is too short"));
            }
            if hi - lo == 1 {
                return self
                    .leaves
                    .get(first)
                    .map(|(_, h)| *h)
                    .ok_or(LedgerError::BadInclusionProof("a leaf is missing"));
            }
            let mid = lo + split_point(hi - lo);
            let ours = self.leaves.get(first..first + count).unwrap_or_default();
            let left = ours.partition_point(|(i, _)| *i < mid);
            let l = self.hash(lo, mid, first, left)?;
            let r = self.hash(mid, hi, first + left, count - left)?;
            for (n, path) in self.paths.iter_mut().enumerate().skip(first).take(count) {
                path.push(if n < first + left { r } else { l });
            }
            Ok(node_hash(&l, &r))
        }
    }
    let mut w = Walk { leaves, nodes: nodes.iter(), paths: vec![Vec::new(); leaves.len()] };
    let root = w.hash(0, size, 0, leaves.len())?;
    if w.nodes.next().is_some() {
        return Err(LedgerError::BadInclusionProof("the multiproof is too long"));
    }
    Ok((root, w.paths))
}

/// Verifies a multiproof: the proven leaves `(index, leaf hash)` (strictly ascending) and the
/// nodes give `root`. Costs one hash per internal node on the leaves' paths.
pub fn verify_multiproof(size: u64, leaves: &[(u64, Hash)], nodes: &[Hash], root: &Hash) -> Result<(), LedgerError> {
    check_leaf_order(leaves.iter().map(|(i, _)| *i), size)?;
    struct Walk<'a> {
        nodes: std::slice::Iter<'a, Hash>,
    }
    impl Walk<'_> {
        fn hash(&mut self, lo: u64, hi: u64, leaves: &[(u64, Hash)]) -> Result<Hash, LedgerError> {
            if leaves.is_empty() {
                return self.nodes.next().copied().ok_or(LedgerError::BadInclusionProof("the multiproof is too short"));
            }
            if hi - lo == 1 {
                return leaves.first().map(|(_, h)| *h).ok_or(LedgerError::BadInclusionProof("a leaf is missing"));
            }
            let mid = lo + split_point(hi - lo);
            let (left, right) = leaves.split_at(leaves.partition_point(|(i, _)| *i < mid));
            let l = self.hash(lo, mid, left)?;
            let r = self.hash(mid, hi, right)?;
            Ok(node_hash(&l, &r))
        }
    }
    if leaves.is_empty() {
        return Err(LedgerError::BadInclusionProof("a multiproof proves at least one leaf"));
    }
    let mut w = Walk { nodes: nodes.iter() };
    let got = w.hash(0, size, leaves)?;
    if w.nodes.next().is_some() {
        return Err(LedgerError::BadInclusionProof("the multiproof is too long"));
    }
    if got != *root {
        return Err(LedgerError::BadInclusionProof("the computed root differs"));
    }
    Ok(())
}

/// Verifies a consistency proof as RFC 9162 §2.1.4.2 specifies.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), LedgerError> {
    if old > new {
        return Err(LedgerError::SizesOutOfOrder { old, new });
    }
    if old == new {
        return if proof.is_empty() && old_root == new_root {
            Ok(())
        } else {
            Err(LedgerError::BadConsistencyProof("equal sizes need an empty proof and equal roots"))
        };
    }
    if old == 0 {
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(LedgerError::BadConsistencyProof("the empty tree needs an empty proof"))
        };
    }
    if proof.is_empty() {
        return Err(LedgerError::BadConsistencyProof("the proof is empty"));
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut fn_, mut sn) = (old - 1, new - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let Some((first, rest)) = path.split_first() else {
        return Err(LedgerError::BadConsistencyProof("the proof is empty"));
    };
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if sn == 0 {
            return Err(LedgerError::BadConsistencyProof("the proof is too long"));
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(LedgerError::BadConsistencyProof("the proof is too short"));
    }
    if fr != *old_root {
        return Err(LedgerError::BadConsistencyProof("the computed old root differs"));
    }
    if sr != *new_root {
        return Err(LedgerError::BadConsistencyProof("the computed new root differs"));
    }
    Ok(())
}

/// The right edge of a growing tree: the hashes of its maximal complete subtrees, largest
/// first. Appending a leaf merges equal-sized subtrees and reports every hash to store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    nodes: Vec<(u8, Hash)>,
}

/// A hash to store: its position ([`stored_hash_index`]) and value.
pub type StoredHash = (u64, Hash);

impl Frontier {
    pub fn new() -> Self {
        Self::default()
    }

    /// The frontier of the first `size` entries, read from stored hashes.
    pub fn from_reader(r: &dyn HashReader, size: u64) -> Result<Self, LedgerError> {
        let mut nodes = Vec::new();
        let mut lo = 0u64;
        for level in (0..64u8).rev() {
            if size & (1u64 << level) != 0 {
                nodes.push((level, r.hash(level, lo >> level)?));
                lo += 1u64 << level;
            }
        }
        Ok(Self { size, nodes })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The complete subtrees on the right edge as `(level, index, hash)`, largest first.
    pub fn nodes(&self) -> impl Iterator<Item = (u8, u64, Hash)> + '_ {
        let mut lo = 0u64;
        self.nodes.iter().map(move |&(level, h)| {
            let index = lo >> level;
            lo += 1u64 << level;
            (level, index, h)
        })
    }

    /// Appends one leaf hash; pushes onto `out` the hashes this append stores, in order.
    pub fn push(&mut self, leaf: Hash, out: &mut Vec<StoredHash>) {
        let mut pos = leaf_position(self.size);
        out.push((pos, leaf));
        let (mut level, mut h) = (0u8, leaf);
        while let Some(&(l, left)) = self.nodes.last() {
            if l != level {
                break;
            }
            self.nodes.pop();
            h = node_hash(&left, &h);
            level += 1;
            pos += 1;
            out.push((pos, h));
        }
        self.nodes.push((level, h));
        self.size += 1;
    }

    /// The root of the tree so far.
    pub fn root(&self) -> Hash {
        let mut it = self.nodes.iter().rev();
        let Some(&(_, last)) = it.next() else {
            return empty_root();
        };
        it.fold(last, |acc, (_, left)| node_hash(left, &acc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_positions_invert() {
        for p in 0..5000u64 {
            let pos = stored_hash_position(p);
            assert_eq!(stored_hash_index(pos.level, pos.index), p, "{p}: {pos:?}");
            assert_eq!(((pos.index + 1) << pos.level) - 1, pos.entry);
        }
        assert_eq!(stored_hash_count(4), 7);
    }
}

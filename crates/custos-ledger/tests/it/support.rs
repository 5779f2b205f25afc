//! Shared fixtures: an in-memory hash store filled through `Frontier::push`, a deterministic
//! PRNG, and reference definitions of `MTH`, `PATH` and `PROOF` transcribed from RFC 6962 §2.1.
//!
//! The references use `custos_ledger::hash::sha256` for raw SHA-256 only; the `0x00` and `0x01`
//! domain-separation prefixes are written here so that a drift in `leaf_hash` or `node_hash`
//! cannot hide behind a reference that calls them.

use std::sync::OnceLock;

use custos_ledger::{
    Hash, LedgerError,
    hash::{leaf_hash, sha256},
    tree::{Frontier, HashReader, stored_hash_count, stored_hash_index},
};

/// splitmix64: small, deterministic, good enough to pick sizes and indices.
#[derive(Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`n > 0`); the modulo bias is irrelevant here.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Entry `i` of every test log: distinct for every `i`, with lengths from 2 to about 80 bytes so
/// the leaf hashes cross SHA-256's one-block boundary (55 bytes of message).
pub fn entry(i: u64) -> Vec<u8> {
    let mut e = format!("{i}:").into_bytes();
    e.extend(std::iter::repeat_n(b'x', (i % 71) as usize));
    e
}

pub fn entries(n: u64) -> Vec<Vec<u8>> {
    (0..n).map(entry).collect()
}

/// Every stored hash of a log, in position order, as `Frontier::push` reports them.
#[derive(Debug, Default)]
pub struct Store {
    hashes: Vec<Hash>,
    frontier: Frontier,
}

impl Store {
    pub fn new() -> Self {
        Self::default()
    }

    /// A store holding `entries`, in order.
    pub fn of(entries: &[Vec<u8>]) -> Self {
        let mut s = Self::new();
        for e in entries {
            s.push(e);
        }
        s
    }

    /// Appends one entry, checking that the positions `push` reports are the next ones.
    pub fn push(&mut self, entry: &[u8]) {
        let mut out = Vec::new();
        self.frontier.push(leaf_hash(entry), &mut out);
        assert!(!out.is_empty() && out.len() <= 64, "push reported {} hashes", out.len());
        for (pos, h) in out {
            assert_eq!(pos, self.hashes.len() as u64, "push reported a position out of order");
            self.hashes.push(h);
        }
        assert_eq!(self.hashes.len() as u64, stored_hash_count(self.frontier.size()));
    }

    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }

    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// A reader that sees exactly the hashes a store of the first `size` entries holds, so a
    /// function that reads a hash the tree of that size does not have fails instead of passing.
    pub fn at(&self, size: u64) -> AtSize<'_> {
        assert!(size <= self.size());
        AtSize { store: self, limit: stored_hash_count(size) }
    }
}

/// A [`Store`] seen as it was at one tree size.
#[derive(Debug, Clone, Copy)]
pub struct AtSize<'a> {
    store: &'a Store,
    limit: u64,
}

impl HashReader for AtSize<'_> {
    fn hash(&self, level: u8, index: u64) -> Result<Hash, LedgerError> {
        let missing = |why: &str| LedgerError::MissingHash { level, index, why: why.to_string() };
        // Keep `stored_hash_index` within its arithmetic range: no test tree comes near 2^40.
        let end = index.checked_add(1).and_then(|i| i.checked_mul(1u64.checked_shl(u32::from(level))?));
        if end.is_none_or(|e| e > 1 << 40) {
            return Err(missing("out of range"));
        }
        let pos = stored_hash_index(level, index);
        if pos >= self.limit {
            return Err(missing("not stored at this tree size"));
        }
        self.store.hashes.get(pos as usize).copied().ok_or_else(|| missing("not stored"))
    }
}

/// The 100,000-entry log the larger tests share, with the entries it holds. Built once.
pub fn big() -> &'static (Store, Vec<Vec<u8>>) {
    static BIG: OnceLock<(Store, Vec<Vec<u8>>)> = OnceLock::new();
    BIG.get_or_init(|| {
        let e = entries(100_000);
        (Store::of(&e), e)
    })
}

/// Flips bit `bit` (0..256) of `h`.
pub fn flip(h: &Hash, bit: usize) -> Hash {
    let mut b = h.0;
    b[bit / 8] ^= 1 << (bit % 8);
    Hash(b)
}

// ---- RFC 6962 §2.1, transcribed -------------------------------------------------------------

/// `SHA-256(0x00 || d)`.
pub fn ref_leaf(d: &[u8]) -> Hash {
    let mut buf = Vec::with_capacity(1 + d.len());
    buf.push(0x00);
    buf.extend_from_slice(d);
    sha256(&buf)
}

/// `SHA-256(0x01 || l || r)`.
pub fn ref_node(l: &Hash, r: &Hash) -> Hash {
    let mut buf = Vec::with_capacity(65);
    buf.push(0x01);
    buf.extend_from_slice(&l.0);
    buf.extend_from_slice(&r.0);
    sha256(&buf)
}

/// "k is the largest power of two smaller than n (i.e., k < n <= 2k)".
fn largest_power_of_two_below(n: usize) -> usize {
    assert!(n > 1);
    let mut k = 1;
    while 2 * k < n {
        k *= 2;
    }
    k
}

/// `MTH(D[n])`: the hash of the empty list is `SHA-256()`, of one entry `SHA-256(0x00 || d(0))`,
/// and otherwise `SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))`.
pub fn mth(d: &[Vec<u8>]) -> Hash {
    match d {
        [] => sha256(b""),
        [one] => ref_leaf(one),
        _ => {
            let k = largest_power_of_two_below(d.len());
            ref_node(&mth(&d[..k]), &mth(&d[k..]))
        }
    }
}

/// `PATH(m, D[n])`, §2.1.1: empty for a single entry; otherwise, with `k` as above,
/// `PATH(m, D[0:k]) : MTH(D[k:n])` when `m < k` and `PATH(m - k, D[k:n]) : MTH(D[0:k])` when
/// `m >= k` (`:` is list concatenation).
pub fn path(m: usize, d: &[Vec<u8>]) -> Vec<Hash> {
    let n = d.len();
    assert!(m < n);
    if n == 1 {
        return Vec::new();
    }
    let k = largest_power_of_two_below(n);
    let (mut p, sibling) = if m < k { (path(m, &d[..k]), mth(&d[k..])) } else { (path(m - k, &d[k..]), mth(&d[..k])) };
    p.push(sibling);
    p
}

/// The shape of `PATH(m, D[n])`: for each hash, leaf end first, whether it is the left sibling.
/// An inclusion proof verifies for another tree size exactly when that size gives the same shape.
pub fn path_shape(m: u64, n: u64) -> Vec<bool> {
    assert!(m < n);
    if n == 1 {
        return Vec::new();
    }
    let k = largest_power_of_two_below(n as usize) as u64;
    let (mut s, left) = if m < k { (path_shape(m, k), false) } else { (path_shape(m - k, n - k), true) };
    s.push(left);
    s
}

/// `PROOF(m, D[n]) = SUBPROOF(m, D[n], true)`, §2.1.2, defined for `0 < m < n`.
pub fn proof(m: usize, d: &[Vec<u8>]) -> Vec<Hash> {
    assert!(0 < m && m < d.len());
    subproof(m, d, true)
}

/// `SUBPROOF(m, D[m], true) = {}`, `SUBPROOF(m, D[m], false) = {MTH(D[m])}`; for `m < n`,
/// `SUBPROOF(m, D[0:k], b) : MTH(D[k:n])` when `m <= k` and
/// `SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])` when `m > k`.
fn subproof(m: usize, d: &[Vec<u8>], b: bool) -> Vec<Hash> {
    let n = d.len();
    if m == n {
        return if b { Vec::new() } else { vec![mth(d)] };
    }
    let k = largest_power_of_two_below(n);
    let (mut p, other) =
        if m <= k { (subproof(m, &d[..k], b), mth(&d[k..])) } else { (subproof(m - k, &d[k..], false), mth(&d[..k])) };
    p.push(other);
    p
}

//! custos agent tokens: generation, hashing, and the in-memory verifier the gateway asks on
//! every request.
//!
//! A token is `cst_` followed by 64 lowercase hex digits (256 random bits). It is shown once;
//! the registry keeps only its SHA-256. [`TokenVerifier::verify`] answers from memory: it
//! hashes what was presented, looks the hash up, and checks expiry, revocation and the agent's
//! state. The lookup is keyed by the SHA-256 of the presented token, so how long it takes says
//! nothing about any valid token (an attacker cannot steer a hash towards a stored one), and
//! the final comparison of the stored and computed hash is constant-time.

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicI64, Ordering},
    },
};

use custos_core::{
    AgentId, Secret, Timestamp,
    registry::{Agent, AgentState},
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::RegistryError;

/// Every custos agent token starts with this.
pub const TOKEN_PREFIX: &str = "cst_";
const TOKEN_HEX_LEN: usize = 64;

/// A new token and its SHA-256 (hex).
pub(crate) fn generate() -> Result<(Secret<String>, [u8; 32]), RegistryError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| RegistryError::Internal(format!("no randomness: {e}")))?;
    let token = format!("{TOKEN_PREFIX}{}", hex::encode(bytes));
    let hash = digest(&token);
    Ok((Secret::new(token), hash))
}

/// A new credential id: `cred_` + 16 hex digits. Not secret; printed in lists and events.
pub(crate) fn new_credential_id() -> Result<String, RegistryError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| RegistryError::Internal(format!("no randomness: {e}")))?;
    Ok(format!("cred_{}", hex::encode(bytes)))
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Whether `s` has the shape of a custos token (it may still be unknown).
pub fn looks_like_token(s: &str) -> bool {
    s.len() == TOKEN_PREFIX.len() + TOKEN_HEX_LEN
        && s.starts_with(TOKEN_PREFIX)
        && s.bytes().skip(TOKEN_PREFIX.len()).all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Who a valid token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub agent: AgentId,
    pub credential: String,
    /// The agent's registry record as of now (the policy principal).
    pub record: Arc<Agent>,
}

/// Why a token does not authenticate. The first three are "who are you?" (HTTP 401); the last
/// is "we know you, and no" (403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("the token is not a custos agent token (`cst_` and 64 hex digits)")]
    Malformed,
    #[error("the token is not known (or was revoked)")]
    Unknown,
    #[error("credential `{credential}` of agent `{agent}` expired at {at}")]
    Expired { agent: AgentId, credential: String, at: Timestamp },
    #[error("agent `{agent}` is {state}; its credentials do not authenticate")]
    AgentNotActive { agent: AgentId, credential: String, state: AgentState },
}

impl AuthError {
    /// Whether the caller is known but refused (403) rather than unauthenticated (401).
    pub fn is_forbidden(&self) -> bool {
        matches!(self, AuthError::AgentNotActive { .. })
    }
}

#[derive(Debug)]
struct Cred {
    id: String,
    agent: AgentId,
    hash: [u8; 32],
    expires_micros: Option<i64>,
    /// Microseconds since the epoch of the last success (0: never, since this process started).
    last_used: AtomicI64,
    flushed: AtomicI64,
}

#[derive(Debug, Default)]
struct Index {
    creds: HashMap<[u8; 32], Cred>,
    agents: HashMap<AgentId, Arc<Agent>>,
}

/// The in-memory credential index. Cheap to clone; every clone sees every change at once.
#[derive(Debug, Clone, Default)]
pub struct TokenVerifier {
    index: Arc<RwLock<Index>>,
}

impl TokenVerifier {
    /// Checks `presented` now.
    pub fn verify(&self, presented: &str) -> Result<Authenticated, AuthError> {
        self.verify_at(presented, Timestamp::now())
    }

    /// Checks `presented` as of `now`.
    pub fn verify_at(&self, presented: &str, now: Timestamp) -> Result<Authenticated, AuthError> {
        if !looks_like_token(presented) {
            return Err(AuthError::Malformed);
        }
        let hash = digest(presented);
        let index = self.index.read().unwrap_or_else(|e| e.into_inner());
        let Some(cred) = index.creds.get(&hash) else { return Err(AuthError::Unknown) };
        if !bool::from(cred.hash.ct_eq(&hash)) {
            return Err(AuthError::Unknown);
        }
        let now_micros = now.as_jiff().as_microsecond();
        if let Some(exp) = cred.expires_micros
            && now_micros >= exp
        {
            let at = jiff::Timestamp::from_microsecond(exp).map(Timestamp::from_jiff).unwrap_or(now);
            return Err(AuthError::Expired { agent: cred.agent.clone(), credential: cred.id.clone(), at });
        }
        let Some(record) = index.agents.get(&cred.agent) else {
            return Err(AuthError::AgentNotActive {
                agent: cred.agent.clone(),
                credential: cred.id.clone(),
                state: AgentState::Retired,
            });
        };
        if record.state != AgentState::Active {
            return Err(AuthError::AgentNotActive {
                agent: cred.agent.clone(),
                credential: cred.id.clone(),
                state: record.state,
            });
        }
        cred.last_used.fetch_max(now_micros, Ordering::Relaxed);
        Ok(Authenticated { agent: cred.agent.clone(), credential: cred.id.clone(), record: record.clone() })
    }

    /// How many live credentials are held.
    pub fn len(&self) -> usize {
        self.index.read().unwrap_or_else(|e| e.into_inner()).creds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes the agent's current record (state and the attributes policies see).
    pub(crate) fn set_agent(&self, agent: &Agent) {
        let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
        if agent.state == AgentState::Retired {
            index.creds.retain(|_, c| c.agent != agent.id);
        }
        index.agents.insert(agent.id.clone(), Arc::new(agent.clone()));
    }

    /// The agent's record as the verifier holds it.
    pub fn agent(&self, id: &AgentId) -> Option<Arc<Agent>> {
        self.index.read().unwrap_or_else(|e| e.into_inner()).agents.get(id).cloned()
    }

    pub(crate) fn add(&self, id: String, agent: AgentId, hash: [u8; 32], expires: Option<Timestamp>) {
        let cred = Cred {
            id,
            agent,
            hash,
            expires_micros: expires.map(|t| t.as_jiff().as_microsecond()),
            last_used: AtomicI64::new(0),
            flushed: AtomicI64::new(0),
        };
        self.index.write().unwrap_or_else(|e| e.into_inner()).creds.insert(hash, cred);
    }

    pub(crate) fn remove(&self, id: &str) {
        self.index.write().unwrap_or_else(|e| e.into_inner()).creds.retain(|_, c| c.id != id);
    }

    /// Successful uses not yet handed out, as `(credential id, time)`; marks them handed out.
    pub(crate) fn take_usage(&self) -> Vec<(String, Timestamp)> {
        let index = self.index.read().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for cred in index.creds.values() {
            let used = cred.last_used.load(Ordering::Relaxed);
            if used > cred.flushed.swap(used, Ordering::Relaxed)
                && let Ok(ts) = jiff::Timestamp::from_microsecond(used)
            {
                out.push((cred.id.clone(), Timestamp::from_jiff(ts)));
            }
        }
        out
    }
}

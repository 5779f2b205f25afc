//! custos-registry: the agent registry as a service (DESIGN.md §3.1).
//!
//! Every operation is one ledger event: [`Registry`] checks the operation against the current
//! record (the lifecycle rules live in [`custos_core::registry::transition`]), appends exactly
//! one event, and waits until it is durable; the store's projections fold the event in the
//! same transaction. A refused operation appends nothing.
//!
//! Operations are serialized by one async lock, held from the read of the current record until
//! the event is durable, so two operations can never both pass their checks against the same
//! state (the store already admits one writing process, so one lock per process is enough).
//! Registry changes are rare and human-paced; the hot path is [`TokenVerifier::verify`], which
//! never touches the lock or the database.

mod error;
mod ops;
pub mod token;

use std::{collections::BTreeSet, sync::Arc};

use custos_core::{
    Actor, AgentId, Event, EventKind, Payload,
    registry::{
        Agent, AgentChanges, AgentOwnerChanged, AgentQuery, AgentRegistered, AgentState, AgentStateChanged,
        AgentUpdated, Change, Credential, CredentialIssued, CredentialRevoked, LifecycleOp, MAX_LISTED,
        MAX_RECERT_DAYS, OwnerId, OwnerOffboarded, OwnerSummary, transition,
    },
};
use custos_store::{RegistryStore, StoreError};
use tokio::sync::Mutex;

pub use error::{ErrorClass, RegistryError};
pub use ops::*;
pub use token::{AuthError, Authenticated, TokenVerifier};

/// Default lifetime of a token.
pub const DEFAULT_TOKEN_TTL_SECS: u64 = 90 * 24 * 3600;
/// Longest lifetime of a token (ten years).
pub const MAX_TOKEN_TTL_SECS: u64 = 3650 * 24 * 3600;
/// Largest page of a list.
pub const MAX_PAGE: u32 = 1000;

/// The registry service over a store.
#[derive(Debug)]
pub struct Registry<S: ?Sized> {
    store: Arc<S>,
    lock: Mutex<()>,
    verifier: TokenVerifier,
}

impl<S: RegistryStore + ?Sized> Registry<S> {
    /// Opens the registry and loads every live credential and agent state into memory.
    pub async fn open(store: Arc<S>) -> Result<Self, RegistryError> {
        let verifier = TokenVerifier::default();
        let mut after = None;
        loop {
            let page =
                store.agents(&AgentQuery { after: after.clone(), limit: MAX_PAGE, ..Default::default() }).await?;
            for a in &page {
                verifier.set_agent(a);
            }
            match page.last() {
                Some(last) if page.len() == MAX_PAGE as usize => after = Some(last.id.clone()),
                _ => break,
            }
        }
        for (cred, sha) in store.credentials(None).await? {
            if cred.revoked_at.is_some() {
                continue;
            }
            let hash = decode_hash(&sha).ok_or_else(|| {
                RegistryError::Internal(format!("stored hash of credential `{}` is not 32 bytes of hex", cred.id))
            })?;
            verifier.add(cred.id, cred.agent, hash, cred.expires_at);
        }
        Ok(Self { store, lock: Mutex::new(()), verifier })
    }

    /// The store under the registry.
    pub fn store(&self) -> &Arc<S> {
        &self.store
    }

    /// The in-memory token verifier; clones see every later change at once.
    pub fn verifier(&self) -> TokenVerifier {
        self.verifier.clone()
    }

    async fn append<P: Payload>(
        &self,
        actor: &Actor,
        agent: Option<&AgentId>,
        payload: &P,
    ) -> Result<u64, RegistryError> {
        self.append_at(actor, agent, payload, custos_core::Timestamp::now()).await
    }

    /// Appends with the event stamped `ts` (for payloads that contain times derived from it).
    async fn append_at<P: Payload>(
        &self,
        actor: &Actor,
        agent: Option<&AgentId>,
        payload: &P,
        ts: custos_core::Timestamp,
    ) -> Result<u64, RegistryError> {
        let mut event = Event::new(actor.clone(), agent.cloned(), payload)?;
        event.ts = ts;
        Ok(self.store.append(event).await?.index)
    }

    /// After an append that changed `id`: the record as committed, handed to the verifier
    /// before the caller hears back (so the next request sees the change).
    async fn committed(&self, index: u64, kind: EventKind, id: &AgentId) -> Result<Outcome<Agent>, RegistryError> {
        let value = self.current(id).await?;
        self.verifier.set_agent(&value);
        Ok(Outcome { value, event: EventRef::new(index, kind) })
    }

    async fn current(&self, id: &AgentId) -> Result<Agent, RegistryError> {
        self.store.agent(id).await?.ok_or_else(|| RegistryError::UnknownAgent(id.clone()))
    }

    async fn offboarded(&self, owner: &OwnerId) -> Result<bool, RegistryError> {
        Ok(self.store.offboarded_at(owner).await?.is_some())
    }

    async fn check_owner(&self, field: &'static str, owner: &OwnerId) -> Result<(), RegistryError> {
        if self.offboarded(owner).await? {
            return Err(RegistryError::Conflict(format!(
                "{field}: `{owner}` was offboarded; name someone who is still here"
            )));
        }
        Ok(())
    }

    /// Registers a new agent (state `registered`).
    pub async fn register(&self, actor: &Actor, req: RegisterAgent) -> Result<Outcome<Agent>, RegistryError> {
        let p = req.validate()?;
        let _guard = self.lock.lock().await;
        if self.store.agent(&req.id).await?.is_some() {
            return Err(RegistryError::Conflict(format!("id: agent `{}` is already registered", req.id)));
        }
        for (field, who) in [("owner", &p.owner), ("sponsor", &p.sponsor)] {
            if let Some(who) = who {
                self.check_owner(field, who).await?;
            }
        }
        let index = self.append(actor, Some(&req.id), &p).await?;
        self.committed(index, EventKind::AgentRegistered, &req.id).await
    }

    /// Changes descriptive fields. Refuses an update that changes nothing.
    pub async fn update(&self, actor: &Actor, id: &AgentId, req: UpdateAgent) -> Result<Outcome<Agent>, RegistryError> {
        req.validate()?;
        let _guard = self.lock.lock().await;
        let agent = self.current(id).await?;
        refuse_retired(&agent, "update")?;
        if let Some(s) = &req.sponsor {
            self.check_owner("sponsor", s).await?;
        }
        let changes = req.changes(&agent);
        if let Some(l) = &changes.labels
            && l.to.len() > custos_core::registry::MAX_LABELS
        {
            return Err(RegistryError::Invalid(format!(
                "labels: at most {} labels",
                custos_core::registry::MAX_LABELS
            )));
        }
        if changes.is_empty() {
            return Err(RegistryError::Invalid("nothing to change: every field given equals the current value".into()));
        }
        let index = self.append(actor, Some(id), &AgentUpdated { changes, reason: reason(req.reason) }).await?;
        self.committed(index, EventKind::AgentUpdated, id).await
    }

    /// Names a new owner; this also ends an orphaning.
    pub async fn change_owner(
        &self,
        actor: &Actor,
        id: &AgentId,
        req: ChangeOwner,
    ) -> Result<Outcome<Agent>, RegistryError> {
        req.validate()?;
        let _guard = self.lock.lock().await;
        let agent = self.current(id).await?;
        refuse_retired(&agent, "change the owner of")?;
        if agent.owner.as_ref() == Some(&req.owner) && !agent.orphaned {
            return Err(RegistryError::Conflict(format!("owner: `{id}` is already owned by `{}`", req.owner)));
        }
        self.check_owner("owner", &req.owner).await?;
        let p = AgentOwnerChanged { from: agent.owner.clone(), to: req.owner, reason: reason(req.reason) };
        let index = self.append(actor, Some(id), &p).await?;
        self.committed(index, EventKind::AgentOwnerChanged, id).await
    }

    /// Approves, suspends, resumes or retires an agent.
    pub async fn lifecycle(
        &self,
        actor: &Actor,
        id: &AgentId,
        op: LifecycleOp,
        req: Reason,
    ) -> Result<Outcome<Agent>, RegistryError> {
        req.validate()?;
        let _guard = self.lock.lock().await;
        let agent = self.current(id).await?;
        let to = transition(&agent, op).map_err(|e| RegistryError::Refused { agent: id.clone(), why: e })?;
        let mut revoked_credentials: Vec<String> = if to == AgentState::Retired {
            self.store
                .credentials(Some(id))
                .await?
                .into_iter()
                .filter(|(c, _)| c.revoked_at.is_none())
                .map(|(c, _)| c.id)
                .collect()
        } else {
            Vec::new()
        };
        let revoked_count = revoked_credentials.len() as u64;
        if revoked_credentials.len() > MAX_LISTED {
            revoked_credentials.clear();
        }
        let p = AgentStateChanged {
            op,
            from: agent.state,
            to,
            reason: reason(req.reason),
            revoked_count,
            revoked_credentials,
        };
        let index = self.append(actor, Some(id), &p).await?;
        self.committed(index, EventKind::AgentStateChanged, id).await
    }

    /// Records that an owner left: every agent they own that is not retired becomes orphaned.
    pub async fn offboard(
        &self,
        actor: &Actor,
        owner: &OwnerId,
        req: Reason,
    ) -> Result<Outcome<Offboarded>, RegistryError> {
        req.validate()?;
        let _guard = self.lock.lock().await;
        if self.offboarded(owner).await? {
            return Err(RegistryError::Conflict(format!("owner: `{owner}` is already offboarded")));
        }
        let mut agents = Vec::new();
        let mut after = None;
        loop {
            let q =
                AgentQuery { owner: Some(owner.clone()), after: after.clone(), limit: MAX_PAGE, ..Default::default() };
            let page = self.store.agents(&q).await?;
            agents.extend(page.iter().filter(|a| a.state != AgentState::Retired).map(|a| a.id.clone()));
            match page.last() {
                Some(last) if page.len() == MAX_PAGE as usize => after = Some(last.id.clone()),
                _ => break,
            }
        }
        let p = OwnerOffboarded {
            owner: owner.clone(),
            orphaned_count: agents.len() as u64,
            agents: agents.iter().take(MAX_LISTED).cloned().collect(),
            reason: reason(req.reason),
        };
        let index = self.append(actor, None, &p).await?;
        for a in &agents {
            self.verifier.set_agent(&self.current(a).await?);
        }
        let value = Offboarded {
            owner: owner.clone(),
            agents: agents.iter().map(|a| a.to_string()).collect(),
            reason: p.reason,
        };
        Ok(Outcome { value, event: EventRef::new(index, EventKind::OwnerOffboarded) })
    }

    /// Issues a token. The token is in the result and nowhere else: only its SHA-256 is kept.
    pub async fn issue_token(
        &self,
        actor: &Actor,
        id: &AgentId,
        req: IssueToken,
    ) -> Result<Outcome<IssuedToken>, RegistryError> {
        let ttl = req.validate()?;
        let _guard = self.lock.lock().await;
        let agent = self.current(id).await?;
        refuse_retired(&agent, "issue a token to")?;
        let (token, hash) = token::generate()?;
        let cred_id = token::new_credential_id()?;
        let now = custos_core::Timestamp::now();
        let expires_at = now
            .as_jiff()
            .checked_add(jiff::SignedDuration::from_secs(ttl as i64))
            .map(custos_core::Timestamp::from_jiff)
            .map_err(|e| RegistryError::Invalid(format!("ttl_seconds: {e}")))?;
        let p = CredentialIssued {
            id: cred_id.clone(),
            sha256: hex::encode(hash),
            expires_at: Some(expires_at),
            reason: reason(req.reason),
        };
        // The event's time is the credential's creation time: expiry is exactly ttl after it.
        let index = self.append_at(actor, Some(id), &p, now).await?;
        self.verifier.add(cred_id.clone(), id.clone(), hash, Some(expires_at));
        let credential = self.credential(id, &cred_id).await?;
        Ok(Outcome {
            value: IssuedToken { token: token.expose().clone(), credential },
            event: EventRef::new(index, EventKind::CredentialIssued),
        })
    }

    /// Revokes one token for good.
    pub async fn revoke_token(
        &self,
        actor: &Actor,
        id: &AgentId,
        credential: &str,
        req: Reason,
    ) -> Result<Outcome<Credential>, RegistryError> {
        req.validate()?;
        let _guard = self.lock.lock().await;
        self.current(id).await?;
        let cred = self.credential(id, credential).await?;
        if cred.revoked_at.is_some() {
            return Err(RegistryError::Conflict(format!("credential `{credential}` is already revoked")));
        }
        let p = CredentialRevoked { id: credential.to_string(), reason: reason(req.reason) };
        let index = self.append(actor, Some(id), &p).await?;
        self.verifier.remove(credential);
        Ok(Outcome {
            value: self.credential(id, credential).await?,
            event: EventRef::new(index, EventKind::CredentialRevoked),
        })
    }

    async fn credential(&self, id: &AgentId, credential: &str) -> Result<Credential, RegistryError> {
        self.store
            .credentials(Some(id))
            .await?
            .into_iter()
            .map(|(c, _)| c)
            .find(|c| c.id == credential)
            .ok_or_else(|| RegistryError::UnknownCredential { agent: id.clone(), credential: credential.to_string() })
    }

    /// One agent.
    pub async fn get(&self, id: &AgentId) -> Result<Agent, RegistryError> {
        self.current(id).await
    }

    /// A page of agents.
    pub async fn list(&self, query: &AgentQuery) -> Result<AgentPage, RegistryError> {
        let mut q = query.clone();
        q.limit = q.limit.clamp(1, MAX_PAGE);
        let agents = self.store.agents(&q).await?;
        let next = if agents.len() == q.limit as usize { agents.last().map(|a| a.id.to_string()) } else { None };
        Ok(AgentPage { agents, next })
    }

    /// An agent's events, with ledger indices.
    pub async fn history(&self, id: &AgentId, after: Option<u64>, limit: u32) -> Result<HistoryPage, RegistryError> {
        self.current(id).await?;
        let limit = limit.clamp(1, MAX_PAGE);
        let items = self.store.agent_history(id, after, limit).await?;
        let next = if items.len() == limit as usize { items.last().map(|(i, _)| *i) } else { None };
        let events = items.into_iter().map(|(index, event)| HistoryItem::new(index, event)).collect();
        Ok(HistoryPage { events, next })
    }

    /// An agent's tokens (never the tokens themselves).
    pub async fn tokens(&self, id: &AgentId) -> Result<Vec<Credential>, RegistryError> {
        self.current(id).await?;
        Ok(self.store.credentials(Some(id)).await?.into_iter().map(|(c, _)| c).collect())
    }

    /// Every owner.
    pub async fn owners(&self) -> Result<Vec<OwnerSummary>, RegistryError> {
        Ok(self.store.owners().await?)
    }

    /// Writes the last-used times gathered since the previous flush.
    pub async fn flush_usage(&self) -> Result<usize, RegistryError> {
        let uses = self.verifier.take_usage();
        let n = uses.len();
        self.store.record_credential_use(uses).await?;
        Ok(n)
    }
}

fn refuse_retired(agent: &Agent, what: &str) -> Result<(), RegistryError> {
    if agent.state == AgentState::Retired {
        return Err(RegistryError::Conflict(format!(
            "cannot {what} `{}`: it is retired (retirement is final)",
            agent.id
        )));
    }
    Ok(())
}

fn decode_hash(hex_str: &str) -> Option<[u8; 32]> {
    hex::decode(hex_str).ok()?.try_into().ok()
}

/// What a reason defaults to when none is given, so every event still states one.
pub const NO_REASON: &str = "no reason given";

fn reason(r: Option<String>) -> String {
    match r {
        Some(r) if !r.trim().is_empty() => r,
        _ => NO_REASON.to_string(),
    }
}

impl UpdateAgent {
    fn changes(&self, a: &Agent) -> AgentChanges {
        fn diff<T: Clone + PartialEq>(cur: &T, new: Option<&T>) -> Option<Change<T>> {
            new.filter(|n| *n != cur).map(|n| Change { from: cur.clone(), to: n.clone() })
        }
        let mut labels = self.labels.clone().unwrap_or_else(|| a.labels.clone());
        labels.extend(self.add_labels.iter().cloned());
        for l in &self.remove_labels {
            labels.remove(l);
        }
        let sponsor = if self.clear_sponsor { Some(None) } else { self.sponsor.clone().map(Some) };
        AgentChanges {
            name: diff(&a.name, self.name.as_ref()),
            purpose: diff(&a.purpose, self.purpose.as_ref()),
            environment: diff(&a.environment, self.environment.as_ref()),
            risk_tier: diff(&a.risk_tier, self.risk_tier.as_ref()),
            labels: diff(&a.labels, Some(&labels)),
            sponsor: diff(&a.sponsor, sponsor.as_ref()),
            recert_interval_days: diff(&a.recert_interval_days, self.recert_interval_days.as_ref()),
        }
    }
}

impl RegisterAgent {
    fn validate(&self) -> Result<AgentRegistered, RegistryError> {
        check_text("name", self.name.as_deref().unwrap_or(""), custos_core::registry::MAX_NAME)?;
        if self.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            return Err(RegistryError::Invalid("name: must not be blank".into()));
        }
        check_text("purpose", &self.purpose, custos_core::registry::MAX_TEXT)?;
        check_reason(&self.reason)?;
        check_labels("labels", &self.labels)?;
        let days = self.recert_interval_days.unwrap_or(custos_core::registry::DEFAULT_RECERT_DAYS);
        check_days(days)?;
        for p in &self.provenance {
            check_text("provenance", p, 256)?;
        }
        if self.provenance.len() > 64 {
            return Err(RegistryError::Invalid("provenance: at most 64 entries".into()));
        }
        Ok(AgentRegistered {
            name: self.name.clone().unwrap_or_else(|| self.id.to_string()),
            owner: self.owner.clone(),
            sponsor: self.sponsor.clone(),
            purpose: self.purpose.clone(),
            environment: self.environment,
            risk_tier: self.risk_tier,
            labels: self.labels.clone(),
            recert_interval_days: days,
            provenance: self.provenance.clone(),
            reason: reason(self.reason.clone()),
        })
    }
}

impl UpdateAgent {
    fn validate(&self) -> Result<(), RegistryError> {
        if let Some(n) = &self.name {
            check_text("name", n, custos_core::registry::MAX_NAME)?;
            if n.trim().is_empty() {
                return Err(RegistryError::Invalid("name: must not be blank".into()));
            }
        }
        if let Some(p) = &self.purpose {
            check_text("purpose", p, custos_core::registry::MAX_TEXT)?;
        }
        if let Some(l) = &self.labels {
            check_labels("labels", l)?;
        }
        check_labels("add_labels", &self.add_labels)?;
        check_labels("remove_labels", &self.remove_labels)?;
        if let Some(d) = self.recert_interval_days {
            check_days(d)?;
        }
        if self.clear_sponsor && self.sponsor.is_some() {
            return Err(RegistryError::Invalid("sponsor: give either `sponsor` or `clear_sponsor`, not both".into()));
        }
        check_reason(&self.reason)
    }
}

impl ChangeOwner {
    fn validate(&self) -> Result<(), RegistryError> {
        check_reason(&self.reason)
    }
}

impl Reason {
    fn validate(&self) -> Result<(), RegistryError> {
        check_reason(&self.reason)
    }
}

impl IssueToken {
    fn validate(&self) -> Result<u64, RegistryError> {
        check_reason(&self.reason)?;
        let ttl = self.ttl_seconds.unwrap_or(DEFAULT_TOKEN_TTL_SECS);
        if ttl == 0 || ttl > MAX_TOKEN_TTL_SECS {
            return Err(RegistryError::Invalid(format!(
                "ttl_seconds: must be between 1 and {MAX_TOKEN_TTL_SECS} (ten years)"
            )));
        }
        Ok(ttl)
    }
}

fn check_text(field: &str, s: &str, max: usize) -> Result<(), RegistryError> {
    if s.chars().count() > max {
        return Err(RegistryError::Invalid(format!("{field}: longer than {max} characters")));
    }
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(RegistryError::Invalid(format!("{field}: contains a control character")));
    }
    Ok(())
}

fn check_reason(r: &Option<String>) -> Result<(), RegistryError> {
    r.as_deref().map_or(Ok(()), |r| check_text("reason", r, custos_core::registry::MAX_TEXT))
}

fn check_labels(field: &str, labels: &BTreeSet<custos_core::registry::Label>) -> Result<(), RegistryError> {
    if labels.len() > custos_core::registry::MAX_LABELS {
        return Err(RegistryError::Invalid(format!("{field}: at most {} labels", custos_core::registry::MAX_LABELS)));
    }
    Ok(())
}

fn check_days(days: u32) -> Result<(), RegistryError> {
    if days == 0 || days > MAX_RECERT_DAYS {
        return Err(RegistryError::Invalid(format!("recert_interval_days: must be between 1 and {MAX_RECERT_DAYS}")));
    }
    Ok(())
}

impl From<StoreError> for RegistryError {
    fn from(e: StoreError) -> Self {
        RegistryError::Store(e)
    }
}

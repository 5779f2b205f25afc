//! Where registry commands run: directly on the data dir, or through a running `custos up`.
//!
//! Both sides take and return the same types (`custos_registry::ops`), so a command prints the
//! same thing whichever way it ran. Read-only commands open the ledger read-only, so they work
//! beside a running server; changes need the writer (or `--server`).

use std::sync::Arc;

use anyhow::anyhow;
use custos_core::{
    Actor, AgentId,
    registry::{Agent, AgentQuery, Credential, LifecycleOp, OwnerId, OwnerSummary},
};
use custos_registry::{
    AgentPage, ChangeOwner, ErrorClass, HistoryPage, IssueToken, IssuedToken, Outcome, Reason, RegisterAgent, Registry,
    RegistryError, UpdateAgent,
};
use custos_server::ErrorBody;
use custos_store::{RegistryStore, StoreError, sqlite::SqliteStore};
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    cli::Cli,
    config::{self, FileConfig},
    datadir::DataDir,
    error::{CliError, CliResult, Code},
};

/// Whether a command changes anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

pub enum Backend {
    Direct { registry: Registry<dyn RegistryStore>, store: Arc<dyn RegistryStore> },
    Remote(Remote),
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backend::Direct { .. } => f.write_str("Backend::Direct"),
            Backend::Remote(r) => write!(f, "Backend::Remote({})", r.base),
        }
    }
}

impl From<RegistryError> for CliError {
    fn from(e: RegistryError) -> Self {
        let code = match e.class() {
            ErrorClass::Invalid | ErrorClass::NotFound | ErrorClass::Conflict => Code::Input,
            ErrorClass::Internal => Code::Error,
        };
        CliError { code, source: e.into() }
    }
}

impl Backend {
    pub async fn open(cli: &Cli, file: &FileConfig, access: Access) -> CliResult<Self> {
        if let Some(url) = cli.server.clone().or_else(|| file.client.server.clone()) {
            return Ok(Backend::Remote(Remote::new(&url, file, cli)?));
        }
        let dir = DataDir::open(&cli.data_dir)?;
        let store: Arc<dyn RegistryStore> = match access {
            Access::Write => Arc::new(
                SqliteStore::open(&dir.db(), dir.signer()?, config::store_options(cli, file)).map_err(|e| match e {
                    StoreError::Locked { .. } => CliError::env(anyhow!(
                        "{e}\nhint: if `custos up` is running on this data dir, act through it with `--server URL`"
                    )),
                    e => e.into(),
                })?,
            ),
            Access::Read => Arc::new(SqliteStore::open_read_only(&dir.db(), dir.verifier(None)?)?),
        };
        let registry = Registry::open(store.clone()).await?;
        Ok(Backend::Direct { registry, store })
    }

    /// Flushes and closes a directly opened store.
    pub async fn close(self) -> CliResult<()> {
        if let Backend::Direct { store, .. } = self {
            match store.close().await {
                Ok(()) | Err(StoreError::ReadOnly) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    pub async fn register(&self, actor: &Actor, req: RegisterAgent) -> CliResult<Outcome<Agent>> {
        match self {
            Backend::Direct { registry, .. } => Ok(registry.register(actor, req).await?),
            Backend::Remote(r) => r.send(reqwest::Method::POST, "/api/v1/agents", actor, Some(&req)).await,
        }
    }

    pub async fn get(&self, id: &AgentId) -> CliResult<Agent> {
        match self {
            Backend::Direct { registry, .. } => Ok(registry.get(id).await?),
            Backend::Remote(r) => r.get(&format!("/api/v1/agents/{}", enc(id.as_str())), &[]).await,
        }
    }

    pub async fn list(&self, q: &AgentQuery) -> CliResult<AgentPage> {
        match self {
            Backend::Direct { registry, .. } => Ok(registry.list(q).await?),
            Backend::Remote(r) => {
                let mut params: Vec<(&str, String)> = vec![("limit", q.limit.to_string())];
                if let Some(s) = q.state {
                    params.push(("state", s.to_string()));
                }
                if let Some(o) = &q.owner {
                    params.push(("owner", o.to_string()));
                }
                if let Some(e) = q.environment {
                    params.push(("environment", e.to_string()));
                }
                if let Some(o) = q.orphaned {
                    params.push(("orphaned", o.to_string()));
                }
                if let Some((o, _)) = q.overdue {
                    params.push(("overdue", o.to_string()));
                }
                if let Some(l) = &q.label {
                    params.push(("label", l.to_string()));
                }
                if let Some(a) = &q.after {
                    params.push(("after", a.to_string()));
                }
                r.get("/api/v1/agents", &params).await
            }
        }
    }

    pub async fn history(&self, id: &AgentId, after: Option<u64>) -> CliResult<HistoryPage> {
        match self {
            Backend::Direct { registry, .. } => Ok(registry.history(id, after, custos_registry::MAX_PAGE).await?),
            Backend::Remote(r) => {
                let params: Vec<(&str, String)> = after.map(|a| ("after", a.to_string())).into_iter().collect();
                r.get(&format!("/api/v1/agents/{}/history", enc(id.as_str())), &params).await
            }
        }
    }

    pub async fn update(&self, actor: &Actor, id: &AgentId, req: UpdateAgent) -> CliResult<Outcome<Agent>> {
        match self {
            Backend::Direct { registry, .. } => Ok(registry.update(actor, id, req).await?),
            Backend::Remote(r) => {
                r.send(reqwest::Method::PATCH, &format!("/api/v1/agents/{}", enc(id.as_str())), actor, Some(&req)).await
            }
        }
    }

    pub async fn change_owner(&self, actor: &Actor, id: &AgentId, req: ChangeOwner) -> CliResult<Outcome<Agent>> {
        match self {
            Backend::Direct { registry, .. } => Ok(registry.change_owner(actor, id, req).await?),
            Backend::Remote(r) => {
                let path = format!("/api/v1/agents/{}/owner", enc(id.as_str()));
                r.send(reqwest::Method::POST, &path, actor, Some(&req)).await
            }
        }
    }

    pub async fn lifecycle(
        &self,
        actor: &Actor,
        id: &AgentId,
        op: LifecycleOp,
        req: Reason,
    ) -> CliResult<Outcome<Agent>> {
        match self {
            Backend::Direct { registry, .. } => Ok(registry.lifecycle(actor, id, op, req).await?),
            Backend::Remote(r) => {
                let path = format!("/api/v1/agents/{}/{}", enc(id.as_str()), op.as_str());
                r.send(reqwest::Method::POST, &path, actor, Some(&req)).await
            }
        }
    }

    pub async fn issue_token(&self, actor: &Actor, id: &AgentId, req: IssueToken) -> CliResult<Outcome<IssuedToken>> {
        match self {
            Backend::Direct { registry, .. } => Ok(registry.issue_token(actor, id, req).await?),
            Backend::Remote(r) => {
                let path = format!("/api/v1/agents/{}/tokens", enc(id.as_str()));
                r.send(reqwest::Method::POST, &path, actor, Some(&req)).await
            }
        }
    }

    pub async fn tokens(&self, id: &AgentId) -> CliResult<Vec<Credential>> {
        match self {
            Backend::Direct { registry, .. } => Ok(registry.tokens(id).await?),
            Backend::Remote(r) => r.get(&format!("/api/v1/agents/{}/tokens", enc(id.as_str())), &[]).await,
        }
    }

    pub async fn revoke_token(
        &self,
        actor: &Actor,
        id: &AgentId,
        cred: &str,
        req: Reason,
    ) -> CliResult<Outcome<Credential>> {
        match self {
            Backend::Direct { registry, .. } => Ok(registry.revoke_token(actor, id, cred, req).await?),
            Backend::Remote(r) => {
                let path = format!("/api/v1/agents/{}/tokens/{}/revoke", enc(id.as_str()), enc(cred));
                r.send(reqwest::Method::POST, &path, actor, Some(&req)).await
            }
        }
    }

    pub async fn owners(&self) -> CliResult<Vec<OwnerSummary>> {
        match self {
            Backend::Direct { registry, .. } => Ok(registry.owners().await?),
            Backend::Remote(r) => r.get("/api/v1/owners", &[]).await,
        }
    }

    pub async fn offboard(
        &self,
        actor: &Actor,
        owner: &OwnerId,
        req: Reason,
    ) -> CliResult<Outcome<custos_registry::Offboarded>> {
        match self {
            Backend::Direct { registry, .. } => Ok(registry.offboard(actor, owner, req).await?),
            Backend::Remote(r) => {
                let path = format!("/api/v1/owners/{}/offboard", enc(owner.as_str()));
                r.send(reqwest::Method::POST, &path, actor, Some(&req)).await
            }
        }
    }
}

/// Percent-encodes a path segment (everything but RFC 3986 unreserved characters), so an agent
/// id's `/` stays inside its segment.
pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A client of a running server's admin API.
pub struct Remote {
    http: reqwest::Client,
    base: String,
    token: custos_core::Secret<String>,
}

impl Remote {
    fn new(url: &str, file: &FileConfig, cli: &Cli) -> CliResult<Self> {
        let base = url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(CliError::input(anyhow!("--server: `{base}` is not an http:// or https:// URL")));
        }
        let token = match std::env::var(config::env::ADMIN_TOKEN) {
            Ok(t) if !t.trim().is_empty() => t.trim().to_string(),
            _ => match &file.client.admin_token_file {
                Some(p) => std::fs::read_to_string(p)
                    .map_err(|e| {
                        CliError::env(anyhow!("cannot read `[client] admin_token_file` `{}`: {e}", p.display()))
                    })?
                    .trim()
                    .to_string(),
                None => {
                    return Err(CliError::input(anyhow!(
                        "--server needs the admin token: set {} or `[client] admin_token_file` in {}",
                        config::env::ADMIN_TOKEN,
                        cli.config.as_ref().map_or("custos.toml".to_string(), |p| p.display().to_string())
                    )));
                }
            },
        };
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|e| CliError::env(anyhow!("cannot start the HTTP client: {e}")))?;
        Ok(Self { http, base, token: custos_core::Secret::new(token) })
    }

    /// Connects to `--server` (or `[client] server`); an error if neither is given.
    pub fn connect(cli: &Cli, file: &FileConfig, what: &str) -> CliResult<Self> {
        match cli.server.clone().or_else(|| file.client.server.clone()) {
            Some(url) => Self::new(&url, file, cli),
            None => Err(CliError::input(anyhow!(
                "`{what}` talks to a running `custos up`: give --server URL (or CUSTOS_SERVER) and the admin token"
            ))),
        }
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> CliResult<T> {
        let req = self.http.get(format!("{}{path}", self.base)).query(query);
        self.finish(req).await
    }

    pub async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        actor: &Actor,
        body: Option<&B>,
    ) -> CliResult<T> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(custos_server::ACTOR_HEADER, actor.id.as_str());
        if let Some(b) = body {
            req = req.json(b);
        }
        self.finish(req).await
    }

    async fn finish<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> CliResult<T> {
        let resp = req
            .bearer_auth(self.token.expose())
            .send()
            .await
            .map_err(|e| CliError::env(anyhow!("cannot reach the custos server at {}: {e}", self.base)))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| CliError::env(anyhow!("reading the server's answer: {e}")))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| CliError::env(anyhow!("the server's answer is not what this custos expects: {e}")));
        }
        let message = serde_json::from_slice::<ErrorBody>(&bytes)
            .map(|b| b.error.message)
            .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).chars().take(300).collect());
        let code = match status.as_u16() {
            401 => Code::Error,
            400..=499 => Code::Input,
            _ => Code::Error,
        };
        Err(CliError { code, source: anyhow!("{message} (HTTP {})", status.as_u16()) })
    }
}

//! `/api/v1/ledger`: checkpoints, proofs, consistency, verification.

use std::sync::Arc;

use axum::{Json, extract::State};
use custos_ledger::SignedCheckpoint;
use custos_store::{VerifyReport, no_progress};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    AppState,
    error::{ApiError, ErrorBody},
    extract::ApiQuery,
};

type St = State<Arc<AppState>>;

/// A signed checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckpointView {
    pub size: u64,
    /// The tree root, base64.
    pub root: String,
    /// The C2SP signed note, verbatim.
    pub note: String,
}

impl From<&SignedCheckpoint> for CheckpointView {
    fn from(cp: &SignedCheckpoint) -> Self {
        Self { size: cp.checkpoint.size, root: cp.checkpoint.root.to_base64(), note: cp.note.clone() }
    }
}

/// The ledger at a glance.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LedgerSummary {
    pub origin: String,
    /// The C2SP verifier key that signs checkpoints.
    pub verifier_key: String,
    pub size: u64,
    pub latest_checkpoint: Option<CheckpointView>,
}

/// The ledger's size, origin, key and latest checkpoint.
#[utoipa::path(get, path = "/api/v1/ledger", tag = "ledger",
    responses((status = 200, description = "Summary", body = LedgerSummary)))]
pub async fn summary(State(st): St) -> Result<Json<LedgerSummary>, ApiError> {
    let store = st.registry.store();
    Ok(Json(LedgerSummary {
        origin: st.verifier.name().to_string(),
        verifier_key: st.verifier.encode(),
        size: store.size().await?,
        latest_checkpoint: store.latest_checkpoint().await?.as_ref().map(CheckpointView::from),
    }))
}

/// The latest signed checkpoint.
#[utoipa::path(get, path = "/api/v1/ledger/checkpoint", tag = "ledger",
    responses((status = 200, description = "The latest checkpoint", body = CheckpointView),
              (status = 404, description = "None signed yet", body = ErrorBody)))]
pub async fn checkpoint(State(st): St) -> Result<Json<CheckpointView>, ApiError> {
    let cp = st
        .registry
        .store()
        .latest_checkpoint()
        .await?
        .ok_or_else(|| ApiError::not_found("no checkpoint has been signed yet"))?;
    Ok(Json(CheckpointView::from(&cp)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ProofParams {
    /// The entry's index.
    pub index: u64,
    /// Prove against the signed checkpoint of this size (default: the latest).
    pub size: Option<u64>,
}

/// An inclusion proof.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProofView {
    pub index: u64,
    /// Sibling hashes, base64, leaf to root.
    pub proof: Vec<String>,
    pub checkpoint: CheckpointView,
    /// The same proof as a C2SP tlog-proof file.
    pub tlog_proof: String,
}

/// The inclusion proof of one entry against a signed checkpoint.
#[utoipa::path(get, path = "/api/v1/ledger/proof", tag = "ledger", params(ProofParams),
    responses((status = 200, description = "The proof", body = ProofView),
              (status = 404, description = "No such checkpoint", body = ErrorBody)))]
pub async fn proof(State(st): St, ApiQuery(p): ApiQuery<ProofParams>) -> Result<Json<ProofView>, ApiError> {
    let file = st.registry.store().proof_file(p.index, p.size).await?;
    let cp =
        SignedCheckpoint::open(&file.checkpoint_note, &st.verifier).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(ProofView {
        index: file.index,
        proof: file.proof.iter().map(|h| h.to_base64()).collect(),
        checkpoint: CheckpointView::from(&cp),
        tlog_proof: file.to_text(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyParams {
    /// The older tree size.
    pub from: u64,
    /// The newer tree size.
    pub to: u64,
}

/// A consistency proof.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyView {
    pub from: u64,
    pub to: u64,
    pub from_root: String,
    pub to_root: String,
    pub proof: Vec<String>,
}

/// The consistency proof between two tree sizes.
#[utoipa::path(get, path = "/api/v1/ledger/consistency", tag = "ledger", params(ConsistencyParams),
    responses((status = 200, description = "The proof", body = ConsistencyView)))]
pub async fn consistency(
    State(st): St,
    ApiQuery(p): ApiQuery<ConsistencyParams>,
) -> Result<Json<ConsistencyView>, ApiError> {
    if p.from > p.to {
        return Err(ApiError::invalid("from: must not be larger than `to`"));
    }
    let store = st.registry.store();
    let proof = store.consistency_proof(p.from, p.to).await?;
    Ok(Json(ConsistencyView {
        from: p.from,
        to: p.to,
        from_root: store.tree_hash(p.from).await?.to_base64(),
        to_root: store.tree_hash(p.to).await?.to_base64(),
        proof: proof.iter().map(|h| h.to_base64()).collect(),
    }))
}

/// The outcome of a verification.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyView {
    pub verified: bool,
    /// Entries stored.
    pub entries: u64,
    pub entries_verified: u64,
    pub checkpoints: u64,
    pub latest_checkpoint: Option<u64>,
    pub root: String,
    pub first_bad_index: Option<u64>,
    /// Every failure, lowest index first.
    pub failures: Vec<String>,
    /// When it ran (RFC 3339).
    pub at: String,
}

impl VerifyView {
    fn new(r: &VerifyReport) -> Self {
        Self {
            verified: r.verified(),
            entries: r.stored,
            entries_verified: r.entries,
            checkpoints: r.checkpoints,
            latest_checkpoint: r.latest_checkpoint,
            root: r.root.to_base64(),
            first_bad_index: r.first_bad_entry(),
            failures: r.failures.iter().map(|f| f.to_string()).collect(),
            at: custos_core::Timestamp::now().to_string(),
        }
    }
}

/// The result of the latest verification (run at start-up and on `POST`).
#[utoipa::path(get, path = "/api/v1/ledger/verify", tag = "ledger",
    responses((status = 200, description = "The latest result", body = VerifyView),
              (status = 404, description = "Not verified yet", body = ErrorBody)))]
pub async fn verify_status(State(st): St) -> Result<Json<VerifyView>, ApiError> {
    st.last_verify
        .lock()
        .await
        .clone()
        .map(Json)
        .ok_or_else(|| ApiError::not_found("the ledger has not been verified yet; POST to run it"))
}

/// Verify the whole ledger now: every leaf, node and checkpoint.
#[utoipa::path(post, path = "/api/v1/ledger/verify", tag = "ledger",
    responses((status = 200, description = "The result (`verified` says whether it passed)", body = VerifyView)))]
pub async fn verify(State(st): St) -> Result<Json<VerifyView>, ApiError> {
    Ok(Json(run_verify(&st).await?))
}

pub(crate) async fn run_verify(st: &AppState) -> Result<VerifyView, ApiError> {
    let report = st.registry.store().verify(&st.verifier, no_progress()).await?;
    let view = VerifyView::new(&report);
    *st.last_verify.lock().await = Some(view.clone());
    Ok(view)
}

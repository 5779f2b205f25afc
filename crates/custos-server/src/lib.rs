//! custos-server: what `custos up` serves.
//!
//! The admin API under `/api/v1` (the registry and the ledger) with an OpenAPI document that
//! is generated from the same handler declarations that build the router ([`utoipa_axum`]), so
//! a route cannot exist without being in the document, and the document cannot describe a
//! route that does not exist.
//!
//! Every request, to any path, passes the admin-token check before routing: the layer wraps
//! the whole router including its fallback, so a route added later is protected without anyone
//! remembering to protect it (a test enumerates the document's routes to prove it).

mod error;
mod extract;
mod routes;

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::{DefaultBodyLimit, Request, State},
    http::{HeaderValue, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use custos_ledger::NoteVerifier;
use custos_registry::Registry;
use custos_store::RegistryStore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::{net::TcpListener, sync::Mutex};
use utoipa::{
    Modify, OpenApi,
    openapi::{
        self, Components, ContentBuilder, RefOr, ResponseBuilder,
        path::{HttpMethod, ParameterBuilder, ParameterIn},
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};
use utoipa_axum::{router::OpenApiRouter, routes};

pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use extract::ACTOR_HEADER;
pub use routes::ledger::{CheckpointView, ConsistencyView, LedgerSummary, ProofView, VerifyView};
pub use routes::protect::{DEFAULT_KILL_REASON, Decision, KillRequest, Killed, LabelRequest};

/// The syntax of an agent id (custos_core::AgentId), as a regular expression.
pub const AGENT_ID_PATTERN: &str = "^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)*$";

/// Largest request body.
pub const MAX_BODY: usize = 64 * 1024;

/// How often credential last-used times are written back.
pub const USAGE_FLUSH: Duration = Duration::from_secs(5);

/// What every handler shares.
pub struct AppState {
    pub registry: Arc<Registry<dyn RegistryStore>>,
    /// SHA-256 of the admin token.
    admin_token_sha256: [u8; 32],
    /// Verifies this ledger's checkpoints.
    pub verifier: NoteVerifier,
    last_verify: Mutex<Option<VerifyView>>,
    openapi_json: std::sync::OnceLock<String>,
    /// The MCP gateway, when `[[servers]]` are configured.
    pub gateway: Option<Arc<custos_gateway::Gateway>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("verifier", &self.verifier.encode()).finish_non_exhaustive()
    }
}

impl AppState {
    pub fn new(
        registry: Arc<Registry<dyn RegistryStore>>,
        admin_token_sha256: [u8; 32],
        verifier: NoteVerifier,
    ) -> Arc<Self> {
        Self::build(registry, admin_token_sha256, verifier, None)
    }

    /// The same, serving the MCP gateway too.
    pub fn with_gateway(
        registry: Arc<Registry<dyn RegistryStore>>,
        admin_token_sha256: [u8; 32],
        verifier: NoteVerifier,
        gateway: Arc<custos_gateway::Gateway>,
    ) -> Arc<Self> {
        Self::build(registry, admin_token_sha256, verifier, Some(gateway))
    }

    fn build(
        registry: Arc<Registry<dyn RegistryStore>>,
        admin_token_sha256: [u8; 32],
        verifier: NoteVerifier,
        gateway: Option<Arc<custos_gateway::Gateway>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            registry,
            admin_token_sha256,
            verifier,
            last_verify: Mutex::new(None),
            openapi_json: std::sync::OnceLock::new(),
            gateway,
        })
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "custos admin API", description = "The agent registry, the evidence ledger and the MCP gateway's protections. Every route needs the admin token (`Authorization: Bearer custos_admin_…`)."),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&Security),
    tags((name = "agents"), (name = "tokens"), (name = "owners"), (name = "ledger"), (name = "gateway"), (name = "protect"), (name = "meta"))
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, api: &mut openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Components::new);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        api.security = Some(vec![openapi::security::SecurityRequirement::new("admin_token", Vec::<String>::new())]);
    }
}

/// This API's OpenAPI document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", body = Object)))]
async fn openapi_doc(State(st): State<Arc<AppState>>) -> Response {
    let body = st.openapi_json.get().cloned().unwrap_or_default();
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

/// The router and its OpenAPI document, built from the same declarations.
pub fn router(state: Arc<AppState>) -> (Router, openapi::OpenApi) {
    use routes::{agents, ledger};
    let (router, mut api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(agents::list, agents::register))
        .routes(routes!(agents::get, agents::update))
        .routes(routes!(agents::change_owner))
        .routes(routes!(agents::approve))
        .routes(routes!(agents::suspend))
        .routes(routes!(agents::resume))
        .routes(routes!(agents::retire))
        .routes(routes!(agents::history))
        .routes(routes!(agents::tokens, agents::issue_token))
        .routes(routes!(agents::revoke_token))
        .routes(routes!(agents::owners))
        .routes(routes!(agents::offboard))
        .routes(routes!(ledger::summary))
        .routes(routes!(ledger::checkpoint))
        .routes(routes!(ledger::proof))
        .routes(routes!(ledger::consistency))
        .routes(routes!(ledger::verify_status, ledger::verify))
        .routes(routes!(openapi_doc))
        .routes(routes!(routes::gateway::status))
        .routes(routes!(routes::gateway::reload))
        .routes(routes!(routes::protect::kill))
        .routes(routes!(routes::protect::approvals))
        .routes(routes!(routes::protect::approve))
        .routes(routes!(routes::protect::deny))
        .routes(routes!(routes::protect::tools))
        .routes(routes!(routes::protect::approve_tool))
        .routes(routes!(routes::protect::label_tool))
        .split_for_parts();
    add_common_responses(&mut api);
    let json = api.to_json().unwrap_or_default();
    let _ = state.openapi_json.set(json);
    let router = router
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        // Outermost: nothing runs, not even routing, before the token is checked.
        .layer(middleware::from_fn_with_state(state.clone(), require_admin))
        .with_state(state);
    (router, api)
}

/// Adds the responses every operation can give (bad input, no token, failure; for bodies also
/// too large and wrong media type) and the actor header, so the document states them once.
fn add_common_responses(api: &mut openapi::OpenApi) {
    let error = |d: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(d)
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(openapi::Ref::from_schema_name("ErrorBody"))).build(),
                )
                .build(),
        )
    };
    for item in api.paths.paths.values_mut() {
        for (method, op) in [
            (HttpMethod::Get, item.get.as_mut()),
            (HttpMethod::Post, item.post.as_mut()),
            (HttpMethod::Patch, item.patch.as_mut()),
        ] {
            let Some(op) = op else { continue };
            // Path parameters get the syntax their parser accepts, so clients (and fuzzers)
            // know what a well-formed value is.
            for p in op.parameters.iter_mut().flatten() {
                if p.parameter_in != ParameterIn::Path {
                    continue;
                }
                let pattern = match p.name.as_str() {
                    "id" => AGENT_ID_PATTERN,
                    "owner" => r"^\S{1,128}$",
                    "credential" => "^cred_[0-9a-f]{16}$",
                    "approval" => "^apr_[0-9a-f]{24}$",
                    // A server name (as `[[servers]]` allows it), a dot, the upstream's tool name.
                    "qualified" => r"^[a-z0-9_-]{1,64}\..+$",
                    _ => continue,
                };
                p.schema = Some(RefOr::T(openapi::Schema::Object(
                    openapi::ObjectBuilder::new().schema_type(openapi::Type::String).pattern(Some(pattern)).build(),
                )));
            }
            let r = &mut op.responses.responses;
            r.entry("400".into()).or_insert_with(|| error("Invalid input; the message names the field"));
            r.entry("401".into()).or_insert_with(|| error("Missing or wrong admin token"));
            r.entry("500".into()).or_insert_with(|| error("custos failed"));
            if op.request_body.is_some() {
                r.entry("413".into()).or_insert_with(|| error("Body over 64 KiB"));
                r.entry("415".into()).or_insert_with(|| error("Body is not `application/json`"));
            }
            if method != HttpMethod::Get && op.request_body.is_some() {
                let actor = ParameterBuilder::new()
                    .name("X-Custos-Actor")
                    .parameter_in(ParameterIn::Header)
                    .description(Some("Who to record as the actor (default `admin`)"))
                    .schema(Some(
                        openapi::ObjectBuilder::new().schema_type(openapi::Type::String).pattern(Some(r"^\S{1,128}$")),
                    ))
                    .build();
                op.parameters.get_or_insert_with(Vec::new).push(actor);
            }
        }
    }
}

async fn require_admin(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        // The scheme name is case-insensitive (RFC 9110 §11.1).
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| Sha256::digest(t.trim().as_bytes()));
    // Compare digests in constant time: the time taken says nothing about how much matched.
    let ok = presented.is_some_and(|d| bool::from(d.as_slice().ct_eq(&st.admin_token_sha256)));
    if !ok {
        return ApiError::unauthorized().into_response();
    }
    next.run(req).await
}

/// Serves until `shutdown` resolves, then stops accepting, lets requests in flight finish,
/// writes the last credential use times and closes the store (flushing pending appends and
/// signing a final checkpoint).
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (mut router, _) = router(state.clone());
    if let Some(gw) = &state.gateway {
        // The MCP endpoints authenticate agents themselves; the admin token guards the rest.
        router = gw.router().merge(router);
    }
    let flusher = {
        let st = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(USAGE_FLUSH);
            loop {
                tick.tick().await;
                if let Err(e) = st.registry.flush_usage().await {
                    eprintln!("custos: writing credential use times failed: {e}");
                }
            }
        })
    };
    {
        // The status endpoint starts with a real answer, not "never verified".
        let st = state.clone();
        tokio::spawn(async move {
            if let Err(e) = routes::ledger::run_verify(&st).await {
                eprintln!("custos: start-up verification failed to run: {}", e.message);
            }
        });
    }
    // Small JSON-RPC answers and event-stream chunks must not wait for Nagle's algorithm (with
    // the client's delayed ACK that is ~40 ms per exchange).
    let listener = axum::serve::ListenerExt::tap_io(listener, |s: &mut tokio::net::TcpStream| {
        let _ = s.set_nodelay(true);
    });
    let served = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await;
    flusher.abort();
    if let Err(e) = state.registry.flush_usage().await {
        eprintln!("custos: writing credential use times failed: {e}");
    }
    if let Err(e) = state.registry.store().close().await {
        eprintln!("custos: closing the ledger failed: {e}");
    }
    served
}

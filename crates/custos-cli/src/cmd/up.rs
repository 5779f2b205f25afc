//! `custos up`: the long-running service on loopback.
//!
//! On first run it creates the data dir (showing the admin token once). It serves until SIGINT
//! or SIGTERM, then stops accepting, lets requests in flight finish, and closes the ledger,
//! which commits every pending append and signs a final checkpoint.

use std::{net::SocketAddr, sync::Arc};

use anyhow::anyhow;
use custos_registry::Registry;
use custos_server::AppState;
use custos_store::{RegistryStore, sqlite::SqliteStore};

use crate::{
    cli::{Cli, InitArgs, UpArgs},
    cmd::init,
    config,
    datadir::DataDir,
    error::{CliError, CliResult, Code},
};

pub async fn run(cli: &Cli, args: &UpArgs) -> CliResult<Code> {
    // Everything that can be refused is checked before anything is created.
    let addr = listen_addr(args, &config::load(cli)?)?;
    if !cli.data_dir.exists() {
        let created = init::create(cli, &InitArgs { origin: None }).await?;
        if cli.json {
            println!("{}", serde_json::to_string(&created).unwrap_or_default());
        } else {
            init::print_created(&created);
            println!();
        }
    }
    let file = config::load(cli)?;
    let services = start(cli, &file).await?;
    let Services { store, state, decoy, dir } = services;
    let schedules = crate::cmd::probe::spawn_schedules(cli, &file, store.clone(), decoy.clone())?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| CliError::env(anyhow!("cannot listen on {addr}: {e}")))?;
    let bound = listener.local_addr().map_err(|e| CliError::env(anyhow!("{e}")))?;
    if cli.json {
        println!(
            "{}",
            serde_json::json!({"listening": format!("http://{bound}"), "data_dir": dir.path.display().to_string()})
        );
    } else {
        println!("custos up: admin API on http://{bound}/api/v1 (data dir `{}`)", dir.path.display());
        if state.gateway.is_some() {
            println!("custos up: MCP gateway on http://{bound}/mcp and http://{bound}/mcp/<server>");
        }
        println!("stop with Ctrl-C (SIGINT) or SIGTERM; pending appends are flushed first");
    }
    // On a signal the gateway first ends its own waits (held calls are cancelled and recorded,
    // calls in flight and event streams end), so the graceful shutdown does not wait on them.
    let gateway = state.gateway.clone();
    let shutdown = async move {
        shutdown_signal().await;
        if let Some(g) = gateway {
            g.stop().await;
        }
    };
    custos_server::serve(listener, state, shutdown)
        .await
        .map_err(|e| CliError::env(anyhow!("the server failed: {e}")))?;
    for h in schedules {
        h.abort();
    }
    drop(decoy);
    let size = custos_store::Store::size(store.as_ref()).await.ok();
    if !cli.json {
        println!("custos up: stopped; ledger closed{}", size.map(|s| format!(" at {s} entries")).unwrap_or_default());
    }
    Ok(Code::Ok)
}

/// What `custos up` (and `custos probe run`) run: the ledger, the registry, the admin API
/// and, when configured, the gateway with the built-in decoy attached.
pub struct Services {
    pub store: Arc<SqliteStore>,
    pub state: Arc<AppState>,
    /// The decoy MCP server, when `[[targets]]` name an agent to probe.
    pub decoy: Option<Arc<custos_probe::decoy::Decoy>>,
    pub dir: DataDir,
}

/// Opens the data dir and starts everything but the listener.
pub async fn start(cli: &Cli, file: &config::FileConfig) -> CliResult<Services> {
    let dir = DataDir::open(&cli.data_dir)?;
    let store = SqliteStore::open(&dir.db(), dir.signer()?, config::store_options(cli, file)).map_err(|e| match e {
        custos_store::StoreError::Locked { .. } => CliError::env(anyhow!(
            "{e}\nhint: is `custos up` running on this data dir? stop it first, or let its [[schedules]] run the campaign"
        )),
        e => e.into(),
    })?;
    let verifier = dir.verifier(None)?;
    let admin = dir.admin_token_sha256()?;
    let store = Arc::new(store);
    let registry = Arc::new(Registry::open(store.clone() as Arc<dyn RegistryStore>).await?);
    let mut servers = file.servers.clone();
    let mut policy = file.policy.clone();
    // Policy files are relative to the config file.
    let base = config::path(cli).parent().map(std::path::Path::to_path_buf).unwrap_or_default();
    policy.files = policy.files.iter().map(|f| base.join(f)).collect();
    let decoy = if file.targets.iter().any(|t| t.kind != custos_probe::target::TargetKind::Mcp) {
        let name = file.probe.decoy_server();
        if servers.iter().any(|s| s.name == name) {
            return Err(CliError::input(anyhow!(
                "[[servers]] already has `{name}`, the name the probe decoy takes; set [probe] decoy_server to another name"
            )));
        }
        let listen = file.probe.decoy_listen.clone().unwrap_or_else(|| "127.0.0.1:0".into());
        let addr: SocketAddr = listen.parse().ok().filter(|a: &SocketAddr| a.ip().is_loopback()).ok_or_else(|| {
            CliError::input(anyhow!("[probe] decoy_listen: `{listen}` is not a loopback address and port"))
        })?;
        let decoy = custos_probe::decoy::Decoy::start(
            addr,
            custos_probe::decoy::DecoyConfig {
                content: Default::default(),
                default_text: custos_probe::campaign::BENIGN_TEXT.into(),
            },
        )
        .await
        .map_err(|e| CliError::env(anyhow!("the probe decoy: {e}")))?;
        servers.push(custos_gateway::config::ServerConfig {
            name: name.clone(),
            url: Some(decoy.url()),
            credential: None,
            command: None,
            args: Vec::new(),
            env: Default::default(),
            session_meta: true,
        });
        // The decoy's tools do nothing (sinks record and return), so every agent may call
        // them: a campaign judges the attempt, and a denied read would leave nothing to judge.
        let permit = dir.path.join("probe-decoy.cedar");
        std::fs::write(
            &permit,
            format!(
                "// Written by custos: agents under test may call the probe decoy's tools, which do nothing.\n\
                 @id(\"custos-probe-decoy\")\npermit(principal, action in Action::\"CallTool\", resource) when {{ resource.server == \"{name}\" }};\n"
            ),
        )
        .map_err(|e| CliError::env(anyhow!("cannot write `{}`: {e}", permit.display())))?;
        policy.files.push(permit);
        Some(Arc::new(decoy))
    } else {
        None
    };
    let state = if servers.is_empty() {
        AppState::new(registry, admin, verifier)
    } else {
        let (session_key, salt) = dir.gateway_keys()?;
        let parts = custos_gateway::Parts {
            servers,
            policy,
            gateway: file.gateway.clone(),
            verifier: registry.verifier(),
            store: store.clone(),
            protect: file.protect.clone(),
            session_key,
            salt,
        };
        let gateway =
            custos_gateway::Gateway::start(parts).await.map_err(|e| CliError::input(anyhow!("gateway: {e}")))?;
        // Reload within a second of a policy file changing.
        gateway.watch_policies(std::time::Duration::from_secs(1));
        if !cli.json {
            let status = gateway.status();
            for s in status.get("servers").and_then(serde_json::Value::as_array).into_iter().flatten() {
                let f = |k: &str| s.get(k).cloned().unwrap_or_default();
                eprintln!(
                    "  upstream {}: {} ({} tools)",
                    f("name").as_str().unwrap_or("?"),
                    f("transport").as_str().unwrap_or("?"),
                    f("tools")
                );
            }
        }
        AppState::with_gateway(registry, admin, verifier, gateway)
    };
    Ok(Services { store, state, decoy, dir })
}

/// The address to listen on: `--listen` (or its env), else `[server] listen`, else the
/// default. Loopback only.
pub fn listen_addr(args: &UpArgs, file: &config::FileConfig) -> CliResult<SocketAddr> {
    let listen = args.listen.clone().or(file.server.listen.clone()).unwrap_or_else(|| config::DEFAULT_LISTEN.into());
    let addr: SocketAddr = listen.parse().map_err(|e| {
        CliError::input(anyhow!("--listen: `{listen}` is not an address and port such as 127.0.0.1:7070 ({e})"))
    })?;
    if !addr.ip().is_loopback() {
        return Err(CliError::input(anyhow!(
            "--listen: `{addr}` is not a loopback address; the admin API has no TLS yet, so it only listens on 127.0.0.0/8 or ::1"
        )));
    }
    Ok(addr)
}

pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

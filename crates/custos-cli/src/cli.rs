//! The command line, declared with clap. Every flag that has an environment variable names it
//! here, so `--help` documents the whole precedence (flag > env > file > default).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::env;

#[derive(Debug, Parser)]
#[command(name = "custos", version, about = "custos: the agent trust layer", propagate_version = true)]
pub struct Cli {
    /// The data directory.
    #[arg(long, global = true, env = env::DATA_DIR, default_value = "./custos-data")]
    pub data_dir: PathBuf,

    /// The configuration file (default: custos.toml in the data directory).
    #[arg(long, global = true, env = env::CONFIG)]
    pub config: Option<PathBuf>,

    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    /// Sign a checkpoint at most this often while entries arrive (milliseconds).
    #[arg(long, global = true, env = env::CHECKPOINT_INTERVAL_MS, hide_short_help = true)]
    pub checkpoint_interval_ms: Option<u64>,

    /// The most entries one transaction takes (group commit).
    #[arg(long, global = true, env = env::MAX_BATCH, hide_short_help = true)]
    pub max_batch: Option<usize>,

    /// Act through a running `custos up` at this URL (e.g. `http://127.0.0.1:7070`) instead of
    /// on the data directory. The admin token comes from CUSTOS_ADMIN_TOKEN or the config's
    /// `[client] admin_token_file`.
    #[arg(long, global = true, env = env::SERVER)]
    pub server: Option<String>,

    /// Who to record as the actor of the events this command appends (default: $USER, else
    /// `operator`).
    #[arg(long, global = true, env = env::ACTOR)]
    pub actor: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a data directory: signing key, admin token, sample config, empty ledger.
    Init(InitArgs),
    /// The evidence ledger: append, verify, prove, export.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// The agent registry: register, list, show, update, lifecycle, tokens.
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Owners: list them, offboard one who left.
    #[command(subcommand)]
    Owner(OwnerCommand),
    /// Run the service: the admin API and the MCP gateway on loopback.
    Up(UpArgs),
    /// The MCP gateway of a running `custos up` (needs --server).
    #[command(subcommand)]
    Gateway(GatewayCommand),
    /// Policies of a running `custos up` (needs --server).
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Calls the gateway holds for a human: list, approve, deny (needs --server).
    #[command(subcommand)]
    Approvals(ApprovalsCommand),
    /// Tools the gateway has seen, their pins and quarantines; approve a changed one (needs
    /// --server).
    #[command(subcommand)]
    Tools(ToolsCommand),
    /// Find the MCP servers configured in agent clients (Claude, Cursor, VS Code, Codex, Zed,
    /// and more) and the credentials in their configs, statically: nothing is run. Exit 2 when a
    /// credential is exposed.
    Discover(DiscoverArgs),
    /// Export an agent's evidence as a signed bundle (DSSE over an in-toto Statement) that
    /// verifies offline with only the instance's public key.
    Attest(AttestArgs),
    /// Verify an evidence bundle offline: exit 0 verified, 2 not verified (the failed part is
    /// named), 3 unreadable bundle or key.
    Verify(VerifyBundleArgs),
    /// Compliance controls and what in the ledger evidences them.
    #[command(subcommand)]
    Controls(ControlsCommand),
    /// The whole estate: every agent in the registry and the tools the gateway saw them call,
    /// as CycloneDX or JSON (read-only: works beside a running `custos up`).
    Inventory(InventoryArgs),
    /// Adversarial probes (validation): the packs and their probes.
    #[command(subcommand)]
    Probe(ProbeCommand),
}

#[derive(Debug, Subcommand)]
pub enum ProbeCommand {
    /// The probes of a pack (default: the built-in pack), with their OWASP and ATLAS ids.
    List(ProbeListArgs),
    /// Runs a pack against a `[[targets]]` entry through the gateway, judges every trial by
    /// what the agent did there, and records the results. Exit 2 on a regression (a probe
    /// resisted in the previous run of the target and compromised now).
    Run(ProbeRunArgs),
    /// Past runs of a target, from the ledger (read-only: works beside a running `custos up`).
    History(ProbeHistoryArgs),
    /// Serves a reference agent: an OpenAI-compatible chat endpoint whose tools are called
    /// over MCP (through the gateway). `naive` follows instructions wherever it finds them;
    /// `hardened` treats tool results and memory as data. The agent's token is read from
    /// `CUSTOS_AGENT_TOKEN` or `--token-file`, never from the command line.
    Refagent(RefagentArgs),
    /// Converts a published benchmark's attacks into a custos probe pack.
    #[command(subcommand)]
    Import(ProbeImportCommand),
}

#[derive(Debug, Subcommand)]
pub enum ProbeImportCommand {
    /// AgentDojo's injection tasks, from the JSON that `tools/agentdojo/export.py` writes
    /// from the installed `agentdojo` package. Tasks whose goal no decoy sink can observe are
    /// listed as skipped, with the reason.
    Agentdojo(AgentdojoArgs),
}

#[derive(Debug, Args)]
pub struct AgentdojoArgs {
    /// The export file.
    #[arg(long)]
    pub export: std::path::PathBuf,
    /// The suite to convert (`workspace`, `banking`, `slack`, `travel`).
    #[arg(long)]
    pub suite: String,
    /// Write the pack here (default: standard output).
    #[arg(long, short = 'o')]
    pub output: Option<std::path::PathBuf>,
}

/// Output formats of `custos probe run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProbeFormat {
    Table,
    Json,
    Junit,
    Sarif,
}

#[derive(Debug, Args)]
pub struct ProbeRunArgs {
    /// The target's name in `[[targets]]`.
    #[arg(long)]
    pub target: String,
    /// A probe pack file (TOML) instead of the built-in one.
    #[arg(long)]
    pub pack: Option<std::path::PathBuf>,
    /// Trials per probe (each with a fresh canary).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub trials: u32,
    /// Trials in flight at once.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub concurrency: u32,
    /// Most requests to send to the target in this run (default: no limit).
    #[arg(long)]
    pub max_requests: Option<u64>,
    #[arg(long, value_enum, default_value_t = ProbeFormat::Table)]
    pub format: ProbeFormat,
    /// Write the report here instead of standard output.
    #[arg(long, short = 'o')]
    pub output: Option<std::path::PathBuf>,
    /// Also write the same run as JSON to this file (CI keeps several renderings of one run).
    #[arg(long)]
    pub json_out: Option<std::path::PathBuf>,
    /// Also write the same run as JUnit XML to this file.
    #[arg(long)]
    pub junit_out: Option<std::path::PathBuf>,
    /// Also write the same run as SARIF 2.1.0 to this file.
    #[arg(long)]
    pub sarif_out: Option<std::path::PathBuf>,
    /// Where the gateway listens during the run (default: as `custos up`).
    #[arg(long, env = env::LISTEN)]
    pub listen: Option<String>,
}

#[derive(Debug, Args)]
pub struct ProbeHistoryArgs {
    /// The target's name in `[[targets]]`.
    #[arg(long)]
    pub target: String,
}

/// The reference agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RefKind {
    Naive,
    Hardened,
}

#[derive(Debug, Args)]
pub struct RefagentArgs {
    #[arg(long, value_enum)]
    pub kind: RefKind,
    /// Where to serve `POST /v1/chat/completions` (loopback only).
    #[arg(long, default_value = "127.0.0.1:7301")]
    pub listen: String,
    /// The MCP endpoint its tools are at: the gateway, e.g. http://127.0.0.1:7070/mcp/decoy.
    #[arg(long)]
    pub mcp: String,
    /// A file holding the agent's gateway token (else `CUSTOS_AGENT_TOKEN`).
    #[arg(long)]
    pub token_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct ProbeListArgs {
    /// A probe pack file (TOML) instead of the built-in one.
    #[arg(long)]
    pub pack: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// Directories to scan. Every source is auto-detected under them: agent code, agent-client
    /// configs, Terraform, Kubernetes manifests, logs, OTLP traces, and credentials in any file.
    pub paths: Vec<std::path::PathBuf>,
    /// Scan the agent-client configs of a home directory (default `$HOME`; also the default
    /// when nothing else is named).
    #[arg(long, num_args = 0..=1, default_missing_value = "")]
    pub home: Option<std::path::PathBuf>,
    /// Kubernetes manifests to scan (a directory or file).
    #[arg(long, value_name = "DIR")]
    pub k8s: Vec<std::path::PathBuf>,
    /// Infrastructure as code to scan: Terraform and CloudFormation (a directory or file).
    #[arg(long, value_name = "DIR")]
    pub iac: Vec<std::path::PathBuf>,
    /// Proxy, DNS or egress logs: Squid, Zeek (TSV or JSON) or JSON lines with a host field.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub logs: Vec<std::path::PathBuf>,
    /// OTLP JSON trace files with GenAI spans.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub otel: Vec<std::path::PathBuf>,
    /// Include the agents and tools seen at the gateway (read from the data dir's ledger).
    #[arg(long)]
    pub from_gateway: bool,
    /// Append `discovery.run`, `discovery.finding` and `agent.discovered` events to the ledger.
    #[arg(long)]
    pub record: bool,
    /// A registered agent not seen for this many days is labelled stale.
    #[arg(long, default_value_t = 30)]
    pub stale_days: u32,
    /// A directory of catalogue files; each one present replaces the built-in one of that name.
    #[arg(long)]
    pub catalog: Option<std::path::PathBuf>,
    /// Do not read or write the content-hash cache in the data dir.
    #[arg(long)]
    pub no_cache: bool,
    /// Files larger than this many bytes are skipped (and reported).
    #[arg(long, default_value_t = 8 * 1024 * 1024)]
    pub max_file_size: u64,
    /// `table` (default), `json` (also `--json`), `sarif` or `cyclonedx`.
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Write the report here instead of standard output.
    #[arg(short = 'o', long)]
    pub output: Option<std::path::PathBuf>,
}

/// What `custos attest` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AttestFormat {
    /// The signed bundle (DSSE envelope), or JSON Lines of them with `--all`.
    Bundle,
    /// OSCAL assessment-results of the bundle's control coverage.
    Oscal,
    /// A self-contained HTML report of the bundle.
    Html,
}

/// An RFC 3339 time, as `--from`/`--to` take it.
fn parse_time(s: &str) -> Result<custos_core::Timestamp, String> {
    s.parse().map_err(|_| format!("`{s}` is not an RFC 3339 time (e.g. 2026-01-02T03:04:05Z)"))
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("subject").required(true).args(["agent", "all"])))]
pub struct AttestArgs {
    /// The agent whose evidence to export, e.g. `payments/refund-bot`.
    #[arg(long)]
    pub agent: Option<String>,
    /// One bundle per registered agent (every state but `discovered`), as JSON Lines
    /// (`.intoto.jsonl`, one envelope per line), all under one checkpoint.
    #[arg(long)]
    pub all: bool,
    /// The first ledger index of the window (default: the agent's first event).
    #[arg(long)]
    pub from_index: Option<u64>,
    /// The last ledger index of the window (default: now).
    #[arg(long)]
    pub to_index: Option<u64>,
    /// Only events at or after this time (RFC 3339, e.g. `2026-01-01T00:00:00Z`).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub from: Option<custos_core::Timestamp>,
    /// Only events at or before this time (RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub to: Option<custos_core::Timestamp>,
    /// The previous bundle for this agent: the new one then carries a consistency proof from
    /// its checkpoint, so an auditor sees nothing was dropped between the two.
    #[arg(long, conflicts_with = "all")]
    pub previous: Option<std::path::PathBuf>,
    /// What to write: the bundle, OSCAL assessment-results, or an HTML report. The bundle is
    /// made and anchored in the ledger whatever the format.
    #[arg(long, value_enum, default_value_t = AttestFormat::Bundle)]
    pub format: AttestFormat,
    /// With `--format oscal|html`: also keep the signed bundle in this file.
    #[arg(long, value_name = "FILE")]
    pub bundle: Option<std::path::PathBuf>,
    /// Write the output here (default: standard output).
    #[arg(short = 'o', long)]
    pub output: Option<std::path::PathBuf>,
}

/// What `custos inventory` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InventoryFormat {
    /// A CycloneDX 1.6 JSON BOM.
    Cyclonedx,
    /// custos's own JSON: records, tools, a summary.
    Json,
}

#[derive(Debug, Args)]
pub struct InventoryArgs {
    #[arg(long, value_enum, default_value_t = InventoryFormat::Cyclonedx)]
    pub format: InventoryFormat,
    /// Write the inventory here (default: standard output).
    #[arg(short = 'o', long)]
    pub output: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ControlsCommand {
    /// Each control as evidenced / partial / no evidence, with the events behind it.
    Coverage(CoverageArgs),
}

#[derive(Debug, Args)]
pub struct CoverageArgs {
    /// Only this framework: owasp-asi, owasp-nhi, nist-ai-rmf, nist-csf, eu-ai-act, iso-42001.
    #[arg(long)]
    pub framework: Option<String>,
    /// Only the events about this agent (and the instance-wide ones: pins, discovery, exports).
    #[arg(long)]
    pub agent: Option<String>,
}

#[derive(Debug, Args)]
pub struct VerifyBundleArgs {
    /// The bundle (a DSSE envelope as JSON), or JSON Lines of them (`.intoto.jsonl`).
    pub file: std::path::PathBuf,
    /// The instance's verifier key (`name+hex+base64`); default: the data dir's.
    #[arg(long)]
    pub key: Option<String>,
    /// The previous bundle for the same agent, whose checkpoint this one must be consistent with.
    #[arg(long)]
    pub previous: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum GatewayCommand {
    /// Upstreams, their health and tool counts, policies in force.
    Status,
    /// The kill switch: suspend an agent (if active), cut off its calls in flight and cancel
    /// its held ones.
    Kill(KillArgs),
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// The agent id, e.g. `payments/refund-bot`.
    #[arg(long)]
    pub agent: String,
    /// Why (recorded in the suspension and on every cancelled call).
    #[arg(long, default_value = custos_server::DEFAULT_KILL_REASON)]
    pub reason: String,
}

#[derive(Debug, Subcommand)]
pub enum ApprovalsCommand {
    /// Calls waiting for a decision, newest first.
    List(ApprovalsListArgs),
    /// Let a held call proceed.
    Approve(DecideArgs),
    /// Refuse a held call: the agent gets a denial.
    Deny(DecideArgs),
}

#[derive(Debug, Args)]
pub struct ApprovalsListArgs {
    /// Include decided, timed-out and cancelled calls too.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct DecideArgs {
    /// The approval id (`apr_…`, from `custos approvals list`).
    pub id: String,
    /// Why (recorded in the event).
    #[arg(long)]
    pub note: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ToolsCommand {
    /// Every tool the gateway has seen: pin state, digest, why it is quarantined.
    List,
    /// Accept the manifest a quarantined tool is listed with now: it is pinned and callable
    /// again (policy permitting).
    Approve(ToolApproveArgs),
    /// Set the labels of a tool (replacing those set before; none clears them). Flow policies
    /// see them as `resource.labels` and, once called, in `context.session.labels`.
    Label(ToolLabelArgs),
}

#[derive(Debug, Args)]
pub struct ToolLabelArgs {
    /// The tool as `SERVER.TOOL`.
    pub tool: String,
    /// The labels, e.g. `sensitive` or `egress` (also `untrusted-input`, `destructive`, or your own).
    pub labels: Vec<String>,
    /// Why (recorded in the event).
    #[arg(long)]
    pub note: Option<String>,
}

#[derive(Debug, Args)]
pub struct ToolApproveArgs {
    /// The tool as `SERVER.TOOL`, e.g. `github.create_issue`.
    pub tool: String,
    /// Why (recorded in the event).
    #[arg(long)]
    pub note: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Re-read tool manifests and policy files now; a bad file is refused with file:line and
    /// the policies in force stay.
    Reload,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// The address to listen on (default: `[server] listen` in the config, else
    /// 127.0.0.1:7070). Loopback only: the API has no TLS yet.
    #[arg(long, env = env::LISTEN)]
    pub listen: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Register a new agent (state `registered`).
    Register(RegisterArgs),
    /// List agents, with filters.
    List(ListArgs),
    /// Show one agent, its tokens and its event history with ledger indices.
    Show(IdArg),
    /// Change descriptive fields, or (alone) the owner.
    Update(UpdateArgs),
    /// Approve a registered agent (it needs an owner).
    Approve(LifecycleArgs),
    /// Suspend an active agent: its tokens stop working until it is resumed.
    Suspend(LifecycleArgs),
    /// Resume a suspended agent.
    Resume(LifecycleArgs),
    /// Retire an agent for good; every token is revoked.
    Retire(LifecycleArgs),
    /// An agent's tokens: issue, list, revoke.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Args)]
pub struct IdArg {
    /// The agent id, e.g. `payments/refund-bot`.
    pub id: String,
}

#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// The agent id: a stable slug such as `payments/refund-bot`.
    pub id: String,
    /// Where it runs: prod, staging or dev.
    #[arg(long = "env")]
    pub environment: String,
    /// Display name (default: the id).
    #[arg(long)]
    pub name: Option<String>,
    /// Who is accountable (needed before approval).
    #[arg(long)]
    pub owner: Option<String>,
    /// A second accountable person.
    #[arg(long)]
    pub sponsor: Option<String>,
    /// What the agent is for.
    #[arg(long, default_value = "")]
    pub purpose: String,
    /// Risk tier: low, medium, high or critical.
    #[arg(long = "tier", default_value = "medium")]
    pub risk_tier: String,
    /// A label (repeatable).
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Days between recertifications, 1 to 3650 (default 90).
    #[arg(long = "recert-days", value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub recert_interval_days: Option<u32>,
    /// Where discovery should recognise this agent (repeatable): a discovery finding id
    /// (`ag_…`, which also adopts the shadow record `discovered/ag_…`), `path:<source path>`
    /// or `fp:<credential fingerprint prefix>`.
    #[arg(long = "provenance")]
    pub provenance: Vec<String>,
    /// Why (recorded in the event).
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only agents in this state.
    #[arg(long)]
    pub state: Option<String>,
    /// Only agents of this owner.
    #[arg(long)]
    pub owner: Option<String>,
    /// Only agents in this environment.
    #[arg(long = "env")]
    pub environment: Option<String>,
    /// Only agents whose owner left and that are still registered or active.
    #[arg(long)]
    pub orphaned: bool,
    /// Only agents past their recertification date.
    #[arg(long)]
    pub overdue: bool,
    /// Only agents with this label.
    #[arg(long)]
    pub label: Option<String>,
    /// At most this many (1 to 1000).
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// Continue after this agent id (the `next` of the previous page).
    #[arg(long)]
    pub after: Option<String>,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("fields").multiple(true).args([
    "name", "purpose", "environment", "risk_tier", "labels", "add_labels", "remove_labels",
    "sponsor", "clear_sponsor", "recert_interval_days",
]))]
pub struct UpdateArgs {
    /// The agent id.
    pub id: String,
    /// Hand the agent to a new owner (on its own: it is a separate event).
    #[arg(long, conflicts_with = "fields")]
    pub owner: Option<String>,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long)]
    pub purpose: Option<String>,
    #[arg(long = "env")]
    pub environment: Option<String>,
    #[arg(long = "tier")]
    pub risk_tier: Option<String>,
    /// Replace all labels with these (repeatable).
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Add a label (repeatable).
    #[arg(long = "add-label")]
    pub add_labels: Vec<String>,
    /// Remove a label (repeatable).
    #[arg(long = "remove-label")]
    pub remove_labels: Vec<String>,
    #[arg(long, conflicts_with = "clear_sponsor")]
    pub sponsor: Option<String>,
    #[arg(long)]
    pub clear_sponsor: bool,
    /// Days between recertifications, 1 to 3650.
    #[arg(long = "recert-days", value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub recert_interval_days: Option<u32>,
    /// Why (recorded in the event).
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct LifecycleArgs {
    /// The agent id.
    pub id: String,
    /// Why (recorded in the event).
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue a token; it is printed once and only its SHA-256 is kept.
    Issue(TokenIssueArgs),
    /// List an agent's tokens: id, created, expires, last used (never the token).
    List(IdArg),
    /// Revoke a token for good.
    Revoke(TokenRevokeArgs),
}

#[derive(Debug, Args)]
pub struct TokenIssueArgs {
    /// The agent id.
    pub id: String,
    /// Lifetime: a number and a unit, s, m, h, d or w (default 90d, at most 3650d).
    #[arg(long)]
    pub ttl: Option<String>,
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct TokenRevokeArgs {
    /// The agent id.
    pub id: String,
    /// The credential id (`cred_…`, from `token list`).
    pub credential: String,
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum OwnerCommand {
    /// Every owner, with how many agents they hold and whether they left.
    List,
    /// Record that an owner left: every agent they own becomes orphaned until reassigned.
    Offboard(OffboardArgs),
}

#[derive(Debug, Args)]
pub struct OffboardArgs {
    /// The owner, as named on agents.
    pub owner: String,
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The log's origin (and signing key name), e.g. `custos.example.com/ledger`. Default: a
    /// random `custos/<hex>`.
    #[arg(long)]
    pub origin: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Append an event (for operators and tests; custos's own producers append directly).
    Append(AppendArgs),
    /// Recompute every leaf and node, check every checkpoint; exit 2 when not verified.
    Verify(VerifyArgs),
    /// Sign a checkpoint of the current tree now.
    Checkpoint,
    /// Print a C2SP tlog-proof for one entry.
    Proof(ProofArgs),
    /// Print the consistency proof between two tree sizes.
    Consistency(ConsistencyArgs),
    /// Rebuild every projection from the entries.
    Replay,
    /// Print entries as JSON lines: each line is exactly one entry's bytes.
    Export(ExportArgs),
    /// Print the C2SP verifier key of this ledger.
    Key,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["kind", "stdin"]))]
pub struct AppendArgs {
    /// The event kind, e.g. `policy.proposed`.
    #[arg(long, requires = "data", long_help = kind_help())]
    pub kind: Option<String>,
    /// The event data: a JSON object.
    #[arg(long)]
    pub data: Option<String>,
    /// The agent the event is about.
    #[arg(long)]
    pub agent: Option<String>,
    /// Read events from standard input, one JSON object per line
    /// (`{"kind":..,"data":{..},"agent":..}`), and print one acknowledgement per line as each
    /// becomes durable.
    #[arg(long, conflicts_with_all = ["kind", "data"])]
    pub stdin: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Verify checkpoints with this C2SP verifier key instead of the data dir's key.
    #[arg(long)]
    pub key: Option<String>,
}

#[derive(Debug, Args)]
pub struct ProofArgs {
    /// The entry's index.
    #[arg(long)]
    pub index: u64,
    /// Prove against the checkpoint of this size (default: the latest checkpoint).
    #[arg(long)]
    pub size: Option<u64>,
}

#[derive(Debug, Args)]
pub struct ConsistencyArgs {
    /// The older tree size.
    #[arg(long)]
    pub from: u64,
    /// The newer tree size.
    #[arg(long)]
    pub to: u64,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The first index to export.
    #[arg(long, default_value_t = 0)]
    pub from: u64,
    /// Export up to (not including) this index (default: the end).
    #[arg(long)]
    pub to: Option<u64>,
    /// Write to this file instead of standard output.
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
}

fn kind_help() -> String {
    format!("The event kind. One of: {}", custos_core::kind::names())
}

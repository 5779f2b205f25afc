//! Validation (DESIGN.md §7): adversarial pressure on running agents, judged by what the agent
//! did at the gateway (tools called, canaries leaked), never by what it said.

pub mod agentdojo;
pub mod campaign;
pub mod decoy;
pub mod mcp_client;
pub mod mcpcheck;
pub mod oracle;
pub mod pack;
pub mod record;
pub mod refagent;
pub mod refserver;
pub mod report;
pub mod target;

pub use pack::{Pack, PackError, Probe, RenderedProbe};

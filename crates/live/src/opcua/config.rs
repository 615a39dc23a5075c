//! What an OPC UA source connects to and which node is which historian tag.
//!
//! In a site file (TOML) it reads:
//!
//! ```toml
//! [opcua]
//! endpoint = "opc.tcp://historian.example:4840/"
//! publishing_interval_ms = 1000
//! [[opcua.nodes]]
//! tag = "dissolved_o2"
//! node_id = "ns=2;i=1001"
//! [[opcua.nodes]]
//! tag = "titer"
//! node_id = "ns=2;s=BR01.Titer"
//! lab = true          # server timestamp = when the result became available
//! ```

use std::collections::HashSet;
use std::path::Path;
use std::str::FromStr;

use ::opcua::types::NodeId;
use serde::{Deserialize, Serialize};

use biotwin_core::error::{Diagnostic, Diagnostics};

/// One monitored node: the historian tag its values are readings of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpcUaNode {
    /// Historian tag name, as the site configuration maps it.
    pub tag: String,
    /// OPC UA node id in the standard text form (`ns=2;i=1001`, `ns=3;s=BR01.pH`).
    pub node_id: String,
    /// A lab result: its source timestamp is the sample time and its server
    /// timestamp the time the result became available (`Reading::available_unix_s`).
    #[serde(default)]
    pub lab: bool,
}

/// Connection to one OPC UA server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpcUaConfig {
    /// `opc.tcp://host:port/path`.
    pub endpoint: String,
    /// The nodes subscribed to, each with the historian tag it stands for.
    pub nodes: Vec<OpcUaNode>,
    /// How often the server sends the queued changes, ms.
    #[serde(default = "default_publishing_interval_ms")]
    pub publishing_interval_ms: u64,
    /// Only `none` (no signing, no encryption, anonymous) is supported yet.
    #[serde(default = "default_security")]
    pub security: String,
    /// Reconnect backoff: first wait and longest wait, ms (doubling between).
    #[serde(default = "default_reconnect_initial_ms")]
    pub reconnect_initial_ms: u64,
    #[serde(default = "default_reconnect_max_ms")]
    /// Longest reconnect wait, ms.
    pub reconnect_max_ms: u64,
    /// After a reconnect, fill the gap with HistoryRead (raw).
    #[serde(default = "default_true")]
    pub backfill: bool,
    /// On the first connection, also read the history from this instant
    /// (Unix s), e.g. the start of the running batches after a restart.
    #[serde(default)]
    pub backfill_from_unix_s: Option<f64>,
}

fn default_publishing_interval_ms() -> u64 {
    1000
}
fn default_security() -> String {
    "none".to_string()
}
fn default_reconnect_initial_ms() -> u64 {
    500
}
fn default_reconnect_max_ms() -> u64 {
    10_000
}
fn default_true() -> bool {
    true
}

impl OpcUaConfig {
    /// A configuration with the defaults for everything but the endpoint and nodes.
    pub fn new(endpoint: impl Into<String>, nodes: Vec<OpcUaNode>) -> Self {
        OpcUaConfig {
            endpoint: endpoint.into(),
            nodes,
            publishing_interval_ms: default_publishing_interval_ms(),
            security: default_security(),
            reconnect_initial_ms: default_reconnect_initial_ms(),
            reconnect_max_ms: default_reconnect_max_ms(),
            backfill: true,
            backfill_from_unix_s: None,
        }
    }

    /// Every problem of the configuration; `file` and `prefix` (e.g. `opcua`)
    /// locate the fields in the user's file.
    pub fn validate(&self, file: &Path, prefix: &str) -> Result<Vec<NodeId>, Diagnostics> {
        let mut problems = Diagnostics::new();
        let field = |name: &str| format!("{prefix}.{name}");
        if !self.endpoint.starts_with("opc.tcp://") || self.endpoint.len() <= "opc.tcp://".len() {
            problems.push(Diagnostic::new(
                file,
                field("endpoint"),
                "an opc.tcp://host:port/ URL",
                format!("`{}`", self.endpoint),
            ));
        }
        if self.security != "none" {
            problems.push(Diagnostic::new(
                file,
                field("security"),
                "`none` (the only mode supported)",
                format!("`{}`", self.security),
            ));
        }
        if !(1..=3_600_000).contains(&self.publishing_interval_ms) {
            problems.push(Diagnostic::new(
                file,
                field("publishing_interval_ms"),
                "1 to 3600000 ms",
                self.publishing_interval_ms.to_string(),
            ));
        }
        if self.reconnect_initial_ms == 0 || self.reconnect_max_ms < self.reconnect_initial_ms {
            problems.push(Diagnostic::new(
                file,
                field("reconnect_max_ms"),
                "0 < reconnect_initial_ms <= reconnect_max_ms",
                format!(
                    "{} and {}",
                    self.reconnect_initial_ms, self.reconnect_max_ms
                ),
            ));
        }
        if let Some(t) = self.backfill_from_unix_s
            && !t.is_finite()
        {
            problems.push(Diagnostic::new(
                file,
                field("backfill_from_unix_s"),
                "a finite Unix time, s",
                t.to_string(),
            ));
        }
        if self.nodes.is_empty() {
            problems.push(Diagnostic::new(
                file,
                field("nodes"),
                "at least one node",
                "none",
            ));
        }
        let mut tags = HashSet::new();
        let mut ids = HashSet::new();
        let mut parsed = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let at = |name: &str| format!("{prefix}.nodes[{i}].{name}");
            if n.tag.trim().is_empty() {
                problems.push(Diagnostic::new(file, at("tag"), "a tag name", "nothing"));
            } else if !tags.insert(n.tag.as_str()) {
                problems.push(Diagnostic::new(
                    file,
                    at("tag"),
                    "each tag once",
                    format!("`{}` again", n.tag),
                ));
            }
            match NodeId::from_str(n.node_id.trim()) {
                Ok(id) => {
                    if !ids.insert(id.clone()) {
                        problems.push(Diagnostic::new(
                            file,
                            at("node_id"),
                            "each node once",
                            format!("`{}` again", n.node_id),
                        ));
                    }
                    parsed.push(id);
                }
                Err(_) => problems.push(Diagnostic::new(
                    file,
                    at("node_id"),
                    "an OPC UA node id such as ns=2;i=1001 or ns=2;s=BR01.pH",
                    format!("`{}`", n.node_id),
                )),
            }
        }
        problems.into_result(parsed)
    }
}

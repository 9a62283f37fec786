//! Cases as data: `conformance/cases/*.json`, documented in `conformance/CASES.md`.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::mock::FaultScript;

/// One case, as written in `conformance/cases/*.json`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// `Area.what_it_checks`.
    pub id: String,
    /// `json` (default) or `proto`.
    #[serde(default = "default_record_type")]
    pub record_type: String,
    /// Fault script for the mock server.
    #[serde(default)]
    pub server: FaultScript,
    /// Steps for the testee (and a few for the runner: `sleep`, `set_faults`).
    pub steps: Vec<Value>,
    /// Assertions on what the server received.
    #[serde(default)]
    pub server_expect: Value,
    /// Environment of the testee process (proxy variables and such). `{connect_proxy}` in a
    /// value is replaced by the mock's CONNECT proxy URL. Proxy variables not named here are
    /// removed, so the machine's own settings never leak into a case.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

fn default_record_type() -> String {
    "json".into()
}

/// Loads every `*.json` case file in `dir`, in file-name order.
pub fn load_cases(dir: &Path) -> Result<Vec<Case>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read cases from {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let mut these: Vec<Case> =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
        cases.append(&mut these);
    }
    let mut seen = HashSet::new();
    for c in &cases {
        if !seen.insert(c.id.clone()) {
            return Err(format!("case id {} appears twice", c.id));
        }
    }
    Ok(cases)
}

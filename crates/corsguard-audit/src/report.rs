//! Audit results, and their JSON (a contract; the human table and SARIF are the command line's).

use serde_json::{json, Map, Value};

use super::finding::Finding;

/// Everything learnt about one target.
#[derive(Debug)]
pub struct TargetReport {
    /// The target as the user wrote it.
    pub target: String,
    /// Findings, most severe first.
    pub findings: Vec<Finding>,
    /// Redirects, near misses, failed probes.
    pub notes: Vec<String>,
    /// Why the target could not be audited at all.
    pub error: Option<String>,
}

impl TargetReport {
    /// A target that could not be audited.
    pub fn failed(target: String, error: String) -> TargetReport {
        TargetReport { target, findings: Vec::new(), notes: Vec::new(), error: Some(error) }
    }

    /// `{"target":...,"findings":[...]}`, plus `notes` and `error` when there are any.
    pub fn json(&self) -> Value {
        let mut object = Map::new();
        object.insert("target".into(), json!(self.target));
        object.insert("findings".into(), Value::Array(self.findings.iter().map(finding_json).collect()));
        if !self.notes.is_empty() {
            object.insert("notes".into(), json!(self.notes));
        }
        if let Some(error) = &self.error {
            object.insert("error".into(), json!(error));
        }
        Value::Object(object)
    }
}

fn finding_json(f: &Finding) -> Value {
    json!({
        "id": f.id.as_str(),
        "severity": f.severity.as_str(),
        "url": f.url,
        "origin_sent": f.origin_sent,
        "credentials": f.credentials,
        "evidence": f.evidence,
    })
}

/// One object for one target; an array of them for several.
pub fn json(reports: &[TargetReport]) -> Value {
    match reports {
        [one] => one.json(),
        many => Value::Array(many.iter().map(TargetReport::json).collect()),
    }
}

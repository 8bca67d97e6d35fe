//! `corsguard audit`'s reports: the human table and SARIF 2.1.0 (the JSON is the auditor's own,
//! [`corsguard_audit::json`]).

use corsguard_audit::{Finding, FindingId, Severity, TargetReport};
use serde_json::{json, Value};

use crate::paint::Paint;

fn paint_severity(paint: Paint, severity: Severity, padded: &str) -> String {
    match severity {
        Severity::Critical | Severity::High => paint.red(padded),
        Severity::Medium => paint.yellow(padded),
        Severity::Low => paint.blue(padded),
        Severity::Info => padded.to_owned(),
    }
}

/// A short line of evidence for the table.
fn evidence_line(f: &Finding) -> String {
    let get = |key: &str| match f.evidence.get(key) {
        None | Some(Value::Null) => "-".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let mut line = format!("{} {}", get("request"), get("status"));
    if f.evidence.contains_key("request_method") {
        line += &format!(" (asked {} {})", get("request_method"), get("request_headers"));
    }
    line += &format!(" | ACAO {} | ACAC {} | Vary {}", get("acao"), get("acac"), get("vary"));
    for (key, label) in
        [("acam", "ACAM"), ("acah", "ACAH"), ("cache_control", "Cache-Control"), ("location", "Location")]
    {
        if f.evidence.contains_key(key) {
            line += &format!(" | {label} {}", get(key));
        }
    }
    if let Some(Value::String(variant)) = f.evidence.get("variant") {
        line += &format!(" | {variant}");
    }
    if let Some(Value::Array(others)) = f.evidence.get("also_accepted") {
        line += &format!(" | {} more accepted", others.len());
    }
    line
}

/// The table, most severe first, then how to fix each class, then notes and errors.
pub fn human(reports: &[TargetReport], paint: Paint) -> String {
    let mut rows: Vec<(&TargetReport, &Finding)> =
        reports.iter().flat_map(|r| r.findings.iter().map(move |f| (r, f))).collect();
    rows.sort_by(|a, b| b.1.severity.cmp(&a.1.severity).then(a.1.id.cmp(&b.1.id)));
    let several = reports.len() > 1;
    let mut out = String::new();
    if !several {
        if let Some(r) = reports.first() {
            out += &format!("{} {}\n\n", paint.bold("audit of"), r.target);
        }
    }
    if rows.is_empty() {
        let audited = reports.iter().filter(|r| r.error.is_none()).count();
        if audited > 0 {
            out += &paint.green("no CORS misconfiguration found");
            out.push_str("\n\n");
        }
    } else {
        let width = |f: &dyn Fn(&(&TargetReport, &Finding)) -> usize, header: &str| {
            rows.iter().map(f).max().unwrap_or(0).max(header.len())
        };
        let w_id = width(&|r| r.1.id.as_str().len(), "FINDING");
        let w_origin = width(&|r| r.1.origin_sent.len(), "ORIGIN SENT");
        let mut header =
            format!("{:<8}  {:<w_id$}  {:<5}  {:<w_origin$}", "SEVERITY", "FINDING", "CREDS", "ORIGIN SENT");
        if several {
            header += "  TARGET";
        }
        out += &paint.bold(header.trim_end());
        out.push('\n');
        for (report, f) in &rows {
            let severity = paint_severity(paint, f.severity, &format!("{:<8}", f.severity.as_str()));
            let creds = if f.credentials { "yes" } else { "no" };
            let mut line =
                format!("{severity}  {:<w_id$}  {creds:<5}  {:<w_origin$}", f.id.as_str(), f.origin_sent);
            if several {
                line += &format!("  {}", report.target);
            }
            out += line.trim_end();
            out.push('\n');
            out += &format!("{:10}{}\n", "", evidence_line(f));
        }
        out.push('\n');
        let mut ids: Vec<FindingId> = rows.iter().map(|r| r.1.id).collect();
        ids.sort();
        ids.dedup();
        for id in ids {
            out += &format!("{} {}: {}\n", paint.bold("help:"), id.as_str(), id.help());
        }
        out.push('\n');
    }
    for r in reports {
        for note in &r.notes {
            let prefix = if several { format!("{}: ", r.target) } else { String::new() };
            out += &format!("{} {prefix}{note}\n", paint.blue("note:"));
        }
    }
    for r in reports {
        if let Some(error) = &r.error {
            out += &format!("{} {}: {error}\n", paint.red("error:"), r.target);
        }
    }
    if !out.is_empty() && !out.ends_with("\n\n") {
        out.push('\n');
    }
    out += &summary(reports, paint);
    out
}

fn summary(reports: &[TargetReport], paint: Paint) -> String {
    let findings: Vec<&Finding> = reports.iter().flat_map(|r| &r.findings).collect();
    let errors = reports.iter().filter(|r| r.error.is_some()).count();
    let mut counts = Vec::new();
    for s in [Severity::Critical, Severity::High, Severity::Medium, Severity::Low, Severity::Info] {
        let n = findings.iter().filter(|f| f.severity == s).count();
        if n > 0 {
            counts.push(format!("{n} {s}"));
        }
    }
    let mut line = format!("{} target(s) audited, {} finding(s)", reports.len() - errors, findings.len());
    if !counts.is_empty() {
        line += &format!(" ({})", counts.join(", "));
    }
    if errors > 0 {
        line += &format!(", {errors} target(s) could not be audited");
    }
    let worst = findings.iter().map(|f| f.severity).max();
    let line = match worst {
        Some(Severity::Critical | Severity::High) => paint.red(&line),
        Some(Severity::Medium) => paint.yellow(&line),
        _ if errors > 0 => paint.red(&line),
        _ => paint.green(&line),
    };
    format!("{line}\n")
}

/// A SARIF 2.1.0 log: one rule per finding id, one result per finding, errors as notifications.
pub fn sarif(reports: &[TargetReport]) -> Value {
    let mut ids: Vec<FindingId> = reports.iter().flat_map(|r| r.findings.iter().map(|f| f.id)).collect();
    ids.sort();
    ids.dedup();
    let rules: Vec<Value> = ids
        .iter()
        .map(|id| {
            let worst = reports
                .iter()
                .flat_map(|r| &r.findings)
                .filter(|f| f.id == *id)
                .map(|f| f.severity)
                .max()
                .unwrap_or(Severity::Info);
            json!({
                "id": id.as_str(),
                "name": id.as_str(),
                "shortDescription": { "text": id.title() },
                "help": { "text": id.help() },
                "properties": { "tags": ["security", "cors"], "security-severity": worst.security_score() },
            })
        })
        .collect();
    let results: Vec<Value> = reports
        .iter()
        .flat_map(|r| &r.findings)
        .map(|f| {
            json!({
                "ruleId": f.id.as_str(),
                "ruleIndex": ids.iter().position(|id| *id == f.id),
                "level": f.severity.sarif_level(),
                "message": { "text": format!(
                    "{} (Origin {} sent to {}; credentials {}). Fix: {}",
                    f.id.title(), f.origin_sent, f.url,
                    if f.credentials { "allowed" } else { "not allowed" }, f.id.help()
                )},
                "locations": [{ "physicalLocation": { "artifactLocation": { "uri": f.url } } }],
                "properties": {
                    "severity": f.severity.as_str(),
                    "origin_sent": f.origin_sent,
                    "credentials": f.credentials,
                    "evidence": f.evidence,
                },
            })
        })
        .collect();
    let notifications: Vec<Value> = reports
        .iter()
        .filter_map(|r| {
            r.error
                .as_ref()
                .map(|e| json!({ "level": "error", "message": { "text": format!("{}: {e}", r.target) } }))
        })
        .collect();
    let mut log = crate::render::sarif_log(rules, results);
    log["runs"][0]["invocations"] = json!([{
        "executionSuccessful": notifications.is_empty(),
        "toolExecutionNotifications": notifications,
    }]);
    log
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn finding(id: FindingId, severity: Severity) -> Finding {
        let mut evidence = Map::new();
        evidence.insert("request".into(), json!("GET"));
        evidence.insert("status".into(), json!(200));
        evidence.insert("acao".into(), json!("https://corsguard-probe.evil.net"));
        Finding {
            id,
            severity,
            url: "http://127.0.0.1:8080/".into(),
            origin_sent: "https://corsguard-probe.evil.net".into(),
            credentials: severity == Severity::Critical,
            evidence,
        }
    }

    fn report() -> TargetReport {
        TargetReport {
            target: "http://127.0.0.1:8080/".into(),
            findings: vec![
                finding(FindingId::WildcardOrigin, Severity::Low),
                finding(FindingId::OriginReflection, Severity::Critical),
            ],
            notes: vec![],
            error: None,
        }
    }

    #[test]
    fn human_table_puts_the_most_severe_first() {
        let text = human(&[report()], Paint::plain());
        let critical = text.find("critical  origin-reflection").expect(&text);
        let low = text.find("low       wildcard-origin").expect(&text);
        assert!(critical < low, "{text}");
        assert!(text.contains("help: origin-reflection"), "{text}");
    }

    #[test]
    fn json_is_one_object_for_one_target_and_an_array_for_several() {
        let one = corsguard_audit::json(&[report()]);
        assert_eq!(one["target"], "http://127.0.0.1:8080/");
        assert!(one.get("error").is_none());
        let two = corsguard_audit::json(&[
            report(),
            TargetReport::failed("http://127.0.0.1:1/".into(), "refused".into()),
        ]);
        assert_eq!(two[1]["error"], "refused");
        assert_eq!(two[1]["findings"], json!([]));
    }

    #[test]
    fn sarif_has_a_rule_per_id() {
        let log = sarif(&[report()]);
        assert_eq!(log["version"], "2.1.0");
        assert_eq!(log["runs"][0]["tool"]["driver"]["rules"].as_array().map(Vec::len), Some(2));
        assert_eq!(log["runs"][0]["results"][0]["level"], "note");
        assert_eq!(log["runs"][0]["results"][1]["level"], "error");
    }
}

//! Diagnostics as rustc-style text, JSON and SARIF 2.1.0.

use corsguard::{Diagnostics, LintCode};
use serde_json::{json, Value};

use crate::paint::Paint;

/// rustc-style diagnostics ([`corsguard::render::human`]), coloured when `paint` is.
pub fn human(diags: &Diagnostics, source: &str, path: &str, paint: Paint) -> String {
    corsguard::render::human(diags, source, path, paint.is_on())
}

/// `{"diagnostics":[...],"errors":N,"warnings":N}` ([`corsguard::json::diagnostics`]).
pub fn json(diags: &Diagnostics) -> Value {
    corsguard::json::diagnostics(diags)
}

/// A SARIF 2.1.0 log with one run, for code-scanning dashboards.
pub fn sarif(diags: &Diagnostics, path: &str) -> Value {
    let mut codes: Vec<LintCode> = diags.iter().map(|d| d.code).collect();
    codes.sort_unstable_by_key(|code| code.as_str());
    codes.dedup();
    let rules: Vec<Value> = codes
        .iter()
        .map(|code| {
            json!({
                "id": code.as_str(),
                "name": code.as_str(),
                "shortDescription": { "text": code.as_str().replace('-', " ") },
                "fullDescription": { "text": code.explanation() },
            })
        })
        .collect();
    let results: Vec<Value> = diags
        .iter()
        .map(|d| {
            let mut location = json!({ "physicalLocation": { "artifactLocation": { "uri": path } } });
            if let Some((line, column)) = d.location {
                location["physicalLocation"]["region"] = json!({ "startLine": line, "startColumn": column });
            }
            json!({
                "ruleId": d.code.as_str(),
                "ruleIndex": codes.iter().position(|code| *code == d.code),
                "level": d.severity.as_str(),
                "message": { "text": format!("{} (help: {})", d.message, d.help) },
                "locations": [location],
                "properties": { "profile": d.profile },
            })
        })
        .collect();
    sarif_log(rules, results)
}

/// A SARIF 2.1.0 log with one run of corsguard, for any command's rules and results.
pub fn sarif_log(rules: Vec<Value>, results: Vec<Value>) -> Value {
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "corsguard",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_output_points_at_the_value() {
        let source = "[profiles.production]\norigins = [\"null\"]\n";
        let diags = corsguard::check_toml(source, None);
        let text = human(&diags, source, "p.toml", Paint::plain());
        assert!(text.contains("error[null-origin]"), "{text}");
        assert!(text.contains("--> p.toml:2:12"), "{text}");
        assert!(text.contains("2 | origins = [\"null\"]"), "{text}");
        assert!(text.contains("  |            ^^^^^^"), "{text}");
        assert!(text.contains("= help: "), "{text}");
    }
}

//! Diagnostics as rustc-style text, JSON and SARIF 2.1.0.

use corsguard::{Diagnostic, Diagnostics, LintCode, Severity};
use serde_json::{json, Value};

use crate::paint::Paint;

/// rustc-style: code and message, the source line with a caret, the profile and a `help:`.
pub fn human(diags: &Diagnostics, source: &str, path: &str, paint: Paint) -> String {
    let mut out = String::new();
    for d in diags {
        let head = match d.severity {
            Severity::Error => paint.red(&format!("error[{}]", d.code)),
            _ => paint.yellow(&format!("warning[{}]", d.code)),
        };
        out += &format!("{head}{} {}\n", paint.bold(":"), paint.bold(&d.message));
        if let (Some((line, column)), Some(span)) = (d.location, &d.span) {
            let text = source.lines().nth(line - 1).unwrap_or("");
            let gutter = " ".repeat(line.to_string().len());
            let width = caret_width(text, column, span.len());
            out += &format!("{gutter}{} {path}:{line}:{column}\n", paint.blue("-->"));
            out += &format!("{gutter} {}\n", paint.blue("|"));
            out += &format!("{} {text}\n", paint.blue(&format!("{line} |")));
            let caret = "^".repeat(width);
            let caret = if d.severity == Severity::Error { paint.red(&caret) } else { paint.yellow(&caret) };
            out += &format!("{gutter} {} {}{caret}\n", paint.blue("|"), " ".repeat(column - 1));
            out += &format!("{gutter} {}\n", paint.blue("|"));
            out += &notes(d, &gutter, paint);
        } else {
            out += &format!("  {} {path}\n", paint.blue("-->"));
            out += &notes(d, " ", paint);
        }
        out.push('\n');
    }
    let summary = format!("{} error(s), {} warning(s)", diags.errors(), diags.warnings());
    out += &if diags.has_errors() { paint.red(&summary) } else { paint.green(&summary) };
    out.push('\n');
    out
}

fn notes(d: &Diagnostic, gutter: &str, paint: Paint) -> String {
    let mut out = String::new();
    if let Some(profile) = &d.profile {
        out += &format!("{gutter} {} profile: {profile}\n", paint.blue("="));
    }
    out += &format!("{gutter} {} {}: {}\n", paint.blue("="), paint.bold("help"), d.help);
    out
}

/// The caret covers the span on its first line, at least one column.
fn caret_width(line: &str, column: usize, span_len: usize) -> usize {
    let rest = line.chars().count().saturating_sub(column - 1);
    span_len.min(rest).max(1)
}

/// `{"diagnostics":[...],"errors":N,"warnings":N}`.
pub fn json(diags: &Diagnostics) -> Value {
    let items: Vec<Value> = diags
        .iter()
        .map(|d| {
            json!({
                "code": d.code.as_str(),
                "severity": d.severity.as_str(),
                "message": d.message,
                "profile": d.profile,
                "line": d.location.map(|l| l.0),
                "column": d.location.map(|l| l.1),
                "help": d.help,
            })
        })
        .collect();
    json!({ "diagnostics": items, "errors": diags.errors(), "warnings": diags.warnings() })
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

//! The lint rules: one small function per rule, each adding diagnostics for one rule set (a
//! profile, or a route within a profile). [`check`] runs them all and, when none found an
//! error, returns the validated settings.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use crate::config::{RawRules, Sp, SpList};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::headers::{is_forbidden_method, is_forbidden_request_header, is_token, NORMALISED_METHODS};
use crate::lint_code::LintCode;
use crate::pattern::{OriginPattern, PatternErrorKind};
use crate::rules::{Rules, Settings};

/// Chromium's cap on `Access-Control-Max-Age`; Firefox caps at 86400.
pub const BROWSER_MAX_AGE_CAP: i64 = 7200;

/// Where a rule set sits: which profile, whether that profile is strict.
#[derive(Clone, Debug)]
pub struct Scope<'a> {
    /// Profile name, reported with each diagnostic.
    pub profile: Option<&'a str>,
    /// Strict profiles (`production`, or `strict = true`) get the stricter rules.
    pub strict: bool,
    /// Where to point when a required key is missing.
    pub span: Option<Range<usize>>,
}

/// One parsed origin entry with its place in the file.
struct OriginEntry {
    pattern: OriginPattern,
    span: Option<Range<usize>>,
}

struct Linter<'a, 'd> {
    scope: &'a Scope<'a>,
    diags: &'d mut Diagnostics,
    errors: usize,
}

impl Linter<'_, '_> {
    fn report(&mut self, diagnostic: Diagnostic, span: &Option<Range<usize>>) {
        if diagnostic.is_error() {
            self.errors += 1;
        }
        self.diags.push(diagnostic.at(span.clone()).in_profile(self.scope.profile));
    }
}

/// Lints one effective rule set. Returns its settings when it has no errors.
pub fn check(rules: &RawRules, scope: &Scope<'_>, diags: &mut Diagnostics) -> Option<Settings> {
    let mut lint = Linter { scope, diags, errors: 0 };
    let credentials = rules.credentials.as_ref().is_some_and(|c| c.value);
    let origins = origins(&mut lint, rules.origins.as_ref());
    wildcard_with_credentials(&mut lint, &origins, credentials);
    insecure_origin_with_credentials(&mut lint, &origins, credentials);
    localhost_in_production(&mut lint, &origins);
    wildcard_origin_in_production(&mut lint, &origins, credentials);
    duplicate_origins(&mut lint, &origins);
    let methods = methods(&mut lint, rules.methods.as_ref());
    let allow_headers = allow_headers(&mut lint, rules.allow_headers.as_ref(), credentials);
    let expose_headers = expose_headers(&mut lint, rules.expose_headers.as_ref(), credentials);
    let max_age = max_age(&mut lint, rules.max_age.as_ref());
    if lint.errors > 0 {
        return None;
    }
    let flag = |f: &Option<Sp<bool>>, default: bool| f.as_ref().map_or(default, |f| f.value);
    Some(Settings {
        origins: origins.into_iter().map(|o| o.pattern).collect(),
        methods,
        allow_headers,
        expose_headers,
        credentials,
        max_age,
        private_network: flag(&rules.private_network, false),
        cross_origin_protection: flag(&rules.cross_origin_protection, true),
    })
}

fn origins(lint: &mut Linter<'_, '_>, list: Option<&SpList>) -> Vec<OriginEntry> {
    let Some(list) = list else {
        lint.report(
            Diagnostic::new(
                LintCode::MissingOrigins,
                "no `origins` for this profile",
                "list the origins allowed to call the API, e.g. origins = [\"https://app.example.com\"]",
            ),
            &lint.scope.span.clone(),
        );
        return Vec::new();
    };
    let mut entries = Vec::new();
    for item in &list.value {
        match OriginPattern::parse(&item.value) {
            Ok(parsed) => {
                if parsed.non_canonical {
                    lint.report(
                        Diagnostic::new(
                            LintCode::NonCanonicalOrigin,
                            format!("`{}` is not written the way browsers send it", item.value),
                            format!("write `{}` (lowercase, punycode, no default port)", parsed.pattern),
                        ),
                        &item.span,
                    );
                }
                entries.push(OriginEntry { pattern: parsed.pattern, span: item.span.clone() });
            }
            Err(e) => {
                let code = match e.kind {
                    PatternErrorKind::Null => LintCode::NullOrigin,
                    PatternErrorKind::HasPath => LintCode::OriginHasPath,
                    PatternErrorKind::PublicSuffixWildcard => LintCode::PublicSuffixWildcard,
                    PatternErrorKind::Invalid => LintCode::InvalidOrigin,
                };
                lint.report(Diagnostic::new(code, e.message, e.help), &item.span);
            }
        }
    }
    entries
}

fn wildcard_with_credentials(lint: &mut Linter<'_, '_>, origins: &[OriginEntry], credentials: bool) {
    if !credentials {
        return;
    }
    for entry in origins.iter().filter(|o| o.pattern.is_any()) {
        lint.report(
            Diagnostic::new(
                LintCode::WildcardWithCredentials,
                "`*` allows every origin, but this profile sends credentials",
                "browsers refuse `*` with credentials, and reflecting any origin instead would let \
                 every site read your users' data: list the exact origins, or set credentials = false",
            ),
            &entry.span,
        );
    }
}

fn insecure_origin_with_credentials(lint: &mut Linter<'_, '_>, origins: &[OriginEntry], credentials: bool) {
    if !credentials {
        return;
    }
    for entry in origins {
        if entry.pattern.scheme() == Some("http") && !entry.pattern.is_loopback() {
            lint.report(
                Diagnostic::new(
                    LintCode::InsecureOriginWithCredentials,
                    format!("`{}` is plain http, and this profile sends credentials", entry.pattern),
                    "anyone on the network path can inject script into an http page and read \
                     credentialed responses: use https",
                ),
                &entry.span,
            );
        }
    }
}

fn localhost_in_production(lint: &mut Linter<'_, '_>, origins: &[OriginEntry]) {
    if !lint.scope.strict {
        return;
    }
    for entry in origins.iter().filter(|o| o.pattern.is_loopback()) {
        lint.report(
            Diagnostic::new(
                LintCode::LocalhostInProduction,
                format!("`{}` is a local origin in a strict profile", entry.pattern),
                "any program on a user's machine can serve localhost; keep local origins in the \
                 development profile",
            ),
            &entry.span,
        );
    }
}

fn wildcard_origin_in_production(lint: &mut Linter<'_, '_>, origins: &[OriginEntry], credentials: bool) {
    if !lint.scope.strict || credentials {
        return;
    }
    for entry in origins.iter().filter(|o| o.pattern.is_any()) {
        lint.report(
            Diagnostic::new(
                LintCode::WildcardOriginInProduction,
                "`*` lets every site read these responses in a strict profile",
                "fine for truly public data; otherwise list the origins (and never rely on `*` \
                 for data protected only by network location)",
            ),
            &entry.span,
        );
    }
}

fn duplicate_origins(lint: &mut Linter<'_, '_>, origins: &[OriginEntry]) {
    // Candidates are found through maps keyed by host so that large allowlists stay linear;
    // `covers` then gives the exact answer for each candidate.
    let mut first_seen: HashMap<&OriginPattern, usize> = HashMap::new();
    let mut by_host: HashMap<&str, Vec<usize>> = HashMap::new();
    let any = origins.iter().position(|o| o.pattern.is_any());
    for (i, entry) in origins.iter().enumerate() {
        first_seen.entry(&entry.pattern).or_insert(i);
        if let Some(host) = entry.pattern.host() {
            by_host.entry(host).or_default().push(i);
        }
    }
    for (i, entry) in origins.iter().enumerate() {
        let message = if first_seen[&entry.pattern] != i {
            format!("`{}` is listed twice", entry.pattern)
        } else if let Some(other) = any.filter(|&a| a != i).map(|a| &origins[a].pattern) {
            format!("`{}` is already allowed by `{other}`", entry.pattern)
        } else {
            let Some(host) = entry.pattern.host() else { continue };
            let suffixes =
                std::iter::once(host).chain(host.match_indices('.').map(|(dot, _)| &host[dot + 1..]));
            let covering = suffixes
                .filter_map(|suffix| by_host.get(suffix))
                .flatten()
                .map(|&j| &origins[j].pattern)
                .find(|other| **other != entry.pattern && covers(other, &entry.pattern));
            match covering {
                Some(other) => format!("`{}` is already allowed by `{other}`", entry.pattern),
                None => continue,
            }
        };
        lint.report(Diagnostic::new(LintCode::DuplicateEntry, message, "remove this entry"), &entry.span);
    }
}

/// True when every origin `inner` admits is also admitted by `outer`.
fn covers(outer: &OriginPattern, inner: &OriginPattern) -> bool {
    use crate::pattern::Pattern;
    match (&outer.0, &inner.0) {
        (Pattern::Any, _) => true,
        (_, Pattern::Any) => false,
        (
            Pattern::Host { scheme: s1, host: h1, subdomains: sub1, port: p1 },
            Pattern::Host { scheme: s2, host: h2, subdomains: sub2, port: p2 },
        ) => {
            use crate::pattern::PortSpec;
            let ports = p1 == p2 || *p1 == PortSpec::Any;
            let hosts = match (sub1, sub2) {
                (false, false) => h1 == h2,
                (true, _) => {
                    h2.strip_suffix(h1.as_str()).is_some_and(|p| p.ends_with('.')) || (*sub2 && h1 == h2)
                }
                (false, true) => false,
            };
            s1 == s2 && ports && hosts
        }
    }
}

fn methods(lint: &mut Linter<'_, '_>, list: Option<&SpList>) -> Vec<String> {
    let Some(list) = list else {
        return Rules::DEFAULT_METHODS.iter().map(|m| (*m).to_owned()).collect();
    };
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for item in &list.value {
        let m = item.value.as_str();
        if m == "*" {
            lint.report(
                Diagnostic::new(
                    LintCode::InvalidMethod,
                    "`*` is not accepted in methods",
                    "list the methods the API needs",
                ),
                &item.span,
            );
        } else if !is_token(m.as_bytes()) {
            lint.report(
                Diagnostic::new(
                    LintCode::InvalidMethod,
                    format!("`{m}` is not an HTTP method"),
                    "a method is a token such as GET or PATCH",
                ),
                &item.span,
            );
        } else if is_forbidden_method(m) {
            lint.report(
                Diagnostic::new(
                    LintCode::ForbiddenMethod,
                    format!("`{m}` is a forbidden method"),
                    "browsers never let scripts send CONNECT, TRACE or TRACK; remove it",
                ),
                &item.span,
            );
        } else if let Some(upper) = NORMALISED_METHODS.iter().find(|n| n.eq_ignore_ascii_case(m) && **n != m)
        {
            lint.report(
                Diagnostic::new(
                    LintCode::InvalidMethod,
                    format!("`{m}` never matches: browsers send `{upper}`"),
                    format!("write `{upper}`"),
                ),
                &item.span,
            );
        } else if !seen.insert(m) {
            lint.report(
                Diagnostic::new(
                    LintCode::DuplicateEntry,
                    format!("`{m}` is listed twice"),
                    "remove this entry",
                ),
                &item.span,
            );
        } else {
            if m == "OPTIONS" {
                lint.report(
                    Diagnostic::new(
                        LintCode::UnneededMethod,
                        "OPTIONS does not need to be allowed",
                        "preflights are answered by corsguard whatever `methods` says; list OPTIONS only \
                         if scripts send OPTIONS requests themselves",
                    ),
                    &item.span,
                );
            }
            out.push(m.to_owned());
        }
    }
    out
}

/// Names a browser sends without a preflight when their values are simple.
const SAFELISTED_REQUEST_HEADERS: &[&str] = &["accept", "accept-language", "content-language"];

fn allow_headers(lint: &mut Linter<'_, '_>, list: Option<&SpList>, credentials: bool) -> Vec<String> {
    let Some(list) = list else { return Vec::new() };
    let names = header_names(lint, list);
    for (name, span) in &names {
        if name == "*" {
            if credentials {
                lint.report(
                    Diagnostic::new(
                        LintCode::WildcardHeadersWithCredentials,
                        "`*` in allow_headers with credentials",
                        "with credentials browsers read `*` as a header literally named `*`: list the headers",
                    ),
                    span,
                );
            } else if !names.iter().any(|(n, _)| n.eq_ignore_ascii_case("authorization")) {
                lint.report(
                    Diagnostic::new(
                        LintCode::AuthorizationNotCoveredByWildcard,
                        "`*` does not cover Authorization",
                        "the Fetch standard never lets `*` stand for Authorization: add \"Authorization\" if clients send it",
                    ),
                    span,
                );
            }
        } else if is_forbidden_request_header(name) {
            lint.report(
                Diagnostic::new(
                    LintCode::ForbiddenHeaderName,
                    format!("`{name}` is a forbidden request header"),
                    "browsers never let scripts set it, so allowing it does nothing; remove it",
                ),
                span,
            );
        } else if SAFELISTED_REQUEST_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            lint.report(
                Diagnostic::new(
                    LintCode::SafelistedHeaderListed,
                    format!("`{name}` is a CORS-safelisted header"),
                    "browsers send it without asking when its value is simple; listing it is only \
                     needed for unusual values",
                ),
                span,
            );
        }
    }
    names.into_iter().map(|(n, _)| n).collect()
}

fn expose_headers(lint: &mut Linter<'_, '_>, list: Option<&SpList>, credentials: bool) -> Vec<String> {
    let Some(list) = list else { return Vec::new() };
    let names = header_names(lint, list);
    for (name, span) in &names {
        if name == "*" && credentials {
            lint.report(
                Diagnostic::new(
                    LintCode::WildcardWithCredentials,
                    "`*` in expose_headers with credentials",
                    "with credentials browsers read `*` as a header literally named `*`: list the headers",
                ),
                span,
            );
        } else if ["set-cookie", "set-cookie2"].contains(&name.to_ascii_lowercase().as_str()) {
            lint.report(
                Diagnostic::new(
                    LintCode::ExposeSensitiveHeader,
                    format!("`{name}` is never exposed to scripts"),
                    "browsers filter Set-Cookie from every response; remove it",
                ),
                span,
            );
        }
    }
    names.into_iter().map(|(n, _)| n).collect()
}

/// Syntax and duplicate checks shared by both header lists.
fn header_names(lint: &mut Linter<'_, '_>, list: &SpList) -> Vec<(String, Option<Range<usize>>)> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for item in &list.value {
        let name = item.value.as_str();
        if !is_token(name.as_bytes()) {
            lint.report(
                Diagnostic::new(
                    LintCode::InvalidHeaderName,
                    format!("`{name}` is not a header name"),
                    "a header name is a token such as X-Request-Id, without spaces or colons",
                ),
                &item.span,
            );
        } else if !seen.insert(name.to_ascii_lowercase()) {
            lint.report(
                Diagnostic::new(
                    LintCode::DuplicateEntry,
                    format!("`{name}` is listed twice"),
                    "remove this entry",
                ),
                &item.span,
            );
        } else {
            out.push((name.to_owned(), item.span.clone()));
        }
    }
    out
}

fn max_age(lint: &mut Linter<'_, '_>, value: Option<&Sp<i64>>) -> u32 {
    let Some(value) = value else { return Rules::DEFAULT_MAX_AGE };
    match u32::try_from(value.value) {
        Err(_) => {
            lint.report(
                Diagnostic::new(
                    LintCode::InvalidMaxAge,
                    format!("max_age = {} is out of range", value.value),
                    "use a number of seconds from 0 to 7200",
                ),
                &value.span,
            );
            0
        }
        Ok(seconds) => {
            if value.value > BROWSER_MAX_AGE_CAP {
                lint.report(
                    Diagnostic::new(
                        LintCode::MaxAgeOverBrowserCap,
                        format!("max_age = {seconds} is over Chromium's cap of 7200 seconds"),
                        "Chromium uses 7200 and Firefox 86400 at most; a lower value also lets policy changes reach browsers sooner",
                    ),
                    &value.span,
                );
            }
            seconds
        }
    }
}

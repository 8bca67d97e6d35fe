//! Which requests an audit sends (derived from each trusted origin) and what their answers mean.
//!
//! Matching follows the browser: a probe counts as trusted only when `Access-Control-Allow-Origin`
//! equals the `Origin` it sent, byte for byte, in a single header field. Answers that come close
//! (case, trailing slash, port) are kept as notes, never as findings.

use std::collections::HashSet;
use std::net::IpAddr;

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, AGE, CACHE_CONTROL, EXPIRES, LAST_MODIFIED, LOCATION, VARY,
};
use http::{HeaderName, Method};
use serde_json::{json, Map, Value};

use super::finding::{Finding, FindingId, Severity};
use corsguard_fetch::client::{Exchange, FetchError, Head};

/// The registrable domain used to build attacker origins.
pub const ATTACKER_DOMAIN: &str = "evil.net";
/// The label put in front of domains to build origins no allowlist should contain.
pub const PROBE_LABEL: &str = "corsguard-probe";
/// The request header a preflight asks for; no API needs it, so allowing it means reflection.
pub const PROBE_HEADER: &str = "x-corsguard-probe";
/// The method a preflight asks for; no API needs it, so allowing it means reflection.
pub const PROBE_METHOD: &str = "CORSGUARD-PROBE";

/// Characters put between a trusted host and an attacker domain. `_` and `-` get through the URL
/// parsers of every major browser; the rest only through Safari's (and `%60`, `%0b` test servers
/// that decode before matching).
pub const SPECIAL_CHARACTERS: &[&str] = &[
    "_", "-", "\"", "{", "}", "+", "^", "%60", "!", "~", "`", ";", "|", "&", "'", "(", ")", "*", ",", "$",
    "=", "%0b",
];
const EVERY_BROWSER_CHARACTERS: &[&str] = &["_", "-"];

/// Origins where anyone can publish a page with scripts.
pub const THIRD_PARTY_ORIGINS: &[&str] = &[
    "https://corsguard-probe.github.io",
    "https://codepen.io",
    "https://cdpn.io",
    "https://jsfiddle.net",
    "https://fiddle.jshell.net",
    "http://jsbin.com",
    "https://jsbin.com",
    "https://null.jsbin.com",
    "http://www.webdevout.net",
    "https://repl.it",
    "https://corsguard-probe.repl.co",
    "https://corsguard-probe.glitch.me",
    "https://corsguard-probe.netlify.app",
    "https://corsguard-probe.vercel.app",
    "https://corsguard-probe.pages.dev",
    "https://corsguard-probe.herokuapp.com",
    "https://storage.googleapis.com",
    "https://s3.amazonaws.com",
];

/// At most this many single-dot variants per host (one per dot).
const MAX_DOT_VARIANTS: usize = 8;

/// What a probe is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// An actual request from the trusted origin: how the server treats its friends.
    Baseline,
    /// An actual request from an origin that must not be trusted; the class it would show.
    Attack(FindingId),
    /// A preflight from the trusted origin asking for [`PROBE_HEADER`].
    PreflightHeaders,
    /// A preflight from the trusted origin asking for [`PROBE_METHOD`].
    PreflightMethod,
    /// A plain preflight from the trusted origin (`GET`, no headers) that must succeed.
    PreflightStatus,
    /// A preflight from an arbitrary origin.
    PreflightReflection,
}

/// One request of the plan.
#[derive(Clone, Debug)]
pub struct Probe {
    /// Why it is sent.
    pub purpose: Purpose,
    /// What is sent.
    pub exchange: Exchange,
    /// The trusted origin it derives from.
    pub trusted: String,
    /// Which variant of its class, in words (e.g. the special character).
    pub variant: Option<String>,
}

impl Probe {
    fn actual(purpose: Purpose, origin: String, trusted: &str, variant: Option<String>) -> Probe {
        Probe {
            purpose,
            exchange: Exchange { method: Method::GET, origin, ..Exchange::default() },
            trusted: trusted.to_owned(),
            variant,
        }
    }

    fn preflight(
        purpose: Purpose,
        origin: String,
        trusted: &str,
        method: &str,
        headers: Option<&str>,
    ) -> Probe {
        Probe {
            purpose,
            exchange: Exchange {
                method: Method::OPTIONS,
                origin,
                request_method: Some(method.to_owned()),
                request_headers: headers.map(str::to_owned),
                ..Exchange::default()
            },
            trusted: trusted.to_owned(),
            variant: None,
        }
    }

    fn is_preflight(&self) -> bool {
        self.exchange.method == Method::OPTIONS
    }
}

/// A probe and what came back.
#[derive(Debug)]
pub struct Outcome {
    /// The probe.
    pub probe: Probe,
    /// The response head, or why there is none.
    pub result: Result<Head, FetchError>,
}

/// The parts of a trusted origin the probes are built from.
struct Parts<'a> {
    scheme: &'a str,
    host: &'a str,
    /// `:port`, or empty.
    port: String,
    /// The registrable domain (`example.com` for `app.example.com`), or the host itself for IP
    /// addresses and names the Public Suffix List does not know.
    site: String,
    is_ip: bool,
}

fn parts(trusted: &str) -> Option<Parts<'_>> {
    let origin = corsguard::Origin::parse(trusted.as_bytes()).ok()?;
    let host = origin.host();
    let is_ip = host.starts_with('[') || host.parse::<IpAddr>().is_ok();
    let site = if is_ip { host.to_owned() } else { psl::domain_str(host).unwrap_or(host).to_owned() };
    Some(Parts {
        scheme: origin.scheme(),
        host,
        port: origin.port().map(|p| format!(":{p}")).unwrap_or_default(),
        site,
        is_ip,
    })
}

/// The origin used to test plain reflection, for a trusted origin with this scheme.
pub fn reflection_origin(scheme: &str) -> String {
    format!("{scheme}://{PROBE_LABEL}.{ATTACKER_DOMAIN}")
}

/// Every probe for these trusted origins, each request once. The trusted origins themselves are
/// only ever sent as baselines and legitimate preflights.
pub fn plan(trusted: &[String]) -> Vec<Probe> {
    let mut probes = Vec::new();
    for t in trusted {
        probes.push(Probe::actual(Purpose::Baseline, t.clone(), t, None));
        let Some(p) = parts(t) else { continue };
        let (s, h, port, site) = (p.scheme, p.host, &p.port, &p.site);
        let attack = |probes: &mut Vec<Probe>, id, origin: String, variant: Option<&str>| {
            probes.push(Probe::actual(Purpose::Attack(id), origin, t, variant.map(str::to_owned)));
        };
        attack(&mut probes, FindingId::OriginReflection, reflection_origin(s), None);
        attack(&mut probes, FindingId::NullOrigin, "null".to_owned(), None);
        attack(&mut probes, FindingId::PrefixMatch, format!("{s}://{h}.{ATTACKER_DOMAIN}{port}"), None);
        attack(
            &mut probes,
            FindingId::SuffixMatch,
            format!("{s}://evil{site}{port}"),
            Some("attacker domain ending with the site's domain"),
        );
        if site.len() > 3 {
            attack(
                &mut probes,
                FindingId::SuffixMatch,
                format!("{s}://{}{port}", &site[1..]),
                Some("part of the site's domain"),
            );
        }
        let dots: Vec<usize> = h.match_indices('.').map(|(i, _)| i).take(MAX_DOT_VARIANTS).collect();
        for (n, i) in dots.into_iter().enumerate() {
            let variant = format!("dot {} of `{h}` replaced", n + 1);
            let host = format!("{}x{}", &h[..i], &h[i + 1..]);
            attack(&mut probes, FindingId::UnescapedDot, format!("{s}://{host}{port}"), Some(&variant));
        }
        for c in SPECIAL_CHARACTERS {
            let origin = format!("{s}://{h}{c}.{ATTACKER_DOMAIN}{port}");
            attack(&mut probes, FindingId::SpecialCharacters, origin, Some(&format!("`{c}`")));
        }
        if s == "https" {
            attack(&mut probes, FindingId::HttpOriginTrusted, format!("http://{h}{port}"), None);
            if !port.is_empty() {
                attack(&mut probes, FindingId::HttpOriginTrusted, format!("http://{h}"), None);
            }
        }
        if !p.is_ip {
            attack(
                &mut probes,
                FindingId::AnySubdomainTrusted,
                format!("{s}://{PROBE_LABEL}.{h}{port}"),
                Some("subdomain of the trusted host"),
            );
            if site != h {
                attack(
                    &mut probes,
                    FindingId::AnySubdomainTrusted,
                    format!("{s}://{PROBE_LABEL}.{site}{port}"),
                    Some("subdomain of the site"),
                );
            }
        }
        for origin in THIRD_PARTY_ORIGINS {
            attack(&mut probes, FindingId::ThirdPartyOrigin, (*origin).to_owned(), None);
        }
        probes.push(Probe::preflight(Purpose::PreflightStatus, t.clone(), t, "GET", None));
        probes.push(Probe::preflight(Purpose::PreflightHeaders, t.clone(), t, "GET", Some(PROBE_HEADER)));
        probes.push(Probe::preflight(Purpose::PreflightMethod, t.clone(), t, PROBE_METHOD, None));
        probes.push(Probe::preflight(
            Purpose::PreflightReflection,
            reflection_origin(s),
            t,
            "PUT",
            Some("content-type"),
        ));
    }
    let mut seen = HashSet::new();
    probes.retain(|p| {
        let trusted_sent_as_attack = matches!(p.purpose, Purpose::Attack(_) | Purpose::PreflightReflection)
            && trusted.contains(&p.exchange.origin);
        let key = (
            p.exchange.method.clone(),
            p.exchange.origin.clone(),
            p.exchange.request_method.clone(),
            p.exchange.request_headers.clone(),
        );
        !trusted_sent_as_attack && seen.insert(key)
    });
    probes
}

// ---------------------------------------------------------------------------------------------
// Reading responses

fn fields<'h>(head: &'h Head, name: &HeaderName) -> Vec<&'h [u8]> {
    head.headers.get_all(name).iter().map(|v| v.as_bytes()).collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The single `Access-Control-Allow-Origin` value, if there is exactly one field.
fn acao(head: &Head) -> Option<&[u8]> {
    match fields(head, &ACCESS_CONTROL_ALLOW_ORIGIN).as_slice() {
        [one] => Some(one),
        _ => None,
    }
}

/// What a browser accepts as "credentials allowed": exactly one field, exactly `true`.
fn credentials(head: &Head) -> bool {
    fields(head, &ACCESS_CONTROL_ALLOW_CREDENTIALS).as_slice() == [b"true".as_slice()]
}

/// The browser's CORS check for this origin (without the wildcard case).
fn trusts(head: &Head, origin: &str) -> bool {
    acao(head) == Some(origin.as_bytes())
}

/// The browser's CORS check for a request with or without credentials.
fn passes_cors_check(head: &Head, origin: &str) -> bool {
    trusts(head, origin) || (acao(head) == Some(b"*") && !credentials(head))
}

/// The comma-separated elements of every field of a list header.
fn elements(head: &Head, name: &HeaderName) -> Vec<String> {
    fields(head, name)
        .into_iter()
        .flat_map(|f| f.split(|&b| b == b','))
        .map(|e| text(e.trim_ascii()))
        .filter(|e| !e.is_empty())
        .collect()
}

/// A header as evidence: `null` when absent, a string for one field, an array for several.
fn header_json(head: &Head, name: &HeaderName) -> Value {
    match fields(head, name).as_slice() {
        [] => Value::Null,
        [one] => Value::String(text(one)),
        many => Value::Array(many.iter().map(|f| Value::String(text(f))).collect()),
    }
}

/// The response as evidence: status and the CORS and caching headers.
fn evidence(probe: &Probe, head: &Head) -> Map<String, Value> {
    let mut e = Map::new();
    let request = if probe.is_preflight() { "OPTIONS (preflight)" } else { "GET" };
    e.insert("request".into(), json!(request));
    e.insert("status".into(), json!(head.status.as_u16()));
    e.insert("acao".into(), header_json(head, &ACCESS_CONTROL_ALLOW_ORIGIN));
    e.insert("acac".into(), header_json(head, &ACCESS_CONTROL_ALLOW_CREDENTIALS));
    e.insert("vary".into(), header_json(head, &VARY));
    if probe.is_preflight() {
        e.insert("request_method".into(), json!(probe.exchange.request_method));
        e.insert("request_headers".into(), json!(probe.exchange.request_headers));
        e.insert("acam".into(), header_json(head, &ACCESS_CONTROL_ALLOW_METHODS));
        e.insert("acah".into(), header_json(head, &ACCESS_CONTROL_ALLOW_HEADERS));
    }
    for (key, name) in [("cache_control", &CACHE_CONTROL), ("location", &LOCATION)] {
        if head.headers.contains_key(name) {
            e.insert(key.into(), header_json(head, name));
        }
    }
    if let Some(variant) = &probe.variant {
        e.insert("variant".into(), json!(variant));
    }
    e
}

/// Freshness a browser or shared cache could reuse: not `no-store`/`no-cache`, and an explicit
/// lifetime or the validators heuristic caching works from.
fn cacheable(head: &Head) -> bool {
    const CACHEABLE_BY_DEFAULT: &[u16] = &[200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501];
    if !CACHEABLE_BY_DEFAULT.contains(&head.status.as_u16()) {
        return false;
    }
    let directives: Vec<String> =
        elements(head, &CACHE_CONTROL).iter().map(|d| d.to_ascii_lowercase()).collect();
    if directives.iter().any(|d| d == "no-store" || d == "no-cache") {
        return false;
    }
    let lifetime = |name: &str| {
        directives
            .iter()
            .find_map(|d| d.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
            .map(|n| n.trim_matches('"').parse::<u64>().unwrap_or(0))
    };
    match (lifetime("max-age"), lifetime("s-maxage")) {
        (None, None) => {
            directives.iter().any(|d| d == "public")
                || head.headers.contains_key(EXPIRES)
                || head.headers.contains_key(LAST_MODIFIED)
        }
        (a, b) => a.unwrap_or(0) > 0 || b.unwrap_or(0) > 0,
    }
}

/// Cacheable by a CDN or proxy (not only by the browser).
fn shared_cacheable(head: &Head) -> bool {
    let directives: Vec<String> =
        elements(head, &CACHE_CONTROL).iter().map(|d| d.to_ascii_lowercase()).collect();
    cacheable(head)
        && !directives.iter().any(|d| d == "private")
        && (directives.iter().any(|d| d == "public" || d.starts_with("s-maxage"))
            || head.headers.contains_key(AGE)
            || head.headers.contains_key("x-cache"))
}

fn varies_on_origin(head: &Head) -> bool {
    elements(head, &VARY).iter().any(|v| v == "*" || v.eq_ignore_ascii_case("origin"))
}

/// Why `acao` is not `origin` although it nearly is, if it nearly is.
fn near_miss(acao: &[u8], origin: &str) -> Option<&'static str> {
    let acao = std::str::from_utf8(acao).ok()?;
    if acao == origin || origin == "null" {
        return None;
    }
    if acao.eq_ignore_ascii_case(origin) {
        return Some("it differs only in letter case");
    }
    if acao.strip_suffix('/') == Some(origin) {
        return Some("it has a trailing slash");
    }
    let without_port = |o: &str| {
        let (scheme, rest) = o.split_once("://")?;
        let host = match rest.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !host.ends_with(':') => host,
            _ => rest,
        };
        Some(format!("{scheme}://{host}"))
    };
    if without_port(acao).is_some() && without_port(acao) == without_port(origin) {
        return Some("it differs only in the port");
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Severities

/// The severity of an untrusted origin being trusted. Credentials decide most: with them a page
/// on the accepted origin reads the victim's data; without them it reads what anyone could fetch,
/// which matters only for network-restricted (intranet, IP-allowlisted) APIs.
pub fn attack_severity(id: FindingId, credentials: bool, variant: Option<&str>) -> Severity {
    use FindingId::*;
    use Severity::*;
    match id {
        // Any attacker gets such an origin for the price of a domain or a sandboxed iframe.
        OriginReflection | NullOrigin | PrefixMatch | SuffixMatch | UnescapedDot | ThirdPartyOrigin => {
            if credentials {
                Critical
            } else {
                Medium
            }
        }
        SpecialCharacters => {
            let every_browser =
                variant.is_some_and(|v| EVERY_BROWSER_CHARACTERS.iter().any(|c| v == format!("`{c}`")));
            match (credentials, every_browser) {
                (true, true) => Critical,
                (true, false) => High,
                (false, true) => Medium,
                (false, false) => Low,
            }
        }
        // The attacker first needs a foothold: XSS or a takeover on a subdomain, or a network
        // position to inject into plain http.
        AnySubdomainTrusted | HttpOriginTrusted => {
            if credentials {
                High
            } else {
                Low
            }
        }
        _ => Low,
    }
}

// ---------------------------------------------------------------------------------------------
// Analysis

/// Findings and notes for one audited URL.
#[derive(Debug, Default)]
pub struct Analysis {
    /// Most severe first.
    pub findings: Vec<Finding>,
    /// Near misses, failed probes and other context.
    pub notes: Vec<String>,
}

struct Builder<'a> {
    url: &'a str,
    findings: Vec<Finding>,
}

impl Builder<'_> {
    fn has(&self, id: FindingId) -> bool {
        self.findings.iter().any(|f| f.id == id)
    }

    fn push(
        &mut self,
        id: FindingId,
        severity: Severity,
        probe: &Probe,
        head: &Head,
        extra: Map<String, Value>,
    ) {
        let mut e = evidence(probe, head);
        e.extend(extra);
        self.findings.push(Finding {
            id,
            severity,
            url: self.url.to_owned(),
            origin_sent: probe.exchange.origin.clone(),
            credentials: credentials(head),
            evidence: e,
        });
    }
}

/// Turns the outcomes of [`plan`]'s probes into findings.
pub fn analyze(url: &str, trusted: &[String], outcomes: &[Outcome]) -> Analysis {
    let ok: Vec<(&Probe, &Head)> =
        outcomes.iter().filter_map(|o| o.result.as_ref().ok().map(|h| (&o.probe, h))).collect();
    let mut b = Builder { url, findings: Vec::new() };
    let mut notes = Vec::new();

    attack_classes(&mut b, &ok);
    preflight_reflection(&mut b, &ok);
    wildcards(&mut b, &ok);
    missing_vary(&mut b, &ok);
    preflight_lists(&mut b, &ok);
    preflight_status(&mut b, &ok);
    header_syntax(&mut b, &ok);

    for (probe, head) in &ok {
        if probe.purpose == Purpose::Baseline && fields(head, &ACCESS_CONTROL_ALLOW_ORIGIN).is_empty() {
            notes.push(format!(
                "the trusted origin {} got no Access-Control-Allow-Origin (status {}): either it is not \
                 trusted here, or CORS is handled on another path; every other probe ran anyway",
                probe.exchange.origin,
                head.status.as_u16()
            ));
        }
        if let Some(why) = acao(head).and_then(|a| near_miss(a, &probe.exchange.origin)) {
            let consequence = if trusted.contains(&probe.exchange.origin) {
                "so browsers refuse the trusted origin itself"
            } else {
                "browsers refuse it, but the server is one normalisation away from trusting it"
            };
            notes.push(format!(
                "near miss: Origin {} was answered with Access-Control-Allow-Origin {} ({why}); {consequence}",
                probe.exchange.origin,
                text(acao(head).unwrap_or_default()),
            ));
        }
    }
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.result.is_err()).collect();
    if let Some(first) = failed.first() {
        let err = first.result.as_ref().err().map(ToString::to_string).unwrap_or_default();
        notes.push(if failed.len() == 1 {
            format!("probe with Origin {} failed: {err}", first.probe.exchange.origin)
        } else {
            format!(
                "{} of {} probes failed (results may be incomplete); the first, with Origin {}: {err}",
                failed.len(),
                outcomes.len(),
                first.probe.exchange.origin
            )
        });
    }
    let mut seen = HashSet::new();
    notes.retain(|n| seen.insert(n.clone()));
    b.findings.sort_by(|x, y| y.severity.cmp(&x.severity).then(x.id.cmp(&y.id)));
    Analysis { findings: b.findings, notes }
}

/// Untrusted origins that got their own origin back: one finding per class, the worst probe as
/// evidence and the others listed.
fn attack_classes(b: &mut Builder<'_>, ok: &[(&Probe, &Head)]) {
    for &id in FindingId::ALL {
        let accepted: Vec<(&Probe, &Head, Severity)> = ok
            .iter()
            .filter(|(p, h)| p.purpose == Purpose::Attack(id) && trusts(h, &p.exchange.origin))
            .map(|(p, h)| (*p, *h, attack_severity(id, credentials(h), p.variant.as_deref())))
            .collect();
        // The first of the most severe, so the evidence follows the plan's order.
        let worst = accepted.iter().map(|(_, _, s)| *s).max();
        let Some(&(probe, head, severity)) = accepted.iter().find(|(_, _, s)| Some(*s) == worst) else {
            continue;
        };
        let mut extra = Map::new();
        let others: Vec<&str> = accepted
            .iter()
            .map(|(p, _, _)| p.exchange.origin.as_str())
            .filter(|o| *o != probe.exchange.origin)
            .collect();
        if !others.is_empty() {
            extra.insert("also_accepted".into(), json!(others));
        }
        extra.insert("trusted_origin".into(), json!(probe.trusted));
        b.push(id, severity, probe, head, extra);
    }
}

/// A preflight that lets any origin through although actual requests do not reflect: any site
/// can send credentialed PUT/DELETE/JSON requests, though not read the answers.
fn preflight_reflection(b: &mut Builder<'_>, ok: &[(&Probe, &Head)]) {
    if b.has(FindingId::OriginReflection) {
        return;
    }
    for (probe, head) in ok {
        if probe.purpose == Purpose::PreflightReflection
            && head.status.is_success()
            && trusts(head, &probe.exchange.origin)
        {
            let severity = if credentials(head) { Severity::High } else { Severity::Low };
            let mut extra = Map::new();
            extra.insert(
                "note".into(),
                json!(
                    "only the preflight trusts the origin: any site can send non-simple requests \
                       (PUT, DELETE, JSON bodies), though it cannot read the answers"
                ),
            );
            b.push(FindingId::OriginReflection, severity, probe, head, extra);
            return;
        }
    }
}

fn wildcards(b: &mut Builder<'_>, ok: &[(&Probe, &Head)]) {
    for (probe, head) in ok {
        if acao(head) != Some(b"*") {
            continue;
        }
        if credentials(head) && !b.has(FindingId::WildcardWithCredentials) {
            let mut extra = Map::new();
            extra.insert(
                "note".into(),
                json!(
                    "browsers refuse credentialed reads with `*`; the server likely wants credentials \
                       from any origin, one step from reflecting the Origin"
                ),
            );
            b.push(FindingId::WildcardWithCredentials, Severity::Medium, probe, head, extra);
        } else if !credentials(head) && !b.has(FindingId::WildcardOrigin) {
            b.push(FindingId::WildcardOrigin, Severity::Low, probe, head, Map::new());
        }
    }
    // `*` in the method or header list is a literal name when credentials are allowed.
    for (probe, head) in ok {
        if b.has(FindingId::WildcardWithCredentials) {
            break;
        }
        if !probe.is_preflight() || !credentials(head) || !trusts(head, &probe.exchange.origin) {
            continue;
        }
        for (name, label) in
            [(&ACCESS_CONTROL_ALLOW_METHODS, "acam"), (&ACCESS_CONTROL_ALLOW_HEADERS, "acah")]
        {
            if elements(head, name).iter().any(|e| e == "*") && !b.has(FindingId::WildcardWithCredentials) {
                let mut extra = Map::new();
                extra.insert(
                    "note".into(),
                    json!(format!("`*` in {label} with credentials is a literal name, not a wildcard")),
                );
                b.push(FindingId::WildcardWithCredentials, Severity::Low, probe, head, extra);
            }
        }
    }
}

fn missing_vary(b: &mut Builder<'_>, ok: &[(&Probe, &Head)]) {
    let actual: Vec<&(&Probe, &Head)> = ok.iter().filter(|(p, _)| !p.is_preflight()).collect();
    let distinct: HashSet<Option<Vec<u8>>> =
        actual.iter().map(|(_, h)| acao(h).map(<[u8]>::to_vec)).collect();
    let echoes =
        actual.iter().any(|(p, h)| acao(h).is_some_and(|a| a != b"*" && a == p.exchange.origin.as_bytes()));
    if distinct.len() < 2 && !echoes {
        return;
    }
    // Prefer a response that carries an ACAO: that is the variant a cache would hand out.
    let candidate = actual
        .iter()
        .filter(|(_, h)| cacheable(h) && !varies_on_origin(h))
        .max_by_key(|(p, h)| (acao(h).is_some(), p.purpose == Purpose::Baseline));
    if let Some((probe, head)) = candidate {
        let severity = if shared_cacheable(head) { Severity::Medium } else { Severity::Low };
        let mut extra = Map::new();
        let values: Vec<Value> =
            distinct.iter().map(|v| v.as_deref().map(text).map_or(Value::Null, Value::String)).collect();
        extra.insert("acao_values_seen".into(), Value::Array(values));
        extra.insert("shared_cacheable".into(), json!(shared_cacheable(head)));
        b.push(FindingId::MissingVaryOrigin, severity, probe, head, extra);
    }
}

fn preflight_lists(b: &mut Builder<'_>, ok: &[(&Probe, &Head)]) {
    for (probe, head) in ok {
        let (id, name, asked, case_sensitive) = match probe.purpose {
            Purpose::PreflightHeaders => {
                (FindingId::PreflightReflectsHeaders, &ACCESS_CONTROL_ALLOW_HEADERS, PROBE_HEADER, false)
            }
            Purpose::PreflightMethod => {
                (FindingId::PreflightAnyMethod, &ACCESS_CONTROL_ALLOW_METHODS, PROBE_METHOD, true)
            }
            _ => continue,
        };
        if b.has(id) || !head.status.is_success() || !passes_cors_check(head, &probe.exchange.origin) {
            continue;
        }
        let listed = elements(head, name);
        let echoed =
            listed.iter().any(|e| if case_sensitive { e == asked } else { e.eq_ignore_ascii_case(asked) });
        let star = !credentials(head) && listed.iter().any(|e| e == "*");
        let severity = match (echoed, star) {
            (true, _) if credentials(head) => Severity::Medium,
            (true, _) => Severity::Low,
            (false, true) => Severity::Info,
            (false, false) => continue,
        };
        let mut extra = Map::new();
        extra.insert("variant".into(), json!(if echoed { "echoed what was asked" } else { "`*` wildcard" }));
        b.push(id, severity, probe, head, extra);
    }
}

fn preflight_status(b: &mut Builder<'_>, ok: &[(&Probe, &Head)]) {
    for (probe, head) in ok {
        if probe.purpose != Purpose::PreflightStatus
            || head.status.is_success()
            || b.has(FindingId::PreflightStatus)
        {
            continue;
        }
        let baseline_trusted = ok.iter().any(|(p, h)| {
            p.purpose == Purpose::Baseline
                && p.trusted == probe.trusted
                && passes_cors_check(h, &probe.trusted)
        });
        if !baseline_trusted && !passes_cors_check(head, &probe.trusted) {
            continue;
        }
        let mut extra = Map::new();
        let why = if head.status.is_redirection() {
            "browsers never follow redirects on preflights"
        } else {
            "the trusted origin is allowed on actual requests, but every request that needs a preflight \
             (JSON bodies, Authorization, PUT/DELETE) fails; is authentication or routing answering \
             OPTIONS before CORS?"
        };
        extra.insert("note".into(), json!(why));
        b.push(FindingId::PreflightStatus, Severity::Info, probe, head, extra);
    }
}

fn header_syntax(b: &mut Builder<'_>, ok: &[(&Probe, &Head)]) {
    for (probe, head) in ok {
        let origins = fields(head, &ACCESS_CONTROL_ALLOW_ORIGIN);
        // A probe origin may itself contain a comma (a special-character probe); echoing it is
        // reflection, not a list.
        let sent = probe.exchange.origin.as_bytes();
        let listy = |v: &&[u8]| *v != sent && (v.contains(&b',') || v.trim_ascii().contains(&b' '));
        if !b.has(FindingId::MultipleAcao) && (origins.len() > 1 || origins.iter().any(listy)) {
            let mut extra = Map::new();
            let values: Vec<String> = origins.iter().map(|v| text(v)).collect();
            extra.insert("acao_fields".into(), json!(values));
            b.push(FindingId::MultipleAcao, Severity::Low, probe, head, extra);
        }
        let flags = fields(head, &ACCESS_CONTROL_ALLOW_CREDENTIALS);
        if !b.has(FindingId::InvalidAcac) && !flags.is_empty() && flags.as_slice() != [b"true".as_slice()] {
            let all_false = flags.iter().all(|f| *f == b"false");
            let severity = if all_false { Severity::Info } else { Severity::Low };
            let mut extra = Map::new();
            let values: Vec<String> = flags.iter().map(|v| text(v)).collect();
            extra.insert("acac_fields".into(), json!(values));
            extra.insert(
                "note".into(),
                json!(if all_false {
                    "`false` is not a valid value; leave the header out instead"
                } else {
                    "browsers accept only one field with exactly `true`: credentialed requests fail"
                }),
            );
            b.push(FindingId::InvalidAcac, severity, probe, head, extra);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue, StatusCode};

    fn head(status: u16, headers: &[(&str, &str)]) -> Head {
        let mut map = HeaderMap::new();
        for (n, v) in headers {
            map.append(HeaderName::from_bytes(n.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        Head { status: StatusCode::from_u16(status).unwrap(), headers: map }
    }

    #[test]
    fn plan_derives_every_class_from_the_trusted_origin() {
        let plan = plan(&["https://app.example.com".to_owned()]);
        let origins: Vec<&str> = plan.iter().map(|p| p.exchange.origin.as_str()).collect();
        for expected in [
            "https://app.example.com",
            "https://corsguard-probe.evil.net",
            "null",
            "https://app.example.com.evil.net",
            "https://evilexample.com",
            "https://xample.com",
            "https://appxexample.com",
            "https://app.examplexcom",
            "https://app.example.com_.evil.net",
            "https://app.example.com`.evil.net",
            "http://app.example.com",
            "https://corsguard-probe.app.example.com",
            "https://corsguard-probe.example.com",
            "https://corsguard-probe.github.io",
        ] {
            assert!(origins.contains(&expected), "{expected} missing from {origins:?}");
        }
        assert!(plan.iter().any(|p| p.purpose == Purpose::PreflightHeaders));
        assert!(plan.iter().any(|p| p.purpose == Purpose::PreflightMethod));
    }

    #[test]
    fn plan_never_sends_a_trusted_origin_as_an_attack() {
        let trusted = ["https://app.example.com".to_owned(), "http://app.example.com".to_owned()];
        let plan = plan(&trusted);
        assert!(!plan
            .iter()
            .any(|p| matches!(p.purpose, Purpose::Attack(_)) && trusted.contains(&p.exchange.origin)));
    }

    #[test]
    fn ports_stay_after_the_host_and_ip_hosts_get_no_subdomains() {
        let plan = plan(&["http://127.0.0.1:8080".to_owned()]);
        let origins: Vec<&str> = plan.iter().map(|p| p.exchange.origin.as_str()).collect();
        assert!(origins.contains(&"http://127.0.0.1.evil.net:8080"));
        assert!(!plan.iter().any(|p| p.purpose == Purpose::Attack(FindingId::AnySubdomainTrusted)));
    }

    #[test]
    fn matching_is_byte_exact_and_near_misses_are_explained() {
        let h = head(200, &[("access-control-allow-origin", "https://EVIL.net")]);
        assert!(!trusts(&h, "https://evil.net"));
        assert_eq!(
            near_miss(b"https://EVIL.net", "https://evil.net"),
            Some("it differs only in letter case")
        );
        assert_eq!(near_miss(b"https://evil.net/", "https://evil.net"), Some("it has a trailing slash"));
        assert_eq!(
            near_miss(b"https://evil.net:8443", "https://evil.net"),
            Some("it differs only in the port")
        );
        assert_eq!(near_miss(b"https://other.net", "https://evil.net"), None);
    }

    #[test]
    fn credentials_need_exactly_one_true() {
        assert!(credentials(&head(200, &[("access-control-allow-credentials", "true")])));
        assert!(!credentials(&head(200, &[("access-control-allow-credentials", "True")])));
        assert!(!credentials(&head(
            200,
            &[("access-control-allow-credentials", "true"), ("access-control-allow-credentials", "true")]
        )));
    }

    #[test]
    fn cacheability_follows_cache_control() {
        assert!(cacheable(&head(200, &[("cache-control", "public, max-age=600")])));
        assert!(shared_cacheable(&head(200, &[("cache-control", "public, max-age=600")])));
        assert!(cacheable(&head(200, &[("cache-control", "private, max-age=60")])));
        assert!(!shared_cacheable(&head(200, &[("cache-control", "private, max-age=60")])));
        assert!(!cacheable(&head(200, &[("cache-control", "no-store")])));
        assert!(!cacheable(&head(200, &[("cache-control", "max-age=0")])));
        assert!(!cacheable(&head(200, &[])));
        assert!(cacheable(&head(200, &[("last-modified", "Wed, 21 Oct 2015 07:28:00 GMT")])));
        assert!(!cacheable(&head(500, &[("cache-control", "max-age=600")])));
    }

    fn outcome(origin: &str, purpose: Purpose, h: Head) -> Outcome {
        let mut probe = Probe::actual(purpose, origin.to_owned(), "https://app.example.com", None);
        if purpose == Purpose::Attack(FindingId::SpecialCharacters) {
            probe.variant = Some("`,`".to_owned());
        }
        Outcome { probe, result: Ok(h) }
    }

    #[test]
    fn an_echoed_comma_probe_is_reflection_not_a_list() {
        let origin = "https://app.example.com,.evil.net";
        let echo = head(200, &[("access-control-allow-origin", origin), ("vary", "Origin")]);
        let list =
            head(200, &[("access-control-allow-origin", "https://a.example.com, https://b.example.com")]);
        let analysis = analyze(
            "http://127.0.0.1:8080/",
            &["https://app.example.com".to_owned()],
            &[
                outcome(origin, Purpose::Attack(FindingId::SpecialCharacters), echo),
                outcome("https://app.example.com", Purpose::Baseline, list),
            ],
        );
        let ids: Vec<FindingId> = analysis.findings.iter().map(|f| f.id).collect();
        assert!(ids.contains(&FindingId::SpecialCharacters), "{ids:?}");
        let multiple: Vec<&Finding> =
            analysis.findings.iter().filter(|f| f.id == FindingId::MultipleAcao).collect();
        assert_eq!(multiple.len(), 1);
        assert_eq!(multiple[0].origin_sent, "https://app.example.com");
    }

    fn preflight_outcome(purpose: Purpose, method: &str, headers: Option<&str>, h: Head) -> Outcome {
        let t = "https://app.example.com";
        Outcome { probe: Probe::preflight(purpose, t.to_owned(), t, method, headers), result: Ok(h) }
    }

    #[test]
    fn a_failing_preflight_for_a_trusted_origin_is_reported_as_info() {
        let t = "https://app.example.com";
        let allowed = head(200, &[("access-control-allow-origin", t), ("vary", "Origin")]);
        let analysis = analyze(
            "http://127.0.0.1:8080/",
            &[t.to_owned()],
            &[
                outcome(t, Purpose::Baseline, allowed),
                preflight_outcome(Purpose::PreflightStatus, "GET", None, head(401, &[])),
            ],
        );
        let f =
            analysis.findings.iter().find(|f| f.id == FindingId::PreflightStatus).expect("preflight-status");
        assert_eq!(f.severity, Severity::Info);
        assert_eq!(f.evidence["status"], 401);
    }

    #[test]
    fn star_lists_with_credentials_are_literal() {
        let t = "https://app.example.com";
        let h = head(
            204,
            &[
                ("access-control-allow-origin", t),
                ("access-control-allow-credentials", "true"),
                ("access-control-allow-headers", "*"),
            ],
        );
        let analysis = analyze(
            "http://127.0.0.1:8080/",
            &[t.to_owned()],
            &[preflight_outcome(Purpose::PreflightHeaders, "GET", Some(PROBE_HEADER), h)],
        );
        let ids: Vec<FindingId> = analysis.findings.iter().map(|f| f.id).collect();
        assert_eq!(ids, [FindingId::WildcardWithCredentials]);
        assert_eq!(analysis.findings[0].severity, Severity::Low);
    }

    #[test]
    fn a_near_miss_on_the_trusted_origin_is_a_note_not_a_finding() {
        let t = "https://app.example.com";
        let h = head(200, &[("access-control-allow-origin", "https://app.example.com/")]);
        let analysis =
            analyze("http://127.0.0.1:8080/", &[t.to_owned()], &[outcome(t, Purpose::Baseline, h)]);
        assert!(analysis.findings.is_empty());
        assert!(analysis
            .notes
            .iter()
            .any(|n| n.contains("trailing slash") && n.contains("trusted origin itself")));
    }

    #[test]
    fn severity_rises_with_credentials() {
        for id in [FindingId::OriginReflection, FindingId::NullOrigin, FindingId::PrefixMatch] {
            assert_eq!(attack_severity(id, true, None), Severity::Critical);
            assert_eq!(attack_severity(id, false, None), Severity::Medium);
        }
        assert_eq!(attack_severity(FindingId::SpecialCharacters, true, Some("`_`")), Severity::Critical);
        assert_eq!(attack_severity(FindingId::SpecialCharacters, true, Some("`{`")), Severity::High);
        assert_eq!(attack_severity(FindingId::AnySubdomainTrusted, false, None), Severity::Low);
    }
}

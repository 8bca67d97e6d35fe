//! Reading the policy file: TOML in, a raw model with the source span of every key and value
//! out, plus a diagnostic for every syntax error, unknown key and wrongly typed value (all of
//! them, not just the first).

use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::diagnostic::{Diagnostic, Diagnostics};

/// A value and where it was written (`None` for values built in code).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sp<T> {
    /// The value.
    pub value: T,
    /// Its byte range in the policy file.
    pub span: Option<Range<usize>>,
}

impl<T> Sp<T> {
    /// A value with no place in a file.
    pub fn bare(value: T) -> Self {
        Sp { value, span: None }
    }
}

/// A list of strings, each with its span.
pub type SpList = Sp<Vec<Sp<String>>>;

/// The rule keys shared by `[policy]`, profiles and routes, as written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawRules {
    /// `origins`.
    pub origins: Option<SpList>,
    /// `methods`.
    pub methods: Option<SpList>,
    /// `allow_headers`.
    pub allow_headers: Option<SpList>,
    /// `expose_headers`.
    pub expose_headers: Option<SpList>,
    /// `credentials`.
    pub credentials: Option<Sp<bool>>,
    /// `max_age`, seconds.
    pub max_age: Option<Sp<i64>>,
    /// `private_network`.
    pub private_network: Option<Sp<bool>>,
    /// `cross_origin_protection`.
    pub cross_origin_protection: Option<Sp<bool>>,
}

impl RawRules {
    /// Keys in `self` replace those in `base`.
    pub fn over(&self, base: &RawRules) -> RawRules {
        fn pick<T: Clone>(top: &Option<T>, base: &Option<T>) -> Option<T> {
            top.clone().or_else(|| base.clone())
        }
        RawRules {
            origins: pick(&self.origins, &base.origins),
            methods: pick(&self.methods, &base.methods),
            allow_headers: pick(&self.allow_headers, &base.allow_headers),
            expose_headers: pick(&self.expose_headers, &base.expose_headers),
            credentials: pick(&self.credentials, &base.credentials),
            max_age: pick(&self.max_age, &base.max_age),
            private_network: pick(&self.private_network, &base.private_network),
            cross_origin_protection: pick(&self.cross_origin_protection, &base.cross_origin_protection),
        }
    }
}

/// One `[profiles.NAME]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawProfile {
    /// The profile's name and the span of its table header.
    pub name: Sp<String>,
    /// `strict = true` asks for the production rules under another name.
    pub strict: Option<Sp<bool>>,
    /// Its rule keys.
    pub rules: RawRules,
}

/// One `[[routes]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawRoute {
    /// `path`, the prefix it applies to.
    pub path: Option<Sp<String>>,
    /// The span of the whole entry.
    pub span: Option<Range<usize>>,
    /// Its rule keys.
    pub rules: RawRules,
}

/// The `[gateway]` table, read only by `corsguard serve`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GatewaySection {
    /// `listen`: address to serve on.
    pub listen: Option<Sp<String>>,
    /// `upstream`: URL of the backend.
    pub upstream: Option<Sp<String>>,
    /// `admin`: address of the metrics and health listener.
    pub admin: Option<Sp<String>>,
    /// `mode`: `enforce` (default) or `report`.
    pub mode: Option<Sp<String>>,
    /// `tls_cert`: PEM certificate chain for TLS termination.
    pub tls_cert: Option<Sp<String>>,
    /// `tls_key`: PEM private key for TLS termination.
    pub tls_key: Option<Sp<String>>,
    /// `connect_timeout`: seconds to connect to the upstream.
    pub connect_timeout: Option<Sp<f64>>,
    /// `header_timeout`: seconds a client has to send request headers.
    pub header_timeout: Option<Sp<f64>>,
    /// `upstream_timeout`: seconds to wait for the upstream's response headers.
    pub upstream_timeout: Option<Sp<f64>>,
    /// `shutdown_timeout`: seconds in-flight requests get to finish on shutdown.
    pub shutdown_timeout: Option<Sp<f64>>,
    /// `upstream_max_connections`: upstream connections busy at once.
    pub upstream_max_connections: Option<Sp<i64>>,
}

/// A whole policy file, as written.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PolicyFile {
    /// `default_profile`.
    pub default_profile: Option<Sp<String>>,
    /// `[gateway]`.
    pub gateway: GatewaySection,
    /// `[policy]`.
    pub policy: RawRules,
    /// `[profiles.*]`, in file order.
    pub profiles: Vec<RawProfile>,
    /// `[[routes]]`, in file order (first match wins).
    pub routes: Vec<RawRoute>,
}

const TOP_KEYS: &[&str] = &["default_profile", "gateway", "policy", "profiles", "routes"];
const RULE_KEYS: &[&str] = &[
    "origins",
    "methods",
    "allow_headers",
    "expose_headers",
    "credentials",
    "max_age",
    "private_network",
    "cross_origin_protection",
];
const GATEWAY_KEYS: &[&str] = &[
    "listen",
    "upstream",
    "admin",
    "mode",
    "tls_cert",
    "tls_key",
    "connect_timeout",
    "header_timeout",
    "upstream_timeout",
    "shutdown_timeout",
    "upstream_max_connections",
];

/// Parses a policy file. Every problem found becomes a diagnostic; what could be read is
/// returned either way.
pub fn parse(text: &str) -> (PolicyFile, Diagnostics) {
    let mut diags = Diagnostics::new();
    let (root, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        for error in errors {
            diags.push(
                Diagnostic::error("parse-error", error.message().trim().to_owned(), "this is not valid TOML")
                    .at(error.span()),
            );
        }
        return (PolicyFile::default(), diags);
    }
    let mut reader = Reader { diags };
    let file = reader.file(root.get_ref());
    (file, reader.diags)
}

struct Reader {
    diags: Diagnostics,
}

type Entry<'i> = (&'i Spanned<std::borrow::Cow<'i, str>>, &'i Spanned<DeValue<'i>>);

impl Reader {
    fn file(&mut self, root: &DeTable<'_>) -> PolicyFile {
        let mut file = PolicyFile::default();
        for (key, value) in root.iter() {
            match key.get_ref().as_ref() {
                "default_profile" => file.default_profile = self.string(value),
                "gateway" => {
                    if let Some(table) = self.table(value, "[gateway]") {
                        file.gateway = self.gateway(table);
                    }
                }
                "policy" => {
                    if let Some(table) = self.table(value, "[policy]") {
                        file.policy = self.rules(table, "[policy]", RULE_KEYS);
                    }
                }
                "profiles" => {
                    if let Some(table) = self.table(value, "[profiles]") {
                        file.profiles = self.profiles(table);
                    }
                }
                "routes" => file.routes = self.routes(value),
                _ => self.unknown_key((key, value), "the top level", TOP_KEYS),
            }
        }
        file
    }

    fn profiles(&mut self, table: &DeTable<'_>) -> Vec<RawProfile> {
        let mut profiles = Vec::new();
        for (key, value) in table.iter() {
            let name = key.get_ref().to_string();
            let Some(body) = self.table(value, &format!("[profiles.{name}]")) else { continue };
            let strict = body.get("strict").and_then(|v| self.bool(v));
            let mut allowed: Vec<&str> = RULE_KEYS.to_vec();
            allowed.push("strict");
            let rules = self.rules(body, &format!("[profiles.{name}]"), &allowed);
            profiles.push(RawProfile { name: Sp { value: name, span: Some(key.span()) }, strict, rules });
        }
        profiles
    }

    fn routes(&mut self, value: &Spanned<DeValue<'_>>) -> Vec<RawRoute> {
        let Some(items) = value.get_ref().as_array() else {
            self.type_error::<()>(value, "an array of tables ([[routes]])");
            return Vec::new();
        };
        let mut allowed: Vec<&str> = RULE_KEYS.to_vec();
        allowed.push("path");
        let mut routes = Vec::new();
        for item in items.iter() {
            let Some(table) = self.table(item, "[[routes]]") else { continue };
            let path = table.get("path").and_then(|v| self.string(v));
            let rules = self.rules(table, "[[routes]]", &allowed);
            routes.push(RawRoute { path, span: Some(item.span()), rules });
        }
        routes
    }

    fn rules(&mut self, table: &DeTable<'_>, section: &str, allowed: &[&str]) -> RawRules {
        let mut rules = RawRules::default();
        for entry @ (key, value) in table.iter() {
            match key.get_ref().as_ref() {
                "origins" => rules.origins = self.list(value),
                "methods" => rules.methods = self.list(value),
                "allow_headers" => rules.allow_headers = self.list(value),
                "expose_headers" => rules.expose_headers = self.list(value),
                "credentials" => rules.credentials = self.bool(value),
                "max_age" => rules.max_age = self.int(value),
                "private_network" => rules.private_network = self.bool(value),
                "cross_origin_protection" => rules.cross_origin_protection = self.bool(value),
                name if allowed.contains(&name) => {}
                _ => self.unknown_key(entry, section, allowed),
            }
        }
        rules
    }

    fn gateway(&mut self, table: &DeTable<'_>) -> GatewaySection {
        let mut gw = GatewaySection::default();
        for entry @ (key, value) in table.iter() {
            match key.get_ref().as_ref() {
                "listen" => gw.listen = self.string(value),
                "upstream" => gw.upstream = self.string(value),
                "admin" => gw.admin = self.string(value),
                "mode" => gw.mode = self.string(value),
                "tls_cert" => gw.tls_cert = self.string(value),
                "tls_key" => gw.tls_key = self.string(value),
                "connect_timeout" => gw.connect_timeout = self.seconds(value),
                "header_timeout" => gw.header_timeout = self.seconds(value),
                "upstream_timeout" => gw.upstream_timeout = self.seconds(value),
                "shutdown_timeout" => gw.shutdown_timeout = self.seconds(value),
                "upstream_max_connections" => gw.upstream_max_connections = self.int(value),
                _ => self.unknown_key(entry, "[gateway]", GATEWAY_KEYS),
            }
        }
        gw
    }

    fn table<'v, 'i>(&mut self, value: &'v Spanned<DeValue<'i>>, what: &str) -> Option<&'v DeTable<'i>> {
        let table = value.get_ref().as_table();
        if table.is_none() {
            self.type_error::<()>(value, &format!("a table ({what})"));
        }
        table
    }

    fn string(&mut self, value: &Spanned<DeValue<'_>>) -> Option<Sp<String>> {
        match value.get_ref().as_str() {
            Some(s) => Some(Sp { value: s.to_owned(), span: Some(value.span()) }),
            None => self.type_error(value, "a string"),
        }
    }

    fn bool(&mut self, value: &Spanned<DeValue<'_>>) -> Option<Sp<bool>> {
        match value.get_ref().as_bool() {
            Some(b) => Some(Sp { value: b, span: Some(value.span()) }),
            None => self.type_error(value, "`true` or `false`"),
        }
    }

    fn int(&mut self, value: &Spanned<DeValue<'_>>) -> Option<Sp<i64>> {
        let parsed = value
            .get_ref()
            .as_integer()
            .and_then(|i| i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok());
        match parsed {
            Some(n) => Some(Sp { value: n, span: Some(value.span()) }),
            None => self.type_error(value, "an integer"),
        }
    }

    fn seconds(&mut self, value: &Spanned<DeValue<'_>>) -> Option<Sp<f64>> {
        let n = match value.get_ref() {
            DeValue::Integer(i) => {
                i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok().map(|n| n as f64)
            }
            DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
            _ => None,
        };
        match n {
            Some(n) if n.is_finite() && n > 0.0 => Some(Sp { value: n, span: Some(value.span()) }),
            _ => self.type_error(value, "a positive number of seconds"),
        }
    }

    fn list(&mut self, value: &Spanned<DeValue<'_>>) -> Option<SpList> {
        let Some(items) = value.get_ref().as_array() else {
            return self.type_error(value, "an array of strings");
        };
        let mut out = Vec::new();
        for item in items.iter() {
            match item.get_ref().as_str() {
                Some(s) => out.push(Sp { value: s.to_owned(), span: Some(item.span()) }),
                None => {
                    self.type_error::<()>(item, "a string");
                }
            }
        }
        Some(Sp { value: out, span: Some(value.span()) })
    }

    fn type_error<T>(&mut self, value: &Spanned<DeValue<'_>>, expected: &str) -> Option<T> {
        self.diags.push(
            Diagnostic::error(
                "parse-error",
                format!("expected {expected}, found {}", value.get_ref().type_str()),
                format!("write {expected} here"),
            )
            .at(Some(value.span())),
        );
        None
    }

    fn unknown_key(&mut self, (key, _): Entry<'_>, section: &str, allowed: &[&str]) {
        let name = key.get_ref().as_ref();
        let help = match closest(name, allowed) {
            Some(guess) => format!("did you mean `{guess}`?"),
            None => format!("the keys allowed here are: {}", allowed.join(", ")),
        };
        self.diags.push(
            Diagnostic::error("unknown-key", format!("unknown key `{name}` in {section}"), help)
                .at(Some(key.span())),
        );
    }
}

/// The allowed name closest to `name`, if it is a plausible typo.
pub(crate) fn closest<'a>(name: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|candidate| (edit_distance(name, candidate), *candidate))
        .filter(|(d, candidate)| *d <= 2.max(candidate.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let next = (row[j + 1] + 1).min(row[j] + 1).min(prev + cost);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_section() {
        let text = r#"
default_profile = "production"
[gateway]
listen = "127.0.0.1:8080"
upstream_timeout = 2.5
[policy]
methods = ["GET"]
credentials = true
max_age = 7_200
[profiles.production]
origins = ["https://app.example.com"]
strict = true
[[routes]]
path = "/public/"
origins = ["*"]
"#;
        let (file, diags) = parse(text);
        assert!(diags.is_empty(), "{diags}");
        assert_eq!(file.default_profile.unwrap().value, "production");
        assert_eq!(file.gateway.listen.unwrap().value, "127.0.0.1:8080");
        assert_eq!(file.gateway.upstream_timeout.unwrap().value, 2.5);
        assert_eq!(file.policy.max_age.unwrap().value, 7200);
        assert_eq!(file.profiles[0].name.value, "production");
        assert!(file.profiles[0].strict.as_ref().unwrap().value);
        assert_eq!(file.routes[0].path.as_ref().unwrap().value, "/public/");
    }

    #[test]
    fn collects_every_problem() {
        let text =
            "[policy]\ncredentails = true\nmethods = \"GET\"\n[profiles.dev]\norigins = [1]\nfoo = 2\n";
        let (_, diags) = parse(text);
        let codes: Vec<_> = diags.iter().map(|d| d.code).collect();
        assert_eq!(codes, ["unknown-key", "parse-error", "parse-error", "unknown-key"]);
        assert_eq!(diags.iter().next().unwrap().help, "did you mean `credentials`?");
    }

    #[test]
    fn syntax_errors_have_spans() {
        let (_, diags) = parse("[policy\nx = 1");
        let d = diags.iter().next().unwrap();
        assert_eq!(d.code, "parse-error");
        assert!(d.span.is_some());
    }
}

//! Reading the policy file: TOML in, a raw model with the source span of every key and value
//! out, plus a diagnostic for every syntax error, unknown key and wrongly typed value (all of
//! them, not just the first).

use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::lint_code::LintCode;

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

/// A whole policy file, as written.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PolicyFile {
    /// `default_profile`.
    pub default_profile: Option<Sp<String>>,
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
/// Parses a policy file. Every problem found becomes a diagnostic; what could be read is
/// returned either way.
pub fn parse(text: &str) -> (PolicyFile, Diagnostics) {
    let mut diags = Diagnostics::new();
    let (root, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        for error in errors {
            diags.push(
                Diagnostic::new(
                    LintCode::ParseError,
                    error.message().trim().to_owned(),
                    "this is not valid TOML",
                )
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
                // `[gateway]` belongs to the gateway, which reads and checks it itself.
                "gateway" => {}
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
        let Some(integer) = value.get_ref().as_integer() else {
            return self.type_error(value, "an integer");
        };
        match i64::from_str_radix(&integer.as_str().replace('_', ""), integer.radix()) {
            Ok(n) => Some(Sp { value: n, span: Some(value.span()) }),
            Err(_) => {
                self.diags.push(
                    Diagnostic::new(
                        LintCode::ParseError,
                        "this number is out of range",
                        "write a smaller number",
                    )
                    .at(Some(value.span())),
                );
                None
            }
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
            Diagnostic::new(
                LintCode::ParseError,
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
            Diagnostic::new(LintCode::UnknownKey, format!("unknown key `{name}` in {section}"), help)
                .at(Some(key.span())),
        );
    }
}

/// The allowed name closest to `name`, if it is a plausible typo.
pub(crate) fn closest<'a>(name: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|candidate| (strsim::levenshtein(name, candidate), *candidate))
        .filter(|(d, candidate)| *d <= 2.max(candidate.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
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
        let codes: Vec<_> = diags.iter().map(|d| d.code.as_str()).collect();
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

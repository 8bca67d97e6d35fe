//! [`Policy`]: a validated, immutable CORS policy for one profile, built from a policy file or
//! in code, and the decision entry point.

use std::fmt;

use http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::config::{self, PolicyFile, RawProfile, RawRules, Sp};
use crate::decision::{self, Decision, OwnedDecision, RequestView};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::lint::{self, Scope};
use crate::lint_code::LintCode;
use crate::rules::Rules;

/// The profile name that is always strict.
pub const PRODUCTION: &str = "production";

/// A validated CORS policy for one profile: its rules and its `[[routes]]` overrides.
///
/// Built only through [`Policy::from_toml`], [`Policy::from_file`] or [`Policy::builder`], all
/// of which validate everything first and return every problem as [`Diagnostics`] instead of
/// panicking. Once built it never changes; cheap to share behind an `Arc`.
#[derive(Clone, Debug)]
pub struct Policy {
    profile: String,
    strict: bool,
    rules: Rules,
    routes: Vec<(String, Rules)>,
    warnings: Diagnostics,
}

impl Policy {
    /// Builds the policy of one profile from policy-file text.
    ///
    /// Profile selection: `profile` if given, else the file's `default_profile`, else its only
    /// profile (a file with no `[profiles]` is a single profile named `default`). The CLI puts
    /// `CORSGUARD_PROFILE` between the first two.
    ///
    /// ```
    /// let policy = corsguard::Policy::from_toml(
    ///     r#"
    ///     [policy]
    ///     credentials = true
    ///     [profiles.production]
    ///     origins = ["https://app.example.com"]
    ///     "#,
    ///     Some("production"),
    /// )?;
    /// assert!(policy.is_strict());
    /// # Ok::<(), corsguard::Diagnostics>(())
    /// ```
    pub fn from_toml(text: &str, profile: Option<&str>) -> Result<Policy, Diagnostics> {
        let (file, mut diags) = config::parse(text);
        let policy = if diags.has_errors() { None } else { build_profile(&file, profile, &mut diags) };
        diags.locate(text);
        match policy {
            Some(mut policy) if !diags.has_errors() => {
                policy.warnings = diags;
                Ok(policy)
            }
            _ => Err(diags),
        }
    }

    /// Reads and builds a policy file. An unreadable file is reported as a `parse-error`.
    pub fn from_file(
        path: impl AsRef<std::path::Path>,
        profile: Option<&str>,
    ) -> Result<Policy, Diagnostics> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            let mut d = Diagnostics::new();
            d.push(Diagnostic::new(
                LintCode::ParseError,
                format!("cannot read {}: {e}", path.display()),
                "check the path and its permissions",
            ));
            d
        })?;
        Policy::from_toml(&text, profile)
    }

    /// Starts a policy in code.
    ///
    /// ```
    /// use corsguard::Policy;
    ///
    /// let policy = Policy::builder()
    ///     .origins(["https://app.example.com", "https://*.staging.example.com"])
    ///     .methods(["GET", "POST", "PUT"])
    ///     .allow_headers(["Content-Type", "Authorization"])
    ///     .credentials(true)
    ///     .build()?;
    /// assert_eq!(policy.profile(), "default");
    ///
    /// // The unsafe combination is refused, with a reason, instead of panicking.
    /// let err = Policy::builder().origins(["*"]).credentials(true).build().unwrap_err();
    /// assert_eq!(err.iter().next().unwrap().code, "wildcard-with-credentials");
    /// # Ok::<(), corsguard::Diagnostics>(())
    /// ```
    pub fn builder() -> PolicyBuilder {
        PolicyBuilder::default()
    }

    /// Decides one request: its kind, action, reason and response headers.
    ///
    /// ```
    /// use corsguard::Action;
    /// use http::{Request, StatusCode};
    ///
    /// let policy = corsguard::Policy::builder()
    ///     .origins(["https://app.example.com"])
    ///     .methods(["GET", "PUT"])
    ///     .build()?;
    /// let request = Request::options("/items/1")
    ///     .header("origin", "https://app.example.com")
    ///     .header("access-control-request-method", "PUT")
    ///     .body(())
    ///     .unwrap();
    /// let decision = policy.decide(&request);
    /// assert!(decision.is_allowed());
    /// assert_eq!(decision.action(), Action::Answer(StatusCode::NO_CONTENT));
    /// assert_eq!(
    ///     decision.headers().allow_origin().unwrap(),
    ///     "https://app.example.com"
    /// );
    /// # Ok::<(), corsguard::Diagnostics>(())
    /// ```
    pub fn decide<'a>(&'a self, request: impl Into<RequestView<'a>>) -> Decision<'a> {
        let request = request.into();
        decision::decide(self.route_for(request.path()).rules, self.strict, request)
    }

    /// Decides a request given as a method, a path and header pairs, for callers that hold no
    /// [`http::Request`] (the Node and Python packages). Headers are taken as given, repeated
    /// names included.
    ///
    /// A method that is not a token, a path that is not a request target, or a header that is
    /// not a valid name and value is refused with [`RequestError`]: a server would answer 400.
    ///
    /// ```
    /// let policy = corsguard::Policy::builder().origins(["https://app.example.com"]).build()?;
    /// let decision = policy
    ///     .decide_parts("GET", "/items?page=2", [("Origin", "https://app.example.com")])
    ///     .unwrap();
    /// assert!(decision.is_allowed() && decision.is_forwarded());
    /// assert_eq!(decision.headers().allow_origin().unwrap(), "https://app.example.com");
    ///
    /// assert!(policy.decide_parts("GET", "/", [("Origin", "a\r\nb")]).is_err());
    /// # Ok::<(), corsguard::Diagnostics>(())
    /// ```
    pub fn decide_parts<I, N, V>(
        &self,
        method: &str,
        path: &str,
        headers: I,
    ) -> Result<OwnedDecision, RequestError>
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|_| RequestError(format!("`{method}` is not an HTTP method")))?;
        let target: http::Uri =
            path.parse().map_err(|_| RequestError(format!("`{path}` is not a request target")))?;
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            let (name, value) = (name.as_ref(), value.as_ref());
            let header = HeaderName::from_bytes(name).map_err(|_| {
                RequestError(format!("`{}` is not a header name", String::from_utf8_lossy(name)))
            })?;
            let value = HeaderValue::from_bytes(value).map_err(|_| {
                RequestError(format!("the value of `{header}` has bytes a header cannot carry"))
            })?;
            map.append(header, value);
        }
        let view = RequestView::new(&method, target.path(), &map)
            .with_authority(target.authority().map(|a| a.as_str()));
        Ok(self.decide(view).into_owned())
    }

    /// Appends to `key` everything the decision of a preflight reads: which rules the path
    /// selects and the values of the headers the decision looks at. Under one policy, two
    /// preflights with equal keys get equal decisions, so a cache of answers can be keyed by
    /// it. Returns false, writing nothing, for a request that is not a preflight.
    ///
    /// ```
    /// use http::Request;
    ///
    /// let policy = corsguard::Policy::builder().origins(["https://app.example.com"]).build()?;
    /// let preflight = |agent: &str| {
    ///     Request::options("/items")
    ///         .header("origin", "https://app.example.com")
    ///         .header("access-control-request-method", "POST")
    ///         .header("user-agent", agent)
    ///         .body(())
    ///         .unwrap()
    /// };
    /// let (mut a, mut b) = (Vec::new(), Vec::new());
    /// assert!(policy.preflight_key(&preflight("one"), &mut a));
    /// assert!(policy.preflight_key(&preflight("two"), &mut b));
    /// assert_eq!(a, b); // User-Agent plays no part in the decision
    /// assert!(!policy.preflight_key(&Request::get("/").body(()).unwrap(), &mut a));
    /// # Ok::<(), corsguard::Diagnostics>(())
    /// ```
    pub fn preflight_key<'a>(&'a self, request: impl Into<RequestView<'a>>, key: &mut Vec<u8>) -> bool {
        let request = request.into();
        let start = key.len();
        key.extend_from_slice(&(self.route_index(request.path()) as u64).to_le_bytes());
        let keyed = decision::write_preflight_key(request, key);
        if !keyed {
            key.truncate(start);
        }
        keyed
    }

    /// The rules that apply to a path: the first route whose prefix matches, else the
    /// profile's.
    ///
    /// ```
    /// let policy = corsguard::Policy::builder()
    ///     .origins(["https://app.example.com"])
    ///     .route("/public/", |r| r.origins(["*"]))
    ///     .build()?;
    /// assert_eq!(policy.route_for("/public/logo.png").prefix(), Some("/public/"));
    /// assert!(policy.route_for("/public/logo.png").rules().allows_any_origin());
    /// assert_eq!(policy.route_for("/api/items").prefix(), None);
    /// # Ok::<(), corsguard::Diagnostics>(())
    /// ```
    pub fn route_for(&self, path: &str) -> Route<'_> {
        match self.route_index(path) {
            0 => Route { prefix: None, rules: &self.rules },
            i => {
                let (prefix, rules) = &self.routes[i - 1];
                Route { prefix: Some(prefix), rules }
            }
        }
    }

    /// 0 for the profile's rules, `i + 1` for route `i`.
    fn route_index(&self, path: &str) -> usize {
        self.routes.iter().position(|(prefix, _)| path.starts_with(prefix.as_str())).map_or(0, |i| i + 1)
    }

    /// The profile's own rules (what applies outside every route).
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// The routes, in match order.
    pub fn routes(&self) -> impl Iterator<Item = Route<'_>> {
        self.routes.iter().map(|(prefix, rules)| Route { prefix: Some(prefix), rules })
    }

    /// The selected profile's name.
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// True for `production` and profiles with `strict = true`: stricter lint rules, and no
    /// `corsguard-reason` header on refusals.
    pub fn is_strict(&self) -> bool {
        self.strict
    }

    /// Warnings found while building (errors prevent building at all).
    pub fn warnings(&self) -> &Diagnostics {
        &self.warnings
    }
}

/// The rules one request path gets: a `[[routes]]` entry, or the profile's own rules.
#[derive(Clone, Copy, Debug)]
pub struct Route<'a> {
    prefix: Option<&'a str>,
    rules: &'a Rules,
}

impl<'a> Route<'a> {
    /// The route's path prefix, or `None` for the profile's own rules.
    pub fn prefix(&self) -> Option<&'a str> {
        self.prefix
    }

    /// The rules.
    pub fn rules(&self) -> &'a Rules {
        self.rules
    }
}

/// A request given to [`Policy::decide_parts`] that no server would accept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestError(String);

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RequestError {}

/// Lints a policy file: the named profile, or every profile when `profile` is `None`.
/// Diagnostics carry line and column.
///
/// ```
/// let diags = corsguard::check_toml("[profiles.dev]\norigins = [\"null\"]\n", None);
/// let d = diags.iter().next().unwrap();
/// assert_eq!((d.code.as_str(), d.location), ("null-origin", Some((2, 12))));
/// ```
pub fn check_toml(text: &str, profile: Option<&str>) -> Diagnostics {
    let (file, mut diags) = config::parse(text);
    if !diags.has_errors() {
        match profile {
            Some(name) => {
                build_profile(&file, Some(name), &mut diags);
            }
            None => {
                check_default_profile(&file, &mut diags);
                for p in profiles_or_default(&file) {
                    build(&file, &p, &mut diags);
                }
            }
        }
    }
    diags.locate(text);
    diags
}

/// Names of the profiles a file defines (`default` when it has none).
pub fn profile_names(text: &str) -> Vec<String> {
    let (file, _) = config::parse(text);
    profiles_or_default(&file).into_iter().map(|p| p.name.value).collect()
}

fn profiles_or_default(file: &PolicyFile) -> Vec<RawProfile> {
    if file.profiles.is_empty() {
        vec![RawProfile { name: Sp::bare("default".to_owned()), strict: None, rules: RawRules::default() }]
    } else {
        file.profiles.clone()
    }
}

fn check_default_profile(file: &PolicyFile, diags: &mut Diagnostics) {
    if let Some(name) = &file.default_profile {
        if !profiles_or_default(file).iter().any(|p| p.name.value == name.value) {
            diags.push(unknown_profile(file, &name.value).at(name.span.clone()));
        }
    }
}

fn unknown_profile(file: &PolicyFile, name: &str) -> Diagnostic {
    let names: Vec<String> = profiles_or_default(file).into_iter().map(|p| p.name.value).collect();
    let known: Vec<&str> = names.iter().map(String::as_str).collect();
    let help = match config::closest(name, &known) {
        Some(guess) => format!("did you mean `{guess}`? (profiles: {})", names.join(", ")),
        None => format!("the profiles in this file are: {}", names.join(", ")),
    };
    Diagnostic::new(LintCode::UnknownProfile, format!("no profile named `{name}`"), help)
}

fn build_profile(file: &PolicyFile, requested: Option<&str>, diags: &mut Diagnostics) -> Option<Policy> {
    let profiles = profiles_or_default(file);
    let (name, span) = match (requested, &file.default_profile) {
        (Some(name), _) => (name.to_owned(), None),
        (None, Some(default)) => (default.value.clone(), default.span.clone()),
        (None, None) if profiles.len() == 1 => (profiles[0].name.value.clone(), None),
        (None, None) => {
            let names: Vec<_> = profiles.iter().map(|p| p.name.value.as_str()).collect();
            diags.push(Diagnostic::new(
                LintCode::UnknownProfile,
                "no profile selected and the file has several",
                format!(
                    "pass --profile NAME, set CORSGUARD_PROFILE or add default_profile (profiles: {})",
                    names.join(", ")
                ),
            ));
            return None;
        }
    };
    let Some(profile) = profiles.iter().find(|p| p.name.value == name) else {
        diags.push(unknown_profile(file, &name).at(span));
        return None;
    };
    build(file, profile, diags)
}

fn build(file: &PolicyFile, profile: &RawProfile, diags: &mut Diagnostics) -> Option<Policy> {
    let name = profile.name.value.as_str();
    let strict = name == PRODUCTION || profile.strict.as_ref().is_some_and(|s| s.value);
    let effective = profile.rules.over(&file.policy);
    let scope = Scope { profile: Some(name), strict, span: profile.name.span.clone() };
    let rules = lint::check(&effective, &scope, diags).map(Rules::compile);
    let mut routes = Vec::new();
    for route in &file.routes {
        let Some(path) = route.path.as_ref() else {
            diags.push(
                Diagnostic::new(LintCode::MissingPath, "a route needs a `path`", "add path = \"/prefix/\"")
                    .at(route.span.clone())
                    .in_profile(Some(name)),
            );
            continue;
        };
        if !path.value.starts_with('/') {
            diags.push(
                Diagnostic::new(
                    LintCode::InvalidPath,
                    format!("route path `{}` does not start with `/`", path.value),
                    "a route path is a prefix of the request path, e.g. \"/public/\"",
                )
                .at(path.span.clone()),
            );
            continue;
        }
        let route_scope = Scope { span: route.span.clone(), ..scope.clone() };
        if let Some(settings) = lint::check(&route.rules.over(&effective), &route_scope, diags) {
            routes.push((path.value.clone(), Rules::compile(settings)));
        }
    }
    let rules = rules?;
    (!diags.has_errors()).then(|| Policy {
        profile: name.to_owned(),
        strict,
        rules,
        routes,
        warnings: Diagnostics::new(),
    })
}

macro_rules! rule_setters {
    () => {
        /// Allowed origins: exact (`https://app.example.com`), subdomains
        /// (`https://*.example.com`), any port (`http://localhost:*`) or `*`.
        pub fn origins<I: IntoIterator<Item = S>, S: Into<String>>(mut self, origins: I) -> Self {
            self.rules.origins = Some(list(origins));
            self
        }

        /// Allowed methods, case-sensitive (default: GET, HEAD, POST).
        pub fn methods<I: IntoIterator<Item = S>, S: Into<String>>(mut self, methods: I) -> Self {
            self.rules.methods = Some(list(methods));
            self
        }

        /// Allowed request headers, case-insensitive; `*` (without credentials) covers all
        /// but `Authorization`.
        pub fn allow_headers<I: IntoIterator<Item = S>, S: Into<String>>(mut self, headers: I) -> Self {
            self.rules.allow_headers = Some(list(headers));
            self
        }

        /// Response headers scripts may read.
        pub fn expose_headers<I: IntoIterator<Item = S>, S: Into<String>>(mut self, headers: I) -> Self {
            self.rules.expose_headers = Some(list(headers));
            self
        }

        /// Allow cookies and `Authorization` (default: false).
        pub fn credentials(mut self, on: bool) -> Self {
            self.rules.credentials = Some(Sp::bare(on));
            self
        }

        /// Preflight cache lifetime in seconds (default: 600).
        pub fn max_age(mut self, seconds: u32) -> Self {
            self.rules.max_age = Some(Sp::bare(i64::from(seconds)));
            self
        }

        /// Answer Private Network Access preflights (default: false).
        pub fn private_network(mut self, on: bool) -> Self {
            self.rules.private_network = Some(Sp::bare(on));
            self
        }

        /// Refuse cross-origin unsafe requests from origins not allowed (default: true).
        pub fn cross_origin_protection(mut self, on: bool) -> Self {
            self.rules.cross_origin_protection = Some(Sp::bare(on));
            self
        }
    };
}

fn list<I: IntoIterator<Item = S>, S: Into<String>>(items: I) -> Sp<Vec<Sp<String>>> {
    Sp::bare(items.into_iter().map(|s| Sp::bare(s.into())).collect())
}

/// Builds a [`Policy`] in code; [`PolicyBuilder::build`] runs the same validation as a policy
/// file.
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct PolicyBuilder {
    profile: Option<String>,
    strict: bool,
    rules: RawRules,
    routes: Vec<(String, RawRules)>,
}

impl PolicyBuilder {
    rule_setters!();

    /// Names the profile (default: `default`); `production` is strict.
    pub fn profile(mut self, name: impl Into<String>) -> Self {
        self.profile = Some(name.into());
        self
    }

    /// Applies the strict rules whatever the profile's name.
    pub fn strict(mut self, on: bool) -> Self {
        self.strict = on;
        self
    }

    /// Adds a route: requests whose path starts with `prefix` use these rules, which replace
    /// the policy's key by key. The first matching route wins.
    ///
    /// ```
    /// let policy = corsguard::Policy::builder()
    ///     .origins(["https://app.example.com"])
    ///     .credentials(true)
    ///     .route("/public/", |r| r.origins(["*"]).credentials(false).methods(["GET"]))
    ///     .build()?;
    /// assert!(policy.route_for("/public/logo.png").rules().allows_any_origin());
    /// # Ok::<(), corsguard::Diagnostics>(())
    /// ```
    pub fn route(
        mut self,
        prefix: impl Into<String>,
        rules: impl FnOnce(RouteBuilder) -> RouteBuilder,
    ) -> Self {
        self.routes.push((prefix.into(), rules(RouteBuilder::default()).rules));
        self
    }

    /// Validates everything and builds the policy, or returns every problem found.
    pub fn build(self) -> Result<Policy, Diagnostics> {
        let name = self.profile.unwrap_or_else(|| "default".to_owned());
        let file = PolicyFile {
            routes: self
                .routes
                .into_iter()
                .map(|(path, rules)| config::RawRoute { path: Some(Sp::bare(path)), span: None, rules })
                .collect(),
            ..PolicyFile::default()
        };
        let profile =
            RawProfile { name: Sp::bare(name), strict: Some(Sp::bare(self.strict)), rules: self.rules };
        let mut diags = Diagnostics::new();
        match build(&file, &profile, &mut diags) {
            Some(mut policy) if !diags.has_errors() => {
                policy.warnings = diags;
                Ok(policy)
            }
            _ => Err(diags),
        }
    }
}

/// The rules of one route, for [`PolicyBuilder::route`]. Keys left unset keep the policy's.
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct RouteBuilder {
    rules: RawRules,
}

impl RouteBuilder {
    rule_setters!();
}

//! The compiled form of one set of CORS rules (a profile, or a route within it): allowed
//! origins in a constant-time matcher and every response header value joined once, up front,
//! so that deciding a request only borrows.

use http::{HeaderValue, Method};

use crate::pattern::{OriginMatcher, OriginPattern};

/// The settings of one rule set, validated, in canonical form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Settings {
    /// Allowed origins and patterns.
    pub origins: Vec<OriginPattern>,
    /// Allowed methods, compared case-sensitively.
    pub methods: Vec<String>,
    /// Allowed request headers, compared case-insensitively; may hold `*`.
    pub allow_headers: Vec<String>,
    /// Response headers scripts may read; may hold `*` (without credentials).
    pub expose_headers: Vec<String>,
    /// Send `Access-Control-Allow-Credentials: true`.
    pub credentials: bool,
    /// `Access-Control-Max-Age` in seconds.
    pub max_age: u32,
    /// Answer `Access-Control-Request-Private-Network: true` with the matching allow header.
    pub private_network: bool,
    /// Refuse cross-origin unsafe requests from origins not allowed (CSRF defence).
    pub cross_origin_protection: bool,
}

/// One rule set (a profile's, or a route's), validated and compiled; read-only.
#[derive(Clone, Debug)]
pub struct Rules {
    settings: Settings,
    pub(crate) matcher: OriginMatcher,
    methods: Vec<Method>,
    header_wildcard: bool,
    /// `allow_headers` lowercased, `*` left out: browsers send lowercase names, so a plain
    /// byte comparison usually settles it.
    allowed_header_names: Vec<Box<[u8]>>,
    pub(crate) allow_methods_value: HeaderValue,
    pub(crate) allow_headers_value: Option<HeaderValue>,
    pub(crate) max_age_value: HeaderValue,
    pub(crate) expose_headers_value: Option<HeaderValue>,
}

impl Rules {
    /// Compiles validated settings. Values were checked by the lint pass (tokens only), so
    /// building header values cannot fail; entries that somehow are not tokens are dropped.
    pub(crate) fn compile(settings: Settings) -> Rules {
        let methods = settings.methods.iter().filter_map(|m| Method::from_bytes(m.as_bytes()).ok()).collect();
        Rules {
            matcher: OriginMatcher::new(&settings.origins),
            methods,
            header_wildcard: settings.allow_headers.iter().any(|h| h == "*"),
            allowed_header_names: settings
                .allow_headers
                .iter()
                .filter(|h| *h != "*")
                .map(|h| h.to_ascii_lowercase().into_bytes().into_boxed_slice())
                .collect(),
            allow_methods_value: joined(&settings.methods).unwrap_or_else(|| HeaderValue::from_static("")),
            allow_headers_value: joined(&settings.allow_headers),
            max_age_value: HeaderValue::from(settings.max_age),
            expose_headers_value: joined(&settings.expose_headers),
            settings,
        }
    }

    /// Methods allowed when a policy lists none: the ones a browser sends without preflight.
    pub const DEFAULT_METHODS: [&'static str; 3] = ["GET", "HEAD", "POST"];
    /// Preflight cache lifetime when a policy sets none: short enough that a policy change
    /// reaches browsers within minutes, long enough to spare most preflights.
    pub const DEFAULT_MAX_AGE: u32 = 600;

    /// Allowed origins and patterns, in canonical form, in policy order.
    pub fn origins(&self) -> &[OriginPattern] {
        &self.settings.origins
    }

    /// Allowed methods, compared case-sensitively.
    pub fn methods(&self) -> &[String] {
        &self.settings.methods
    }

    /// Allowed request headers, compared case-insensitively; may hold `*`.
    pub fn allow_headers(&self) -> &[String] {
        &self.settings.allow_headers
    }

    /// Response headers scripts may read; may hold `*` (without credentials).
    pub fn expose_headers(&self) -> &[String] {
        &self.settings.expose_headers
    }

    /// True when responses carry `Access-Control-Allow-Credentials: true`.
    pub fn credentials(&self) -> bool {
        self.settings.credentials
    }

    /// `Access-Control-Max-Age`, in seconds.
    pub fn max_age(&self) -> u32 {
        self.settings.max_age
    }

    /// True when a Private Network Access preflight gets `Access-Control-Allow-Private-Network`.
    pub fn private_network(&self) -> bool {
        self.settings.private_network
    }

    /// True when cross-origin unsafe requests from origins not allowed are refused (403).
    pub fn cross_origin_protection(&self) -> bool {
        self.settings.cross_origin_protection
    }

    /// True when `*` is among the origins (never together with credentials).
    pub fn allows_any_origin(&self) -> bool {
        self.matcher.allows_any()
    }

    /// The first pattern admitting `origin`, for explanations (a linear scan: not for the
    /// request path, which uses the compiled matcher).
    ///
    /// ```
    /// use corsguard::{Origin, Policy};
    ///
    /// let policy = Policy::builder().origins(["https://*.example.com"]).build()?;
    /// let origin = Origin::parse(b"https://app.example.com").unwrap();
    /// let pattern = policy.rules().matching_pattern(&origin).unwrap();
    /// assert_eq!(pattern.to_string(), "https://*.example.com");
    /// # Ok::<(), corsguard::Diagnostics>(())
    /// ```
    pub fn matching_pattern(&self, origin: &crate::origin::Origin<'_>) -> Option<&OriginPattern> {
        self.settings.origins.iter().find(|p| p.matches(origin))
    }

    pub(crate) fn allows_method(&self, method: &[u8]) -> bool {
        self.methods.iter().any(|m| m.as_str().as_bytes() == method)
    }

    /// Fetch: `*` never covers `Authorization`, which must be listed by name.
    pub(crate) fn allows_request_header(&self, name: &[u8]) -> bool {
        let listed = || self.allowed_header_names.iter().any(|h| same_name(h, name));
        if same_name(b"authorization", name) {
            return listed();
        }
        self.header_wildcard || listed()
    }
}

/// Header-name equality, `lower` being lowercase: the byte comparison first, as browsers send
/// lowercase names; the case-folding one only when that fails.
fn same_name(lower: &[u8], name: &[u8]) -> bool {
    lower.len() == name.len() && (lower == name || lower.eq_ignore_ascii_case(name))
}

fn joined(items: &[String]) -> Option<HeaderValue> {
    if items.is_empty() {
        return None;
    }
    HeaderValue::from_str(&items.join(", ")).ok()
}

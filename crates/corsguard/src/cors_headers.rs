//! The CORS and `Vary` headers of a decision: [`CorsHeaders`], borrowed from the policy and
//! the request, and [`OwnedCorsHeaders`], the one writer of CORS headers onto a response.

use std::mem;

use http::header::{
    HeaderName, ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, VARY,
};
use http::{HeaderMap, HeaderValue};

use crate::reason::Reason;

/// `Access-Control-Allow-Private-Network`.
pub(crate) const ACCESS_CONTROL_ALLOW_PRIVATE_NETWORK: HeaderName =
    HeaderName::from_static("access-control-allow-private-network");
/// `corsguard-reason`: the reason code of a refusal, sent only by non-strict profiles.
pub(crate) const CORSGUARD_REASON: HeaderName = HeaderName::from_static("corsguard-reason");

static TRUE: HeaderValue = HeaderValue::from_static("true");
pub(crate) static STAR: HeaderValue = HeaderValue::from_static("*");

/// The CORS and `Vary` headers a decision puts on the response, borrowed from the policy and
/// the request. Read them with [`iter`](Self::iter); put them on a response through
/// [`to_owned`](Self::to_owned).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CorsHeaders<'a> {
    pub(crate) allow_origin: Option<&'a HeaderValue>,
    pub(crate) allow_credentials: bool,
    pub(crate) allow_methods: Option<&'a HeaderValue>,
    pub(crate) allow_headers: Option<&'a HeaderValue>,
    pub(crate) max_age: Option<&'a HeaderValue>,
    pub(crate) expose_headers: Option<&'a HeaderValue>,
    pub(crate) allow_private_network: bool,
    pub(crate) vary: Option<&'static HeaderValue>,
    pub(crate) reason: Option<Reason>,
}

impl<'a> CorsHeaders<'a> {
    /// Every header, in a stable order. Allocation-free.
    pub fn iter(&self) -> impl Iterator<Item = (HeaderName, &'a HeaderValue)> {
        let flag = |on: bool| on.then_some(&TRUE);
        [
            (ACCESS_CONTROL_ALLOW_ORIGIN, self.allow_origin),
            (ACCESS_CONTROL_ALLOW_CREDENTIALS, flag(self.allow_credentials)),
            (ACCESS_CONTROL_ALLOW_METHODS, self.allow_methods),
            (ACCESS_CONTROL_ALLOW_HEADERS, self.allow_headers),
            (ACCESS_CONTROL_MAX_AGE, self.max_age),
            (ACCESS_CONTROL_EXPOSE_HEADERS, self.expose_headers),
            (ACCESS_CONTROL_ALLOW_PRIVATE_NETWORK, flag(self.allow_private_network)),
            (VARY, self.vary),
            (CORSGUARD_REASON, self.reason.map(Reason::header_value)),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| (name, v)))
    }

    /// The `Access-Control-Allow-Origin` value, if any.
    pub fn allow_origin(&self) -> Option<&'a HeaderValue> {
        self.allow_origin
    }

    /// A header map holding just these headers, for a response corsguard writes itself (a
    /// preflight's answer, a refusal): what [`OwnedCorsHeaders::apply_to`] puts on an empty
    /// map, built in one pass without the owned copy and inlined into the caller (measured: about
    /// 300 instructions less a preflight than through [`OwnedCorsHeaders::into_header_map`]).
    #[inline]
    pub fn to_header_map(&self) -> HeaderMap {
        let mut headers = HeaderMap::with_capacity(self.iter().count());
        for (name, value) in self.iter() {
            // The echoed origin is copied, as `to_owned` does, not shared with the request.
            let value = if name == ACCESS_CONTROL_ALLOW_ORIGIN { copy_origin(value) } else { value.clone() };
            // The names are distinct, so appending is inserting.
            headers.append(name, value);
        }
        headers
    }

    /// The same headers owning their values, for when the request the decision borrows must be
    /// handed on (a middleware calling the application) before the response exists.
    ///
    /// The policy's values are shared (a reference-count increment each). The echoed origin is
    /// copied instead: a clone would share the request's receive buffer, and a server such as
    /// hyper that finds its buffer still shared when it next reads allocates a fresh one
    /// (8 KiB) for every request.
    #[allow(clippy::wrong_self_convention)] // `CorsHeaders` is `Copy`: taking `&self` costs nothing
    pub fn to_owned(&self) -> OwnedCorsHeaders {
        OwnedCorsHeaders {
            allow_origin: self.allow_origin.map(copy_origin),
            allow_credentials: self.allow_credentials,
            allow_methods: self.allow_methods.cloned(),
            allow_headers: self.allow_headers.cloned(),
            max_age: self.max_age.cloned(),
            expose_headers: self.expose_headers.cloned(),
            allow_private_network: self.allow_private_network,
            vary: self.vary,
            reason: self.reason,
        }
    }
}

/// An `Access-Control-Allow-Origin` value that owns its bytes (see [`CorsHeaders::to_owned`]);
/// `*` stays the shared static.
fn copy_origin(value: &HeaderValue) -> HeaderValue {
    if value == STAR {
        return STAR.clone();
    }
    copy_value(value)
}

fn copy_value(value: &HeaderValue) -> HeaderValue {
    // Bytes taken from a valid value are valid; the fallback only keeps this panic-free.
    HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone())
}

/// A decision's headers with owned values (see [`CorsHeaders::to_owned`]), and the one place
/// CORS headers are written onto a response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnedCorsHeaders {
    allow_origin: Option<HeaderValue>,
    allow_credentials: bool,
    allow_methods: Option<HeaderValue>,
    allow_headers: Option<HeaderValue>,
    max_age: Option<HeaderValue>,
    expose_headers: Option<HeaderValue>,
    allow_private_network: bool,
    vary: Option<&'static HeaderValue>,
    reason: Option<Reason>,
}

impl OwnedCorsHeaders {
    /// Puts these headers on a response: every `Access-Control-*` header already there is
    /// replaced (one source of truth, never two `Access-Control-Allow-Origin`), and `Vary` is
    /// appended to, never overwritten.
    ///
    /// ```
    /// use http::{HeaderMap, Request};
    ///
    /// let policy = corsguard::Policy::builder().origins(["https://app.example.com"]).build()?;
    /// let request = Request::get("/").header("origin", "https://app.example.com").body(())?;
    /// let cors = policy.decide(&request).headers().to_owned();
    ///
    /// // What the application answered: a stale CORS header and a Vary of its own.
    /// let mut response = HeaderMap::new();
    /// response.insert("access-control-allow-origin", "*".parse()?);
    /// response.insert("vary", "Accept-Encoding".parse()?);
    /// cors.apply_to(&mut response);
    ///
    /// assert_eq!(response["access-control-allow-origin"], "https://app.example.com");
    /// let vary: Vec<_> = response.get_all("vary").iter().collect();
    /// assert_eq!(vary, ["Accept-Encoding", "Origin"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn apply_to(mut self, headers: &mut HeaderMap) {
        self.move_to(headers);
    }

    /// A header map holding just these headers, sized once: for a response corsguard writes
    /// itself.
    pub fn into_header_map(mut self) -> HeaderMap {
        let mut headers = HeaderMap::with_capacity(self.len());
        self.move_to(&mut headers);
        headers
    }

    /// The same headers with every value copied, so that clones of the copy share no
    /// reference count with the policy: for a cache that one thread keeps and clones often
    /// (counts that every thread touches cost a cache-line transfer each).
    pub fn unshared(&self) -> OwnedCorsHeaders {
        let copy = |value: &Option<HeaderValue>| value.as_ref().map(copy_value);
        OwnedCorsHeaders {
            allow_origin: copy(&self.allow_origin),
            allow_methods: copy(&self.allow_methods),
            allow_headers: copy(&self.allow_headers),
            max_age: copy(&self.max_age),
            expose_headers: copy(&self.expose_headers),
            ..self.clone()
        }
    }

    /// The `Access-Control-Allow-Origin` value, if any.
    pub fn allow_origin(&self) -> Option<&HeaderValue> {
        self.allow_origin.as_ref()
    }

    /// Every header, in the order of [`CorsHeaders::iter`].
    pub fn iter(&self) -> impl Iterator<Item = (HeaderName, &HeaderValue)> {
        self.borrowed().iter()
    }

    fn borrowed(&self) -> CorsHeaders<'_> {
        CorsHeaders {
            allow_origin: self.allow_origin.as_ref(),
            allow_credentials: self.allow_credentials,
            allow_methods: self.allow_methods.as_ref(),
            allow_headers: self.allow_headers.as_ref(),
            max_age: self.max_age.as_ref(),
            expose_headers: self.expose_headers.as_ref(),
            allow_private_network: self.allow_private_network,
            vary: self.vary,
            reason: self.reason,
        }
    }

    fn len(&self) -> usize {
        self.iter().count()
    }

    /// [`apply_to`](Self::apply_to) through a mutable reference, leaving these headers empty:
    /// for a response future that holds them in place, which spares moving the whole set out.
    pub(crate) fn move_to(&mut self, headers: &mut HeaderMap) {
        // Most responses carry no CORS headers and no `Vary` of their own (an empty map is the
        // common case for a middleware): then there is nothing to strip or merge with.
        let merge_vary = !headers.is_empty() && {
            strip_access_control(headers);
            headers.contains_key(VARY)
        };
        // A plain function, inlined: as a closure the compiler left it out of line, which cost
        // 100 to 200 instructions a response (measured with scripts/bench-middleware-instructions).
        #[inline(always)]
        fn put(headers: &mut HeaderMap, name: HeaderName, value: Option<HeaderValue>) {
            if let Some(value) = value {
                headers.insert(name, value);
            }
        }
        put(headers, ACCESS_CONTROL_ALLOW_ORIGIN, self.allow_origin.take());
        put(
            headers,
            ACCESS_CONTROL_ALLOW_CREDENTIALS,
            mem::take(&mut self.allow_credentials).then(|| TRUE.clone()),
        );
        put(headers, ACCESS_CONTROL_ALLOW_METHODS, self.allow_methods.take());
        put(headers, ACCESS_CONTROL_ALLOW_HEADERS, self.allow_headers.take());
        put(headers, ACCESS_CONTROL_MAX_AGE, self.max_age.take());
        put(headers, ACCESS_CONTROL_EXPOSE_HEADERS, self.expose_headers.take());
        put(
            headers,
            ACCESS_CONTROL_ALLOW_PRIVATE_NETWORK,
            mem::take(&mut self.allow_private_network).then(|| TRUE.clone()),
        );
        match self.vary.take() {
            Some(vary) if merge_vary => append_vary(headers, vary),
            vary => put(headers, VARY, vary.cloned()),
        }
        put(headers, CORSGUARD_REASON, self.reason.take().map(|reason| reason.header_value().clone()));
    }
}

/// Removes every `Access-Control-*` response header.
fn strip_access_control(headers: &mut HeaderMap) {
    let is_cors = |name: &HeaderName| name.as_str().starts_with("access-control-");
    if !headers.keys().any(is_cors) {
        return;
    }
    let names: Vec<HeaderName> = headers.keys().filter(|n| is_cors(n)).cloned().collect();
    for name in names {
        headers.remove(name);
    }
}

/// Adds `value`'s names to `Vary` unless the response already varies on all of them (or on
/// everything, `*`).
fn append_vary(headers: &mut HeaderMap, value: &HeaderValue) {
    let existing: Vec<&[u8]> = headers
        .get_all(VARY)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(|t| t.trim_ascii())
        .collect();
    let covered = |name: &[u8]| existing.iter().any(|e| *e == b"*" || e.eq_ignore_ascii_case(name));
    let all_present = value.as_bytes().split(|&b| b == b',').map(|t| t.trim_ascii()).all(covered);
    if !all_present {
        headers.append(VARY, value.clone());
    }
}

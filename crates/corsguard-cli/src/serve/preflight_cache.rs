//! The answers to allowed preflights, remembered by each worker.
//!
//! Preflights come in few shapes: the users of one front-end send the same origin, method and
//! request headers again and again, and under one policy the same shape always gets the same
//! answer. So each worker keeps the headers of the allowed preflights it answered, keyed by
//! everything the decision reads: the rules the path selects, and the `Origin`,
//! `Access-Control-Request-Method`, `Access-Control-Request-Headers` and
//! `Access-Control-Request-Private-Network` values, byte for byte. A hit skips the decision
//! and the building of the header map.
//!
//! - Refused preflights are not remembered: each one is decided and logged.
//! - The cache belongs to one policy; after a reload the first preflight empties it.
//! - It holds at most [`CAPACITY`] answers and starts over when full, so requests of endless
//!   new shapes cost an insertion each and no more memory.
//! - The remembered values are copies: cloning them touches reference counts of this worker
//!   only, not ones every worker shares.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use foldhash::fast::RandomState;

use corsguard::{Policy, PolicyGuard, Rules};
use http::header::{HeaderName, ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN};
use http::{HeaderMap, HeaderValue, Request};

/// Most answers one worker remembers.
pub(crate) const CAPACITY: usize = 512;

const ACCESS_CONTROL_REQUEST_PRIVATE_NETWORK: HeaderName =
    HeaderName::from_static("access-control-request-private-network");

/// One worker's remembered answers. The lock is never contended (a worker is one thread);
/// it only makes the cache shareable with the worker's connection tasks.
#[derive(Debug, Default)]
pub(crate) struct PreflightCache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// The policy the answers were decided under; held so that its address cannot be reused
    /// by a later policy while answers of this one are kept.
    policy: Option<Arc<Policy>>,
    answers: HashMap<Box<[u8]>, HeaderMap, RandomState>,
    /// Scratch space for building a key, kept to spare an allocation per lookup.
    key: Vec<u8>,
}

impl PreflightCache {
    /// The headers of the answer to `request`, when this worker allowed a preflight of the
    /// same shape under `policy`.
    pub(crate) fn get<B>(&self, policy: &PolicyGuard, request: &Request<B>) -> Option<HeaderMap> {
        let mut inner = self.inner.lock().ok()?;
        let inner = &mut *inner;
        if !inner.is_for(policy) {
            // Decided under an older policy: let that policy go now.
            inner.policy = None;
            inner.answers.clear();
            return None;
        }
        write_key(&mut inner.key, policy.rules_for(request.uri().path()), request);
        inner.answers.get(inner.key.as_slice()).cloned()
    }

    /// Remembers `headers`, the answer to `request`, an allowed preflight under `policy`.
    pub(crate) fn insert<B>(&self, policy: &PolicyGuard, request: &Request<B>, headers: &HeaderMap) {
        let Ok(mut inner) = self.inner.lock() else { return };
        let inner = &mut *inner;
        if !inner.is_for(policy) {
            inner.policy = Some(Arc::clone(policy.as_arc()));
            inner.answers.clear();
        }
        if inner.answers.len() >= CAPACITY {
            inner.answers.clear();
        }
        write_key(&mut inner.key, policy.rules_for(request.uri().path()), request);
        let copy = headers.iter().map(|(name, value)| (name.clone(), copy_value(value))).collect();
        inner.answers.insert(inner.key.as_slice().into(), copy);
    }

    /// How many answers are remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().map_or(0, |inner| inner.answers.len())
    }
}

impl Inner {
    fn is_for(&self, policy: &PolicyGuard) -> bool {
        self.policy.as_ref().is_some_and(|held| Arc::ptr_eq(held, policy.as_arc()))
    }
}

/// The key: which rules apply, then every value of the keyed headers, each tagged with its
/// header and ended by a LF, in the order the request has them. Header values cannot contain
/// LF, so equal keys mean equal values of each keyed header, in the same order (`a,b` in one
/// line differs from `a` and `b` in two). One pass over the headers costs less than a lookup
/// of each name.
fn write_key<B>(key: &mut Vec<u8>, rules: &Rules, request: &Request<B>) {
    key.clear();
    key.extend_from_slice(&(rules as *const Rules as usize).to_ne_bytes());
    for (name, value) in request.headers() {
        let tag = if name == ORIGIN {
            b'o'
        } else if name == ACCESS_CONTROL_REQUEST_METHOD {
            b'm'
        } else if name == ACCESS_CONTROL_REQUEST_HEADERS {
            b'h'
        } else if name == ACCESS_CONTROL_REQUEST_PRIVATE_NETWORK {
            b'p'
        } else {
            continue;
        };
        key.push(tag);
        key.extend_from_slice(value.as_bytes());
        key.push(b'\n');
    }
}

fn copy_value(value: &HeaderValue) -> HeaderValue {
    // Bytes of a valid value are valid; the fallback only keeps this panic-free.
    HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use corsguard::PolicyHandle;

    fn preflight(path: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut request = Request::builder().method("OPTIONS").uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).unwrap()
    }

    fn answer(text: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("access-control-allow-origin", HeaderValue::from_str(text).unwrap());
        headers
    }

    const TOML: &str = r#"
[policy]
origins = ["https://app.example.com", "https://admin.example.com"]
methods = ["GET", "PUT"]
allow_headers = ["Authorization"]

[[routes]]
path = "/public/"
origins = ["*"]
"#;

    #[test]
    fn only_a_preflight_of_the_same_shape_under_the_same_policy_hits() {
        let handle = PolicyHandle::new(Policy::from_toml(TOML, None).unwrap());
        let cache = PreflightCache::default();
        let base = [("origin", "https://app.example.com"), ("access-control-request-method", "PUT")];
        let request = preflight("/api/items", &base);
        assert!(cache.get(&handle.load(), &request).is_none());
        cache.insert(&handle.load(), &request, &answer("https://app.example.com"));
        let hit = cache.get(&handle.load(), &request).expect("remembered");
        assert_eq!(hit["access-control-allow-origin"], "https://app.example.com");
        // Another path under the same rules is the same shape.
        assert!(cache.get(&handle.load(), &preflight("/api/other", &base)).is_some());

        let acrh = ("access-control-request-headers", "authorization");
        let misses = [
            preflight("/public/x", &base),
            preflight("/api/items", &[("origin", "https://admin.example.com"), base[1]]),
            preflight("/api/items", &[base[0], ("access-control-request-method", "GET")]),
            preflight("/api/items", &[base[0], base[1], acrh]),
            preflight("/api/items", &[base[0], base[1], ("access-control-request-private-network", "true")]),
            // The same values split over two lines are another request.
            preflight("/api/items", &[base[0], base[1], acrh, acrh]),
            preflight("/api/items", &[base[0], base[0], base[1]]),
        ];
        for request in &misses {
            assert!(cache.get(&handle.load(), request).is_none(), "{:?}", request.headers());
        }

        // A reload empties it.
        handle.reload_toml(TOML, None).unwrap();
        assert!(cache.get(&handle.load(), &request).is_none());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn the_cache_is_bounded() {
        let handle = PolicyHandle::new(Policy::from_toml(TOML, None).unwrap());
        let cache = PreflightCache::default();
        for i in 0..CAPACITY + 10 {
            let method = format!("M{i}");
            let request = preflight(
                "/",
                &[("origin", "https://app.example.com"), ("access-control-request-method", &method)],
            );
            cache.insert(&handle.load(), &request, &answer("x"));
            assert!(cache.len() <= CAPACITY);
        }
        assert_eq!(cache.len(), 10);
    }

    /// A preflight as a browser sends it, with values from short lists so that sequences of
    /// requests repeat shapes and hit the cache, and sometimes an extra header (a repeated
    /// one among them) as an attacker might add.
    fn preflight_strategy() -> impl proptest::strategy::Strategy<Value = Request<()>> {
        use proptest::prelude::*;
        let origin = prop::sample::select(vec![
            "https://app.example.com",
            "https://admin.example.com",
            "https://evil.example.net",
        ]);
        let method = prop::sample::select(vec!["PUT", "GET", "put"]);
        let request_headers = prop::option::of(prop::sample::select(vec![
            "authorization",
            "Authorization, content-type",
            "x-secret",
        ]));
        let private_network = prop::option::of(prop::sample::select(vec!["true", "false"]));
        let extra = prop::option::of(prop::sample::select(vec![
            ("origin", "https://app.example.com"),
            ("access-control-request-method", "PUT"),
            ("access-control-request-headers", "authorization"),
            ("x-other", "1"),
        ]));
        let path = prop::sample::select(vec!["/api/items", "/api/x", "/public/a", "/pna/b"]);
        (path, origin, method, request_headers, private_network, extra).prop_map(
            |(path, origin, method, acrh, pna, extra)| {
                let mut headers = vec![("origin", origin), ("access-control-request-method", method)];
                headers.extend(acrh.map(|v| ("access-control-request-headers", v)));
                headers.extend(pna.map(|v| ("access-control-request-private-network", v)));
                headers.extend(extra);
                preflight(path, &headers)
            },
        )
    }

    proptest::proptest! {
        /// Whatever mix of requests comes, a remembered answer is exactly the answer a fresh
        /// decision gives, and only allowed preflights are ever answered from the cache.
        #[test]
        fn a_remembered_answer_is_always_the_fresh_answer(
            requests in proptest::collection::vec(preflight_strategy(), 1..60)
        ) {
            let toml = format!("{TOML}\n[[routes]]\npath = \"/pna/\"\nprivate_network = true\n");
            let handle = PolicyHandle::new(Policy::from_toml(&toml, None).unwrap());
            let cache = PreflightCache::default();
            for request in &requests {
                let policy = handle.load();
                let decision = policy.decide(request);
                let allowed_preflight = decision.kind == corsguard::RequestKind::Preflight && decision.allowed;
                let mut fresh = HeaderMap::new();
                decision.headers.apply_to(&mut fresh);
                match cache.get(&policy, request) {
                    Some(remembered) => {
                        proptest::prop_assert!(allowed_preflight, "{:?}", request.headers());
                        proptest::prop_assert_eq!(remembered, fresh);
                    }
                    None if allowed_preflight => cache.insert(&policy, request, &fresh),
                    None => {}
                }
            }
        }
    }
}

//! The answers to allowed preflights, remembered by each worker.
//!
//! Preflights come in few shapes: the users of one front-end send the same origin, method and
//! request headers again and again, and under one policy the same shape always gets the same
//! answer. So each worker keeps the headers of the allowed preflights it answered, keyed by
//! [`Policy::preflight_key`], which the engine writes next to the decision from everything the
//! decision of a preflight reads. A hit skips the decision.
//!
//! - Refused preflights are not remembered: each one is decided and logged.
//! - The cache belongs to one policy; after a reload the first preflight empties it.
//! - It holds at most [`CAPACITY`] answers and starts over when full, so requests of endless
//!   new shapes cost an insertion each and no more memory.
//! - What is remembered is the answer's header map, written once by the engine's one writer
//!   ([`OwnedCorsHeaders::into_header_map`]) from copies of the values
//!   ([`OwnedCorsHeaders::unshared`]): a hit clones one map (writing the headers again cost
//!   about 1,100 instructions a preflight, BENCHMARKS.md), and cloning it touches reference
//!   counts of this worker only, not ones every worker shares.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use foldhash::fast::RandomState;

use corsguard::{OwnedCorsHeaders, Policy, PolicyGuard};
use http::{HeaderMap, Request};

/// Most answers one worker remembers.
pub(crate) const CAPACITY: usize = 512;

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
        inner.key.clear();
        if !policy.preflight_key(request, &mut inner.key) {
            return None;
        }
        inner.answers.get(inner.key.as_slice()).cloned()
    }

    /// Remembers `headers`, the answer to `request`, an allowed preflight under `policy`.
    pub(crate) fn insert<B>(&self, policy: &PolicyGuard, request: &Request<B>, headers: &OwnedCorsHeaders) {
        let Ok(mut inner) = self.inner.lock() else { return };
        let inner = &mut *inner;
        if !inner.is_for(policy) {
            inner.policy = Some(Arc::clone(policy.as_arc()));
            inner.answers.clear();
        }
        if inner.answers.len() >= CAPACITY {
            inner.answers.clear();
        }
        inner.key.clear();
        if policy.preflight_key(request, &mut inner.key) {
            inner.answers.insert(inner.key.as_slice().into(), headers.unshared().into_header_map());
        }
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

    /// The answer `policy` gives `origin`'s allowed preflight.
    fn answer(origin: &str) -> OwnedCorsHeaders {
        let policy = Policy::from_toml(TOML, None).unwrap();
        let request = preflight("/", &[("origin", origin), ("access-control-request-method", "GET")]);
        policy.decide(&request).headers().to_owned()
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
            cache.insert(&handle.load(), &request, &answer("https://app.example.com"));
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
                let allowed_preflight = decision.kind() == corsguard::RequestKind::Preflight && decision.is_allowed();
                let fresh = decision.headers().to_owned();
                match cache.get(&policy, request) {
                    Some(remembered) => {
                        proptest::prop_assert!(allowed_preflight, "{:?}", request.headers());
                        proptest::prop_assert_eq!(remembered, fresh.clone().into_header_map());
                    }
                    None if allowed_preflight => cache.insert(&policy, request, &fresh),
                    None => {}
                }
            }
        }
    }
}

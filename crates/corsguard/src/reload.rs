//! Live reconfiguration: a [`PolicyHandle`] holds the current [`Policy`] and replaces it
//! atomically while requests are in flight.
//!
//! Readers never lock: [`PolicyHandle::load`] costs a few atomic operations (it is built on
//! `arc-swap`), so requests neither wait for nor slow down a reload. A request that started
//! under the old policy finishes under it; every request that starts after a reload returns
//! sees the new one. A new policy that fails validation is refused with its [`Diagnostics`] and
//! the current one keeps serving, so a typo in a policy file never takes CORS down.
//!
//! The tower middleware ([`CorsLayer::reloadable`](crate::tower::CorsLayer::reloadable)) and
//! the gateway both read their policy through this handle.
//!
//! ```
//! use corsguard::{Policy, PolicyHandle};
//!
//! let handle = PolicyHandle::new(Policy::builder().origins(["https://app.example.com"]).build()?);
//!
//! // A valid file replaces the policy for every request that starts afterwards.
//! handle.reload_toml("[policy]\norigins = [\"https://new.example.com\"]\n", None)?;
//! let policy = handle.load();
//! assert_eq!(policy.rules().origins()[0].to_string(), "https://new.example.com");
//!
//! // An invalid one is refused, with the reasons, and the current policy stays.
//! let refused = handle.reload_toml("[policy]\norigins = [\"null\"]\n", None).unwrap_err();
//! assert_eq!(refused.iter().next().unwrap().code, "null-origin");
//! assert_eq!(handle.load().rules().origins()[0].to_string(), "https://new.example.com");
//! # Ok::<(), corsguard::Diagnostics>(())
//! ```

use std::fmt;
use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};

use crate::diagnostic::Diagnostics;
use crate::policy::Policy;

/// A shared, replaceable [`Policy`]. Cloning the handle is cheap and every clone sees and
/// replaces the same policy.
#[derive(Clone)]
pub struct PolicyHandle {
    current: Arc<ArcSwap<Policy>>,
}

impl PolicyHandle {
    /// Starts serving `policy`.
    pub fn new(policy: Policy) -> Self {
        PolicyHandle { current: Arc::new(ArcSwap::from_pointee(policy)) }
    }

    /// The current policy, lock-free, for the duration of one request.
    ///
    /// The guard keeps that policy alive even if it is replaced meanwhile. Keep it short-lived
    /// (the span of one decision, not across `.await`s): long-lived guards make reloads hold
    /// on to old policies. Use [`PolicyHandle::current`] to keep one for longer.
    pub fn load(&self) -> PolicyGuard {
        PolicyGuard { guard: self.current.load() }
    }

    /// The current policy as an `Arc`, to keep as long as needed.
    pub fn current(&self) -> Arc<Policy> {
        self.current.load_full()
    }

    /// Serves `policy` from now on and returns the previous one.
    ///
    /// This cannot fail: a [`Policy`] exists only once validated. Validation errors surface
    /// where the policy is built ([`Policy::from_toml`], [`PolicyBuilder::build`](crate::PolicyBuilder::build)),
    /// or in [`PolicyHandle::reload_toml`] and [`PolicyHandle::reload_file`], which build and
    /// replace in one step.
    pub fn replace(&self, policy: Policy) -> Arc<Policy> {
        self.current.swap(Arc::new(policy))
    }

    /// Builds a policy from policy-file text (profile selection as in [`Policy::from_toml`])
    /// and, if it is valid, serves it from now on and returns it (its
    /// [`warnings`](Policy::warnings) are worth logging). If it is not, returns every problem
    /// found and keeps the current policy.
    pub fn reload_toml(&self, text: &str, profile: Option<&str>) -> Result<Arc<Policy>, Diagnostics> {
        self.install(Policy::from_toml(text, profile)?)
    }

    /// Like [`PolicyHandle::reload_toml`], reading the file first; an unreadable file is
    /// refused like an invalid one.
    pub fn reload_file(
        &self,
        path: impl AsRef<Path>,
        profile: Option<&str>,
    ) -> Result<Arc<Policy>, Diagnostics> {
        self.install(Policy::from_file(path, profile)?)
    }

    fn install(&self, policy: Policy) -> Result<Arc<Policy>, Diagnostics> {
        let policy = Arc::new(policy);
        self.current.store(Arc::clone(&policy));
        Ok(policy)
    }
}

impl From<Policy> for PolicyHandle {
    fn from(policy: Policy) -> Self {
        PolicyHandle::new(policy)
    }
}

impl fmt::Debug for PolicyHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyHandle").field("profile", &self.load().profile()).finish_non_exhaustive()
    }
}

/// The policy that was current when [`PolicyHandle::load`] was called; dereferences to
/// [`Policy`].
pub struct PolicyGuard {
    guard: Guard<Arc<Policy>>,
}

impl PolicyGuard {
    /// The `Arc` the guard holds, to tell one policy from the next (`Arc::ptr_eq`) or to keep
    /// it, without touching its reference count unless cloned.
    pub fn as_arc(&self) -> &Arc<Policy> {
        &self.guard
    }
}

impl Deref for PolicyGuard {
    type Target = Policy;

    fn deref(&self) -> &Policy {
        &self.guard
    }
}

impl fmt::Debug for PolicyGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(origin: &str) -> Policy {
        Policy::builder().origins([origin]).build().unwrap()
    }

    fn first_origin(handle: &PolicyHandle) -> String {
        handle.load().rules().origins()[0].to_string()
    }

    #[test]
    fn replace_returns_the_previous_policy_and_clones_share_it() {
        let handle = PolicyHandle::new(policy("https://a.example.com"));
        let clone = handle.clone();
        let previous = clone.replace(policy("https://b.example.com"));
        assert_eq!(previous.rules().origins()[0].to_string(), "https://a.example.com");
        assert_eq!(first_origin(&handle), "https://b.example.com");
    }

    #[test]
    fn a_guard_keeps_its_policy_across_a_replace() {
        let handle = PolicyHandle::new(policy("https://a.example.com"));
        let guard = handle.load();
        handle.replace(policy("https://b.example.com"));
        assert_eq!(guard.rules().origins()[0].to_string(), "https://a.example.com");
        assert_eq!(first_origin(&handle), "https://b.example.com");
    }

    #[test]
    fn invalid_text_and_missing_files_are_refused_and_the_policy_stays() {
        let handle = PolicyHandle::new(policy("https://a.example.com"));
        let err = handle.reload_toml("[policy]\norigins = [\"*\"]\ncredentials = true\n", None).unwrap_err();
        assert!(err.iter().any(|d| d.code == "wildcard-with-credentials"));
        let err = handle.reload_toml("[policy\n", None).unwrap_err();
        assert!(err.iter().any(|d| d.code == "parse-error"));
        let err = handle.reload_file("/nonexistent/corsguard.toml", None).unwrap_err();
        assert!(err.iter().any(|d| d.code == "parse-error"));
        let err = handle
            .reload_toml("[profiles.dev]\norigins = [\"http://localhost:*\"]\n", Some("prod"))
            .unwrap_err();
        assert!(err.iter().any(|d| d.code == "unknown-profile"));
        assert_eq!(first_origin(&handle), "https://a.example.com");
    }

    #[test]
    fn a_valid_reload_selects_the_profile_and_is_returned() {
        let handle = PolicyHandle::new(policy("https://a.example.com"));
        let text = "[profiles.staging]\norigins = [\"https://*.staging.example.com\"]\n\
                    [profiles.production]\norigins = [\"https://app.example.com\"]\n";
        let installed = handle.reload_toml(text, Some("staging")).unwrap();
        assert_eq!(installed.profile(), "staging");
        assert_eq!(first_origin(&handle), "https://*.staging.example.com");
        assert!(Arc::ptr_eq(&installed, &handle.current()));
    }
}

//! `corsguard._corsguard`: the engine as a CPython extension module (PyO3, abi3 from 3.9).
//!
//! Python only carries messages between the server and this module: the engine decides every
//! request and `OwnedCorsHeaders::apply_to` writes every response's CORS headers, so the ASGI,
//! WSGI and Django middleware (in `python/corsguard/`) behave as the gateway does by
//! construction. Every input is untrusted: bad bytes become Python exceptions, and PyO3 turns
//! a panic into `PanicException` at the boundary instead of unwinding into the interpreter.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use corsguard::{Action, Diagnostics, OwnedCorsHeaders, OwnedDecision, Reason};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use pyo3::create_exception;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyList, PyString, PyTuple};

create_exception!(
    _corsguard,
    PolicyError,
    PyValueError,
    "A policy file with errors. `.diagnostics` is the list `corsguard check --format json` prints; \
     `str(error)` is the rustc-style report of `corsguard check`."
);

/// Raises `PolicyError` for `diags` of the file `path` whose text is `source`.
fn policy_error(py: Python<'_>, diags: &Diagnostics, source: &str, path: &str) -> PyErr {
    let message = corsguard::render::human(diags, source, path, false);
    let err = PolicyError::new_err(message.trim_end().to_owned());
    let list = corsguard::json::diagnostics(diags).get("diagnostics").map(|d| to_python(py, d)).transpose();
    match list {
        Ok(list) => {
            let list = list.unwrap_or_else(|| PyList::empty(py).into_any().unbind());
            if let Err(e) = err.value(py).setattr("diagnostics", list) {
                return e;
            }
            err
        }
        Err(e) => e,
    }
}

/// A JSON value as the Python object `json.loads` would give.
fn to_python(py: Python<'_>, value: &serde_json::Value) -> PyResult<Py<PyAny>> {
    use serde_json::Value;
    Ok(match value {
        Value::Null => py.None(),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any().unbind(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any().unbind(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any().unbind(),
            _ => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any().unbind(),
        },
        Value::String(s) => PyString::new(py, s).into_any().unbind(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_python(py, item)?)?;
            }
            list.into_any().unbind()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_python(py, v)?)?;
            }
            dict.into_any().unbind()
        }
    })
}

/// A header's name or value as bytes: borrowed from a Python `bytes`, or a `str` encoded as
/// Latin-1 (what WSGI's native strings and Django's `META` hold; characters above U+00FF, which
/// no server produces, fall back to UTF-8).
enum Raw<'a> {
    Borrowed(&'a [u8]),
    Owned(Vec<u8>),
}

impl AsRef<[u8]> for Raw<'_> {
    fn as_ref(&self) -> &[u8] {
        match self {
            Raw::Borrowed(b) => b,
            Raw::Owned(v) => v,
        }
    }
}

fn latin1(s: &str) -> Vec<u8> {
    if s.chars().all(|c| (c as u32) < 256) {
        s.chars().map(|c| c as u32 as u8).collect()
    } else {
        s.as_bytes().to_vec()
    }
}

fn latin1_str(b: &[u8]) -> String {
    b.iter().map(|&b| b as char).collect()
}

fn raw<'a>(item: &'a Bound<'_, PyAny>) -> PyResult<Raw<'a>> {
    if let Ok(b) = item.cast::<PyBytes>() {
        return Ok(Raw::Borrowed(b.as_bytes()));
    }
    if let Ok(s) = item.cast::<PyString>() {
        return Ok(Raw::Owned(latin1(&s.to_cow()?)));
    }
    Err(PyTypeError::new_err("header names and values must be str or bytes"))
}

/// The `(name, value)` pairs of `headers`: a mapping (its `items()`) or an iterable of pairs.
fn pairs<'py>(headers: &Bound<'py, PyAny>) -> PyResult<Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)>> {
    let items = if headers.hasattr("items")? { headers.call_method0("items")? } else { headers.clone() };
    let mut out = Vec::new();
    for pair in items.try_iter()? {
        let pair = pair?;
        let (name, value) = if let Ok(t) = pair.cast::<PyTuple>() {
            if t.len() != 2 {
                return Err(PyTypeError::new_err("each header must be a (name, value) pair"));
            }
            (t.get_item(0)?, t.get_item(1)?)
        } else {
            let mut it = pair.try_iter()?;
            match (it.next(), it.next(), it.next()) {
                (Some(n), Some(v), None) => (n?, v?),
                _ => return Err(PyTypeError::new_err("each header must be a (name, value) pair")),
            }
        };
        out.push((name, value));
    }
    Ok(out)
}

fn decide(
    policy: &corsguard::Policy,
    method: &str,
    path: &str,
    headers: &Bound<'_, PyAny>,
) -> PyResult<OwnedDecision> {
    let pairs = pairs(headers)?;
    let mut raw_pairs = Vec::with_capacity(pairs.len());
    for (name, value) in &pairs {
        raw_pairs.push((raw(name)?, raw(value)?));
    }
    policy.decide_parts(method, path, raw_pairs).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// A validated CORS policy for one profile. Immutable; share it freely between threads.
#[pyclass(frozen, module = "corsguard._corsguard")]
struct Policy {
    inner: Arc<corsguard::Policy>,
}

fn read_policy(py: Python<'_>, path: &PathBuf, profile: Option<&str>) -> PyResult<corsguard::Policy> {
    let shown = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => {
            corsguard::Policy::from_toml(&text, profile).map_err(|d| policy_error(py, &d, &text, &shown))
        }
        // The engine words an unreadable file as every other adapter does.
        Err(_) => match corsguard::Policy::from_file(path, profile) {
            Ok(policy) => Ok(policy),
            Err(d) => Err(policy_error(py, &d, "", &shown)),
        },
    }
}

fn parse_policy(py: Python<'_>, text: &str, profile: Option<&str>) -> PyResult<corsguard::Policy> {
    corsguard::Policy::from_toml(text, profile).map_err(|d| policy_error(py, &d, text, "<policy>"))
}

#[pymethods]
impl Policy {
    /// Reads and validates a policy file; raises `PolicyError` if it has errors.
    #[staticmethod]
    #[pyo3(signature = (path, profile = None))]
    fn from_file(py: Python<'_>, path: PathBuf, profile: Option<&str>) -> PyResult<Self> {
        Ok(Policy { inner: Arc::new(read_policy(py, &path, profile)?) })
    }

    /// Validates policy-file text; raises `PolicyError` if it has errors.
    #[staticmethod]
    #[pyo3(signature = (text, profile = None))]
    fn from_toml(py: Python<'_>, text: &str, profile: Option<&str>) -> PyResult<Self> {
        Ok(Policy { inner: Arc::new(parse_policy(py, text, profile)?) })
    }

    /// The selected profile's name.
    #[getter]
    fn profile(&self) -> &str {
        self.inner.profile()
    }

    /// Whether the profile is strict (refusals carry no `corsguard-reason` header).
    #[getter]
    fn strict(&self) -> bool {
        self.inner.is_strict()
    }

    /// The policy's warnings, as `corsguard check --format json` lists them.
    #[getter]
    fn warnings(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let json = corsguard::json::diagnostics(self.inner.warnings());
        to_python(py, json.get("diagnostics").unwrap_or(&serde_json::Value::Array(Vec::new())))
    }

    /// The decision for one request as the dict `corsguard explain --format json` prints.
    #[pyo3(signature = (method, path, headers = None))]
    fn decide(
        &self,
        py: Python<'_>,
        method: &str,
        path: &str,
        headers: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let decision = match headers {
            Some(h) => decide(&self.inner, method, path, h)?,
            None => decide(&self.inner, method, path, PyList::empty(py).as_any())?,
        };
        to_python(py, &corsguard::json::owned_decision(&decision))
    }

    /// The decision as a `Verdict`, for the middleware.
    fn evaluate(&self, method: &str, path: &str, headers: &Bound<'_, PyAny>) -> PyResult<Verdict> {
        Ok(Verdict::new(decide(&self.inner, method, path, headers)?))
    }

    fn __repr__(&self) -> String {
        format!("Policy(profile={:?})", self.inner.profile())
    }
}

/// The policy a server is using, replaced whole on reload: requests in flight finish with the
/// policy they started with, and an invalid new file is refused while the old one keeps serving.
#[pyclass(frozen, module = "corsguard._corsguard")]
struct PolicyHandle {
    handle: corsguard::PolicyHandle,
    /// The file `reload()` reads again, and its profile.
    source: Mutex<Option<(PathBuf, Option<String>)>>,
}

#[pymethods]
impl PolicyHandle {
    /// Serves `policy` until replaced.
    #[new]
    fn new(policy: &Policy) -> Self {
        PolicyHandle {
            handle: corsguard::PolicyHandle::new((*policy.inner).clone()),
            source: Mutex::new(None),
        }
    }

    /// Serves the policy file at `path`; raises `PolicyError` at once if it has errors.
    #[staticmethod]
    #[pyo3(signature = (path, profile = None))]
    fn from_file(py: Python<'_>, path: PathBuf, profile: Option<String>) -> PyResult<Self> {
        let policy = read_policy(py, &path, profile.as_deref())?;
        Ok(PolicyHandle {
            handle: corsguard::PolicyHandle::new(policy),
            source: Mutex::new(Some((path, profile))),
        })
    }

    /// The policy serving now.
    #[getter]
    fn current(&self) -> Policy {
        Policy { inner: self.handle.current() }
    }

    /// The file `reload()` reads, if the handle was made from one.
    #[getter]
    fn path(&self) -> Option<PathBuf> {
        self.source.lock().ok().and_then(|s| s.as_ref().map(|(p, _)| p.clone()))
    }

    /// Reads the policy file again (or `path` instead, from now on) and serves it if valid.
    /// Raises `PolicyError`, keeping the current policy, if it is not.
    #[pyo3(signature = (path = None, profile = None))]
    fn reload(&self, py: Python<'_>, path: Option<PathBuf>, profile: Option<String>) -> PyResult<Policy> {
        let (path, profile) = {
            let source = self.source.lock().map_err(|_| PyValueError::new_err("reload state poisoned"))?;
            match (path, source.as_ref()) {
                (Some(p), _) => (p, profile),
                (None, Some((p, old))) => (p.clone(), profile.or_else(|| old.clone())),
                (None, None) => {
                    return Err(PyValueError::new_err("this handle was not made from a file: pass path="))
                }
            }
        };
        let policy = read_policy(py, &path, profile.as_deref())?;
        let policy = self.handle.replace(policy);
        if let Ok(mut source) = self.source.lock() {
            *source = Some((path, profile));
        }
        Ok(Policy { inner: policy })
    }

    /// Serves policy-file text if valid; raises `PolicyError`, keeping the current policy, if not.
    #[pyo3(signature = (text, profile = None))]
    fn reload_toml(&self, py: Python<'_>, text: &str, profile: Option<&str>) -> PyResult<Policy> {
        let policy = parse_policy(py, text, profile)?;
        Ok(Policy { inner: self.handle.replace(policy) })
    }

    /// Serves `policy` from now on.
    fn replace(&self, policy: &Policy) -> Policy {
        Policy { inner: self.handle.replace((*policy.inner).clone()) }
    }

    /// The current policy's decision as a `Verdict`, for the middleware.
    fn evaluate(&self, method: &str, path: &str, headers: &Bound<'_, PyAny>) -> PyResult<Verdict> {
        Ok(Verdict::new(decide(&self.handle.load(), method, path, headers)?))
    }

    fn __repr__(&self) -> String {
        format!("PolicyHandle(profile={:?})", self.handle.load().profile())
    }
}

/// One request's decision, as the middleware acts on it.
#[pyclass(frozen, module = "corsguard._corsguard")]
struct Verdict {
    decision: OwnedDecision,
    /// The status to answer with, without calling the application; `None` to call it.
    #[pyo3(get)]
    status: Option<u16>,
}

impl Verdict {
    fn new(decision: OwnedDecision) -> Self {
        let status = match decision.action() {
            Action::Answer(status) => Some(status.as_u16()),
            _ => None,
        };
        Verdict { decision, status }
    }

    fn cors(&self) -> OwnedCorsHeaders {
        self.decision.headers().clone()
    }
}

/// `headers` as a map, for `apply_to`; a pair that is not a valid header is dropped rather
/// than sent, as hyper would refuse to send it.
fn header_map<'a>(items: impl Iterator<Item = PyResult<(Raw<'a>, Raw<'a>)>>) -> PyResult<HeaderMap> {
    let mut map = HeaderMap::new();
    for item in items {
        let (name, value) = item?;
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name.as_ref()), HeaderValue::from_bytes(value.as_ref()))
        {
            map.append(name, value);
        }
    }
    Ok(map)
}

#[pymethods]
impl Verdict {
    /// `not_cors`, `preflight` or `actual`.
    #[getter]
    fn kind(&self) -> &'static str {
        self.decision.kind().as_str()
    }

    /// The reason code.
    #[getter]
    fn reason(&self) -> &'static str {
        self.decision.reason().code()
    }

    /// Whether the request gets what it asked for.
    #[getter]
    fn allowed(&self) -> bool {
        self.decision.is_allowed()
    }

    /// The dict `corsguard explain --format json` prints.
    fn to_dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        to_python(py, &corsguard::json::owned_decision(&self.decision))
    }

    /// corsguard's own answer, as the gateway writes it: `(status, headers, body)`, headers as
    /// `(bytes, bytes)` pairs (`None` when the application is to be called).
    fn answer<'py>(&self, py: Python<'py>) -> PyResult<Option<Answer<'py>>> {
        let Some(status) = self.status else { return Ok(None) };
        let body: &[u8] = if self.decision.reason() == Reason::CrossOriginRequest {
            b"cross-origin request refused\n"
        } else {
            b""
        };
        let mut map = HeaderMap::new();
        if status != StatusCode::NO_CONTENT.as_u16() {
            map.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
            map.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
        self.cors().apply_to(&mut map);
        Ok(Some((status, bytes_list(py, &map)?, PyBytes::new(py, body))))
    }

    /// The application's response headers (`(bytes, bytes)` pairs, as ASGI carries them) with
    /// its `Access-Control-*` headers replaced by the policy's and `Vary` merged.
    fn apply<'py>(&self, py: Python<'py>, headers: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let pairs = pairs(headers)?;
        let mut map = header_map(pairs.iter().map(|(n, v)| Ok((raw(n)?, raw(v)?))))?;
        self.cors().apply_to(&mut map);
        bytes_list(py, &map)
    }

    /// `apply` for `(str, str)` pairs in Latin-1, as WSGI and Django carry them.
    fn apply_str<'py>(&self, py: Python<'py>, headers: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let pairs = pairs(headers)?;
        let mut map = header_map(pairs.iter().map(|(n, v)| Ok((raw(n)?, raw(v)?))))?;
        self.cors().apply_to(&mut map);
        let list = PyList::empty(py);
        for (name, value) in &map {
            list.append((name.as_str(), latin1_str(value.as_bytes())))?;
        }
        Ok(list)
    }

    fn __repr__(&self) -> String {
        format!("Verdict(kind={:?}, reason={:?}, status={:?})", self.kind(), self.reason(), self.status)
    }
}

/// corsguard's own answer: status, headers, body.
type Answer<'py> = (u16, Bound<'py, PyList>, Bound<'py, PyBytes>);

fn bytes_list<'py>(py: Python<'py>, map: &HeaderMap) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for (name, value) in map {
        list.append((PyBytes::new(py, name.as_str().as_bytes()), PyBytes::new(py, value.as_bytes())))?;
    }
    Ok(list)
}

#[pymodule]
fn _corsguard(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Policy>()?;
    m.add_class::<PolicyHandle>()?;
    m.add_class::<Verdict>()?;
    m.add("PolicyError", m.py().get_type::<PolicyError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

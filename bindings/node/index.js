// corsguard for Node.js: the engine's decisions as Connect/Express/node:http middleware and
// `Policy.decide`. Nothing here reads the policy or writes a CORS header by itself: the
// native addon decides, and its `apply` (the engine's `OwnedCorsHeaders::apply_to`) says what
// the response headers become, so every response is the one the gateway would send.
// decisions.js keeps the addon's verdicts, so that a repeated request costs a map lookup.
'use strict';

const fs = require('node:fs');
const http = require('node:http');
const native = require('./native.js').load();
const { Decider, rewriteFor, applyOps } = require('./decisions.js');

/** A policy file that does not build: `message` is `corsguard check`'s text. */
class PolicyError extends Error {
  constructor(failure) {
    super(failure.message);
    this.name = 'PolicyError';
    /** `corsguard check --format json`'s `diagnostics` array. */
    this.diagnostics = failure.diagnostics;
    this.errors = failure.errors;
    this.warnings = failure.warnings;
  }
}

// Profile selection as the command line's: the caller's, else CORSGUARD_PROFILE, else the
// file's `default_profile` (chosen by the engine).
function profileOf(profile) {
  if (profile !== undefined && profile !== null) return String(profile);
  return process.env.CORSGUARD_PROFILE || null;
}

function built(result) {
  if (result instanceof native.NativePolicy) return result;
  throw new PolicyError(result);
}

const kNative = Symbol('corsguard.native');

/** A validated policy; `reload` swaps it atomically, keeping the old one if the new is bad. */
class Policy {
  constructor(nativePolicy, source) {
    if (!(nativePolicy instanceof native.NativePolicy)) {
      throw new TypeError('use Policy.fromFile or Policy.fromToml');
    }
    this[kNative] = new Decider(nativePolicy);
    this.source = source;
  }

  /** Reads and validates the policy file at `path`; throws `PolicyError`. */
  static fromFile(path, profile) {
    const chosen = profileOf(profile);
    return new Policy(built(native.compileFile(String(path), chosen)), { path: String(path), profile: chosen });
  }

  /** Validates policy-file text; throws `PolicyError`. */
  static fromToml(text, profile, options = {}) {
    const chosen = profileOf(profile);
    const path = options.path || 'corsguard.toml';
    return new Policy(built(native.compile(String(text), chosen, path)), { text: String(text), path, profile: chosen });
  }

  /** The profile the policy was built from. */
  get profile() {
    return this[kNative].native.profile;
  }

  /** The policy's warnings, as entries of `corsguard check --format json`. */
  get warnings() {
    return this[kNative].native.warnings;
  }

  /**
   * The object `corsguard explain --format json` prints for this request: `{kind, allowed,
   * forwarded, status, reason, headers}`. `headers` may be an object (as `req.headers`), an
   * array of `[name, value]` pairs, a flat `[name, value, ...]` list (as `req.rawHeaders`) or a
   * `Headers`.
   */
  decide({ method = 'GET', url = '/', headers = {} } = {}) {
    return this[kNative].native.decide(String(method), String(url), flatHeaders(headers));
  }

  /**
   * Swaps in a new policy: from `text` when given, else by reading the file again (a policy
   * made by `fromToml` needs `text`). An invalid policy throws `PolicyError` and the current
   * one keeps serving.
   */
  reload(text) {
    const { path, profile } = this.source;
    let result;
    if (text !== undefined) {
      result = native.compile(String(text), profile, path);
    } else if (this.source.text === undefined) {
      result = native.compileFile(path, profile);
    } else {
      throw new TypeError('this policy was made from text: pass the new text to reload()');
    }
    // A new native policy, swapped in whole with no verdicts kept: a request already under
    // way keeps the one it started with (see src/lib.rs).
    this[kNative] = new Decider(built(result));
    return this;
  }

  /**
   * Reloads whenever the file changes (polled every `interval` ms). A reload that fails calls
   * `onError(policyError)` (default: printed to stderr) and the current policy keeps serving.
   * Returns a function that stops watching; the watcher never keeps the process alive.
   */
  watch({ interval = 1000, onReload = () => {}, onError = defaultOnError } = {}) {
    const { path } = this.source;
    if (this.source.text !== undefined) throw new TypeError('only a policy read from a file can be watched');
    // Compared with the file as it was when watching began, not with the previous poll:
    // a change made before the first poll is seen too.
    let last = fileSignature(path);
    const timer = setInterval(() => {
      const now = fileSignature(path);
      // A missing file is an editor between writing and renaming: wait for the new one.
      if (now === last || now === null) return;
      last = now;
      try {
        this.reload();
        onReload(this);
      } catch (e) {
        onError(e);
      }
    }, interval);
    timer.unref();
    return () => clearInterval(timer);
  }
}

function fileSignature(path) {
  const stat = fs.statSync(path, { throwIfNoEntry: false });
  return stat ? `${stat.mtimeMs}:${stat.size}:${stat.ino}` : null;
}

function defaultOnError(e) {
  console.error(`corsguard: the policy was not reloaded; the previous one keeps serving\n${e.message}`);
}

function flatHeaders(headers) {
  if (Array.isArray(headers)) {
    if (headers.length === 0 || !Array.isArray(headers[0])) return headers.map(String);
    const flat = [];
    for (const [name, value] of headers) flat.push(String(name), String(value));
    return flat;
  }
  const flat = [];
  const entries =
    typeof headers.entries === 'function' && typeof headers.get === 'function'
      ? headers.entries()
      : Object.entries(headers);
  for (const [name, value] of entries) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) flat.push(name, String(v));
    else flat.push(name, String(value));
  }
  return flat;
}

/**
 * Rewrites the headers of a response (anything with getHeaderNames/getHeaders/setHeader/
 * removeHeader) to carry the CORS headers of `request` (see `described`), as the engine's
 * apply_to writes them.
 */
function applyTo(request, res) {
  applyOps(rewriteFor(request, res.getHeaderNames(), res), res);
}

// Headers given to writeHead join the response's own first, so that `apply` sees them.
function takeWriteHeadHeaders(res, headers) {
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2) res.appendHeader(headers[i], headers[i + 1]);
  } else {
    for (const name of Object.keys(headers)) {
      if (headers[name] !== undefined) res.setHeader(name, headers[name]);
    }
  }
}

// The decision's headers go on at the last moment the response can change: writeHead, which
// Node calls for every response (explicitly or from the first write or end), the
// application's errors included.
//
// For Node's own responses (Express's among them) the hook is ServerResponse.prototype's
// writeHead, wrapped once for the process when the first middleware is made, and a response's
// request is found in a WeakMap: an own `writeHead` on every response costs more than the
// whole `cors` middleware does (see BENCHMARKS.md). Being the prototype's, the hook runs after
// any wrapper that other middleware puts on the response itself, so the engine sees their
// headers too. Other responses (HTTP/2's compatibility API) get an own `writeHead`.
const awaitingHead = new WeakMap();
let prototypeWrapped = false;

function wrapServerResponse() {
  if (prototypeWrapped) return;
  prototypeWrapped = true;
  const proto = http.ServerResponse.prototype;
  const writeHead = proto.writeHead;
  proto.writeHead = function corsguardWriteHead(statusCode, reason, headers) {
    const request = awaitingHead.get(this);
    if (request === undefined) return writeHead.apply(this, arguments);
    awaitingHead.delete(this);
    return finishHead(this, request, writeHead, statusCode, reason, headers);
  };
}

function onWriteHead(res, request) {
  if (prototypeWrapped && res instanceof http.ServerResponse) {
    awaitingHead.set(res, request);
    return;
  }
  const writeHead = res.writeHead;
  res.writeHead = function corsguardWriteHead(statusCode, reason, headers) {
    res.writeHead = writeHead;
    return finishHead(this, request, writeHead, statusCode, reason, headers);
  };
}

function finishHead(res, request, writeHead, statusCode, reason, headers) {
  if (reason !== undefined && typeof reason !== 'string') {
    headers = reason;
    reason = undefined;
  }
  if (headers) takeWriteHeadHeaders(res, headers);
  applyTo(request, res);
  return reason === undefined ? writeHead.call(res, statusCode) : writeHead.call(res, statusCode, reason);
}

function policyFrom(options) {
  if (!options || typeof options !== 'object') throw new TypeError('corsguard({ config: PATH, profile?: NAME })');
  if (options.policy instanceof Policy) return options.policy;
  if (typeof options.config !== 'string') throw new TypeError('corsguard: `config` must be the policy file\'s path');
  return Policy.fromFile(options.config, options.profile);
}

function startWatching(policy, options) {
  if (!options.watch) return () => {};
  const settings = typeof options.watch === 'object' ? options.watch : {};
  return policy.watch({ onReload: options.onReload, onError: options.onError, ...settings });
}

/**
 * Connect/Express middleware `(req, res, next)` enforcing the policy file `config`.
 * Preflights and refusals are answered without calling `next`; every other response gets
 * the policy's CORS headers, replacing any the application set.
 *
 * Options: `config` (path), `profile`, or `policy` (a Policy); `watch` (true or
 * `{ interval }`) to reload when the file changes; `onReload(policy)`, `onError(error)`.
 * The middleware has `.policy`, `.reload()`, `.close()` (stops watching) and
 * `.checkUpgrade(req, socket)` for WebSocket handshakes (`server.on('upgrade')`).
 */
function corsguard(options) {
  const policy = policyFrom(options);
  const stop = startWatching(policy, options);
  wrapServerResponse();

  function middleware(req, res, next) {
    const request = described(policy, req, req.originalUrl || req.url);
    // An answer of corsguard's own goes through the hook too: headers that other middleware
    // adds as the head goes out are the engine's to rewrite there as well.
    onWriteHead(res, request);
    const { verdict } = request;
    if (verdict.forward) {
      if (typeof next === 'function') next();
      return;
    }
    res.statusCode = verdict.status;
    if (verdict.body) res.setHeader('content-type', 'text/plain; charset=utf-8');
    res.end(verdict.body);
  }

  middleware.policy = policy;
  middleware.reload = (text) => policy.reload(text);
  middleware.close = stop;
  middleware.checkUpgrade = (req, socket) => checkUpgrade(policy, req, socket);
  return middleware;
}

// A request as the response's headers need it: the policy current when it arrived (a reload
// meanwhile does not change its answer), its method and full path, and its verdict.
function described(policy, req, url) {
  const decider = policy[kNative];
  const method = req.method;
  const raw = Array.isArray(req.rawHeaders) ? req.rawHeaders : flatHeaders(req.headers || {});
  return { decider, method, url, verdict: decider.verdict(method, url, raw) };
}

const STATUS_TEXT = { 400: 'Bad Request', 403: 'Forbidden' };

/**
 * For `server.on('upgrade', ...)`: true when the handshake may proceed; otherwise writes the
 * refusal (403 for a WebSocket handshake from an origin the policy does not allow), closes
 * the socket and returns false.
 */
function checkUpgrade(policy, req, socket) {
  const request = described(policy, req, req.url);
  const result = request.verdict;
  if (result.forward) return true;
  const headers = new Map();
  const res = {
    getHeaderNames: () => [...headers.keys()],
    getHeaders: () => Object.fromEntries(headers),
    setHeader: (n, v) => headers.set(n.toLowerCase(), v),
    removeHeader: (n) => headers.delete(n.toLowerCase()),
  };
  if (result.body) res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.setHeader('content-length', String(Buffer.byteLength(result.body)));
  res.setHeader('connection', 'close');
  applyTo(request, res);
  let head = `HTTP/1.1 ${result.status} ${STATUS_TEXT[result.status] || ''}\r\n`;
  for (const [name, value] of headers) {
    for (const v of Array.isArray(value) ? value : [value]) head += `${name}: ${v}\r\n`;
  }
  socket.end(`${head}\r\n${result.body}`, 'latin1');
  return false;
}

module.exports = { corsguard, Policy, PolicyError };
// Internal, for fastify.js.
Object.defineProperty(module.exports, '_internal', {
  value: { policyFrom, startWatching, described, native, kNative },
});

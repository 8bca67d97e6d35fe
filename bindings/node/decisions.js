// A native policy's verdicts, kept for every distinct input, and the header rewrites they
// lead to. The engine says what a decision reads (the method, the route, and the headers of
// `decisionHeaders()`: corsguard::DECISION_HEADERS); a request is keyed on exactly those, so
// an equal request gets the verdict the engine gave, without crossing into the addon.
'use strict';

const native = require('./native.js').load();

const DECISION_HEADERS = native.decisionHeaders();
// The decision headers by the length of their names: most names are ruled out by their
// length alone, and the rest are compared without lowercasing (a new string) each time.
const BY_LENGTH = [];
for (const name of DECISION_HEADERS) (BY_LENGTH[name.length] ||= []).push(name);

// Request targets that the engine reads as a path and a query, with no authority: a verdict
// for one depends on its path only through the route. Any other target (absolute form, `*`,
// characters outside these) is decided afresh each time. The test suite holds the engine to
// reading every target of this form.
const PLAIN_TARGET = /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*$/;

// Verdicts are kept in two generations of at most this many each: a key that is used stays,
// and a flood of distinct keys (an attacker's origins) costs at most two full maps.
const GENERATION = 1024;
// The longest key kept: what a request sends in its decision headers is its own to choose.
const MAX_KEY = 4096;

/**
 * The decision headers among `raw` (name, value, name, value, ... as Node's `rawHeaders`),
 * in order, names lowercased, joined with line feeds as the addon reads them.
 */
function decisionInputs(raw) {
  let inputs = '';
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i];
    const candidates = BY_LENGTH[name.length];
    if (candidates === undefined) continue;
    for (let k = 0; k < candidates.length; k++) {
      const lower = candidates[k];
      if (!equalsLowercase(name, lower)) continue;
      inputs += inputs === '' ? `${lower}\n${raw[i + 1]}` : `\n${lower}\n${raw[i + 1]}`;
      break;
    }
  }
  return inputs;
}

// True when `name` is `lower` but for the case of ASCII letters (HTTP's case-insensitivity:
// `toLowerCase` would also fold letters outside ASCII, which no header name has).
function equalsLowercase(name, lower) {
  for (let i = 0; i < lower.length; i++) {
    let c = name.charCodeAt(i);
    if (c >= 65 && c <= 90) c += 32;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * Reads the addon's rewrite format (`:name` removes; a name then a value sets, a name's values
 * in a row) into `[name, value]` pairs: a string or an array of strings sets, `null` removes.
 */
function parseRewrite(encoded) {
  const ops = [];
  if (encoded === '') return ops;
  const tokens = encoded.split('\n');
  for (let i = 0; i < tokens.length; ) {
    const name = tokens[i];
    if (name.charCodeAt(0) === 58 /* ':' */) {
      ops.push([name.slice(1), null]);
      i += 1;
      continue;
    }
    const first = tokens[i + 1];
    i += 2;
    if (tokens[i] !== name) {
      ops.push([name, first]);
      continue;
    }
    const values = [first];
    while (tokens[i] === name) {
      values.push(tokens[i + 1]);
      i += 2;
    }
    ops.push([name, values]);
  }
  return ops;
}

/**
 * Applies `parseRewrite`'s pairs to `target`'s headers: its `removeHeader(name)` and
 * `setHeader(name, value or values)` (a Node response, or anything with both).
 */
function applyOps(ops, target) {
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    if (op[1] === null) target.removeHeader(op[0]);
    else target.setHeader(op[0], op[1]);
  }
}

// A verdict as the middleware uses it: the addon's, with its headers read once. Shared by
// every request with the same key, so never changed.
function kept(verdict, inputs) {
  return Object.freeze({
    forward: verdict.forward,
    status: verdict.status,
    body: verdict.body,
    set: Object.freeze(parseRewrite(verdict.headers)),
    inputs,
  });
}

/** One native policy and the verdicts it gave. A reload makes a new one. */
class Decider {
  constructor(nativePolicy) {
    this.native = nativePolicy;
    this.routes = nativePolicy.routePrefixes;
    this.young = new Map();
    this.old = new Map();
  }

  /**
   * The verdict for a request: `{forward, status, body, set, inputs}`, `set` being the
   * headers for a response that has none of the engine's own (see `rewriteFor`).
   */
  verdict(method, url, raw) {
    const inputs = decisionInputs(raw);
    if (!PLAIN_TARGET.test(url)) return kept(this.native.handle(method, url, inputs), inputs);
    const key = `${method} ${this.routeOf(url)}\n${inputs}`;
    let verdict = this.young.get(key);
    if (verdict !== undefined) return verdict;
    verdict = this.old.get(key);
    if (verdict === undefined) {
      verdict = kept(this.native.handle(method, url, inputs), inputs);
      if (key.length > MAX_KEY) return verdict;
    }
    if (this.young.size >= GENERATION) {
      this.old = this.young;
      this.young = new Map();
    }
    this.young.set(key, verdict);
    return verdict;
  }

  // The index of the `[[routes]]` entry whose prefix the path starts with, as the engine's
  // `Policy::route_for` picks it; 0 for none of them.
  routeOf(url) {
    const routes = this.routes;
    if (routes.length === 0) return 0;
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    for (let i = 0; i < routes.length; i++) if (path.startsWith(routes[i])) return i + 1;
    return 0;
  }
}

// The response headers the engine's apply_to reads or writes (the addon says which): a
// response with none of them gets exactly the verdict's headers, without asking the addon.
const [SCOPE_PREFIX, ...SCOPE_NAMES] = native.rewriteScope();

function touchesScope(names) {
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    if (name.startsWith(SCOPE_PREFIX) || SCOPE_NAMES.includes(name)) return true;
  }
  return false;
}

// A response's headers (an object of lowercase names, as getHeaders returns it) joined with
// line feeds, as `apply` reads them. Node refuses a line feed in a header value, so none can
// be in one.
function joinHeaders(headers) {
  let joined = '';
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) {
      joined += joined === '' ? `${name}\n${v}` : `\n${name}\n${v}`;
    }
  }
  return joined;
}

/**
 * What the headers of a response to `request` (`{decider, method, url, verdict}`) must become,
 * as `parseRewrite` pairs: `names` are the response's header names, and its `getHeaders()`
 * gives them with their values when the engine must see them.
 */
function rewriteFor(request, names, response) {
  if (!touchesScope(names)) return request.verdict.set;
  const { decider, method, url, verdict } = request;
  return parseRewrite(decider.native.apply(method, url, verdict.inputs, joinHeaders(response.getHeaders())));
}

module.exports = { Decider, decisionInputs, rewriteFor, applyOps, PLAIN_TARGET, DECISION_HEADERS };

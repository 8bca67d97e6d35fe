// The verdicts the middleware keeps (decisions.js): a kept verdict is the one the engine gives
// the whole request, the key reads only what the engine says a decision reads, and what is
// kept stays bounded whatever requests arrive.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { Policy, _internal } = require('..');
const { Decider, PLAIN_TARGET, DECISION_HEADERS } = require('../decisions.js');

// Every input a decision reads matters here: routes with other rules, cross-origin protection
// (Sec-Fetch-Site, Host), private network access, WebSocket handshakes (Upgrade), credentials.
const POLICY = `
[profiles.development]
origins = ["https://app.example.com", "https://*.example.org"]
methods = ["GET", "POST", "PUT"]
allow_headers = ["Content-Type", "Authorization"]
expose_headers = ["X-Request-Id"]
credentials = true
private_network = true
cross_origin_protection = true

[[routes]]
path = "/public/"
origins = ["*"]
credentials = false
`;

function nativeOf(policy) {
  return policy[_internal.kNative].native;
}

// A small seeded generator, so that a failure names a case that can be run again.
function random(seed) {
  let state = seed >>> 0;
  const next = () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  const pick = (list) => list[Math.floor(next() * list.length)];
  return { next, pick };
}

const TARGET_CHARS = "abcXYZ019-._~!$&'()*+,;=:@%/?";

function plainTarget(rng) {
  let target = rng.pick(['/', '/public/', '/public', '/api/', '//', '/?']);
  const length = Math.floor(rng.next() * 12);
  for (let i = 0; i < length; i++) target += rng.pick([...TARGET_CHARS]);
  return target;
}

test('the key is the engine\'s own list of what a decision reads', () => {
  assert.deepStrictEqual(DECISION_HEADERS, [
    'origin',
    'access-control-request-method',
    'access-control-request-headers',
    'access-control-request-private-network',
    'sec-fetch-site',
    'upgrade',
    'host',
  ]);
});

test('the engine reads every target of the kept form as its path picks the route', () => {
  const native = nativeOf(Policy.fromToml(POLICY));
  const rng = random(7);
  const headers = 'origin\nhttps://evil.example';
  const byRoute = {
    public: native.handle('GET', '/public/', headers),
    other: native.handle('GET', '/', headers),
  };
  assert.notDeepStrictEqual(byRoute.public, byRoute.other, 'the two routes decide differently');
  for (let i = 0; i < 5000; i++) {
    const target = plainTarget(rng);
    assert.match(target, PLAIN_TARGET);
    const path = target.split('?')[0];
    const want = path.startsWith('/public/') ? byRoute.public : byRoute.other;
    assert.deepStrictEqual(native.handle('GET', target, headers), want, target);
  }
});

// Requests drawn from few values, so that keys repeat: decision headers in any case and
// order, repeated, with values the engine refuses; other headers the decision must not read.
function request(rng) {
  const method = rng.pick(['GET', 'GET', 'POST', 'PUT', 'OPTIONS', 'OPTIONS', 'DELETE', 'get', 'B@D']);
  const url = rng.next() < 0.9 ? plainTarget(rng) : rng.pick(['*', 'http://api.example.com/x', '/a b', '/é', '/a#b']);
  const decision = [
    ['Origin', 'https://app.example.com'],
    ['origin', 'https://a.example.org'],
    ['ORIGIN', 'https://evil.example'],
    ['origin', 'null'],
    ['origin', '\u0000bad'],
    ['origin', 'https://app.example.com\u00e9'],
    ['Access-Control-Request-Method', 'PUT'],
    ['access-control-request-method', 'DELETE'],
    ['access-control-request-headers', 'content-type, authorization'],
    ['access-control-request-headers', 'x-other'],
    ['access-control-request-headers', '\u{1F600}'],
    ['Access-Control-Request-Private-Network', 'true'],
    ['Sec-Fetch-Site', 'cross-site'],
    ['sec-fetch-site', 'same-origin'],
    ['Upgrade', 'websocket'],
    ['Host', 'api.example.com'],
    ['host', 'app.example.com'],
  ];
  const other = [
    ['Cookie', 'session=1'],
    ['User-Agent', 'Mozilla/5.0'],
    ['Accept', '*/*'],
    ['Content-Type', 'application/json'],
    ['Referer', 'https://evil.example/'],
    ['Hostx', 'evil.example'],
    ['X-Origin', 'https://evil.example'],
  ];
  const raw = [];
  const count = Math.floor(rng.next() * 7);
  for (let i = 0; i < count; i++) raw.push(...rng.pick(rng.next() < 0.6 ? decision : other));
  return { method, url, raw };
}

test('a kept verdict is the one the engine gives the whole request', () => {
  const native = nativeOf(Policy.fromToml(POLICY));
  const decider = new Decider(native);
  const rng = random(11);
  // Fewer than two generations hold, so that none is dropped between the passes.
  const requests = Array.from({ length: 1500 }, () => request(rng));
  let fresh = 0;
  const counted = new Proxy(native, {
    get(target, name) {
      if (name !== 'handle') return Reflect.get(target, name);
      return (...args) => {
        fresh += 1;
        return target.handle(...args);
      };
    },
  });
  decider.native = counted;
  // Twice over: the second pass is answered from what the first kept.
  const freshByPass = [];
  for (const pass of [1, 2]) {
    fresh = 0;
    for (const { method, url, raw } of requests) {
      const got = decider.verdict(method, url, raw);
      const want = native.handle(method, url, raw.join('\n'));
      const label = `pass ${pass}: ${JSON.stringify([method, url, raw])}`;
      assert.equal(got.forward, want.forward, label);
      assert.equal(got.status, want.status, label);
      assert.equal(got.body, want.body, label);
      const headers = [];
      for (const [name, value] of got.set) for (const v of [value].flat()) headers.push(name, v);
      assert.equal(headers.join('\n'), want.headers, label);
    }
    freshByPass.push(fresh);
  }
  const notPlain = requests.filter(({ url }) => !PLAIN_TARGET.test(url)).length;
  assert.ok(notPlain > 0 && freshByPass[0] > notPlain);
  assert.equal(freshByPass[1], notPlain, 'only targets of another form were decided again');
});

test('what is kept stays bounded, and a key in use stays kept', () => {
  const native = nativeOf(Policy.fromToml(POLICY));
  const decider = new Decider(native);
  const asked = [];
  decider.native = {
    handle: (...args) => {
      asked.push(args[2]);
      return native.handle(...args);
    },
  };
  const hot = ['Origin', 'https://app.example.com'];
  for (let i = 0; i < 20000; i++) {
    decider.verdict('GET', '/', ['Origin', `https://tenant${i}.example.net`]);
    decider.verdict('GET', '/items', hot);
  }
  assert.ok(decider.young.size + decider.old.size <= 2 * 1024, 'at most two generations');
  assert.equal(asked.filter((h) => h === 'origin\nhttps://app.example.com').length, 1, 'the hot key was decided once');
  // A key longer than any real request's is decided every time, never kept.
  const long = ['Origin', `https://${'a'.repeat(5000)}.example`];
  asked.length = 0;
  decider.verdict('GET', '/', long);
  decider.verdict('GET', '/', long);
  assert.equal(asked.length, 2);
});

// Bad policies (PolicyError at start-up, with `corsguard check`'s diagnostics), reload (a bad
// file refused while the old policy serves, watching the file), `decide` against `corsguard
// explain`, and untrusted input (never a crash).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const express = require('express');
const Fastify = require('fastify');
const { corsguard, Policy, PolicyError } = require('..');
const corsguardFastify = require('../fastify');
const { send, listen, tempFile, runCli } = require('./support.js');

const GOOD = `
[profiles.production]
origins = ["https://app.example.com"]
methods = ["GET", "PUT"]
credentials = true
`;
const OTHER = GOOD.replace('https://app.example.com', 'https://other.example.com');
// Two errors and a warning: every one is reported, not just the first.
const BAD = `
[profiles.production]
origins = ["*", "null"]
credentials = true
max_age = 100000
`;

test('an invalid policy throws PolicyError with check --format json diagnostics and its text', () => {
  const file = tempFile('corsguard.toml', BAD);
  const check = JSON.parse(runCli(['check', file, '--format', 'json']));
  assert.ok(check.errors >= 2, 'the file has errors');
  for (const make of [
    () => Policy.fromFile(file),
    () => Policy.fromToml(BAD, undefined, { path: file }),
    () => corsguard({ config: file }),
  ]) {
    assert.throws(make, (e) => {
      assert.ok(e instanceof PolicyError && e instanceof Error);
      assert.equal(e.name, 'PolicyError');
      assert.deepStrictEqual(e.diagnostics, check.diagnostics);
      assert.equal(e.errors, check.errors);
      assert.match(e.message, /error\[wildcard-with-credentials\]/);
      assert.match(e.message, /error\[null-origin\]/);
      assert.ok(e.message.includes(`${file}:3:`), e.message);
      return true;
    });
  }
});

test('the error text is corsguard check\'s human output', () => {
  const file = tempFile('corsguard.toml', BAD);
  assert.throws(() => Policy.fromFile(file), (e) => {
    assert.equal(e.message.trimEnd(), runCli(['check', file]).trimEnd());
    return true;
  });
});

test('an unknown profile, a parse error and a missing file are PolicyErrors too', () => {
  const cases = [
    [() => Policy.fromToml(GOOD, 'staging'), 'unknown-profile'],
    [() => Policy.fromToml('[profiles.p\norigins = 1'), 'parse-error'],
    [() => Policy.fromFile('/nonexistent/corsguard.toml'), 'parse-error'],
    [() => corsguard({ config: '/nonexistent/corsguard.toml' }), 'parse-error'],
  ];
  for (const [make, code] of cases) {
    assert.throws(make, (e) => e instanceof PolicyError && e.diagnostics[0].code === code);
  }
});

test('Fastify refuses to start with an invalid policy', async () => {
  const app = Fastify();
  app.register(corsguardFastify, { config: tempFile('corsguard.toml', BAD) });
  await assert.rejects(app.ready(), (e) => e instanceof PolicyError && e.diagnostics.length >= 2);
});

test('policy.decide returns what corsguard explain --format json prints', () => {
  const file = tempFile('corsguard.toml', GOOD);
  const policy = Policy.fromFile(file);
  const requests = [
    ['GET', '/a', [['Origin', 'https://app.example.com']]],
    ['OPTIONS', '/a', [['Origin', 'https://app.example.com'], ['Access-Control-Request-Method', 'PUT']]],
    ['OPTIONS', '/a', [['Origin', 'https://app.example.com'], ['Access-Control-Request-Method', 'DELETE']]],
    ['POST', '/a', [['Origin', 'https://evil.example']]],
    ['GET', '/a?x=1', []],
  ];
  for (const [method, url, headers] of requests) {
    const args = ['explain', '--config', file, '-X', method, '--format', 'json'];
    for (const [n, v] of headers) args.push('-H', `${n}: ${v}`);
    args.push(url);
    assert.deepStrictEqual(policy.decide({ method, url, headers }), JSON.parse(runCli(args)), `${method} ${url}`);
  }
  // Headers in every shape Node code holds them.
  const want = policy.decide({ method: 'GET', url: '/', headers: [['origin', 'https://app.example.com']] });
  assert.deepStrictEqual(policy.decide({ headers: { origin: 'https://app.example.com' } }), want);
  assert.deepStrictEqual(policy.decide({ headers: ['Origin', 'https://app.example.com'] }), want);
  assert.deepStrictEqual(policy.decide({ headers: new Headers({ origin: 'https://app.example.com' }) }), want);
  assert.equal(policy.profile, 'production');
});

test('profile selection: the argument, else CORSGUARD_PROFILE, else default_profile', () => {
  const text = `default_profile = "b"\n[profiles.a]\norigins = ["https://a.example.com"]\n[profiles.b]\norigins = ["https://b.example.com"]\n`;
  assert.equal(Policy.fromToml(text).profile, 'b');
  assert.equal(Policy.fromToml(text, 'a').profile, 'a');
  process.env.CORSGUARD_PROFILE = 'a';
  try {
    assert.equal(Policy.fromToml(text).profile, 'a');
    assert.equal(Policy.fromToml(text, 'b').profile, 'b');
  } finally {
    delete process.env.CORSGUARD_PROFILE;
  }
});

test('reload swaps the policy; an invalid one is refused and the old one keeps serving', async () => {
  const file = tempFile('corsguard.toml', GOOD);
  const cors = corsguard({ config: file });
  const app = express();
  app.use(cors);
  app.get('/', (req, res) => res.send('ok'));
  const server = http.createServer(app);
  const port = await listen(server);
  const acao = async (origin) =>
    (await send(port, 'GET', '/', [['Origin', origin]])).headers.find(([n]) => n === 'access-control-allow-origin')?.[1];
  try {
    assert.equal(await acao('https://app.example.com'), 'https://app.example.com');
    fs.writeFileSync(file, OTHER);
    cors.reload();
    assert.equal(await acao('https://app.example.com'), undefined);
    assert.equal(await acao('https://other.example.com'), 'https://other.example.com');

    fs.writeFileSync(file, BAD);
    assert.throws(() => cors.reload(), (e) => e instanceof PolicyError && e.diagnostics.length >= 2);
    assert.equal(await acao('https://other.example.com'), 'https://other.example.com', 'the old policy serves');

    // From text, for a policy kept elsewhere than a file.
    const policy = Policy.fromToml(GOOD);
    assert.throws(() => policy.reload(BAD), PolicyError);
    assert.equal(policy.decide({ headers: { origin: 'https://app.example.com' } }).allowed, true);
    policy.reload(OTHER);
    assert.equal(policy.decide({ headers: { origin: 'https://other.example.com' } }).allowed, true);
    assert.throws(() => policy.reload(), TypeError);
  } finally {
    server.close();
  }
});

function until(check, what) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = () => {
      if (check()) return resolve();
      if (Date.now() - started > 5000) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(poll, 20);
    };
    poll();
  });
}

test('watch: a changed file is reloaded, a broken one reported and refused', async () => {
  const file = tempFile('corsguard.toml', GOOD);
  const reloads = [];
  const errors = [];
  const cors = corsguard({
    config: file,
    watch: { interval: 20 },
    onReload: (p) => reloads.push(p.profile),
    onError: (e) => errors.push(e),
  });
  const allowed = (origin) => cors.policy.decide({ headers: { origin } }).allowed;
  try {
    assert.equal(allowed('https://app.example.com'), true);
    fs.writeFileSync(file, OTHER);
    await until(() => reloads.length === 1, 'the reload');
    assert.equal(allowed('https://other.example.com'), true);
    fs.writeFileSync(file, BAD);
    await until(() => errors.length === 1, 'the refused reload');
    assert.ok(errors[0] instanceof PolicyError);
    assert.equal(allowed('https://other.example.com'), true, 'the old policy serves');
  } finally {
    cors.close();
  }
});

test('untrusted input never crashes the process: a malformed request is an error or a 400', async () => {
  const policy = Policy.fromToml(GOOD);
  const nasty = ['a\r\nb', '\u0000', '\u{1F600}', 'é', 'x'.repeat(100000), ''];
  for (const value of nasty) {
    for (const [method, url, headers] of [
      [value, '/', []],
      ['GET', value, []],
      ['GET', '/', [[value, 'v']]],
      ['GET', '/', [['origin', value]]],
      ['OPTIONS', '/', [['origin', 'https://app.example.com'], ['access-control-request-headers', value]]],
    ]) {
      try {
        const d = policy.decide({ method, url, headers });
        assert.equal(typeof d.allowed, 'boolean');
      } catch (e) {
        assert.ok(e instanceof Error && !(e instanceof PolicyError), String(e));
      }
    }
  }
  // A Latin-1 header byte reaches the engine as the byte Node read, and is refused as an origin.
  assert.equal(policy.decide({ headers: { origin: 'https://app.example.com\u00e9' } }).allowed, false);
});

test('a panic inside the addon is an exception, and the process goes on', () => {
  const native = require('..')._internal.native;
  assert.throws(() => native._panicForTests(), /panic inside the corsguard addon/);
  assert.equal(Policy.fromToml(GOOD).decide({ headers: { origin: 'https://app.example.com' } }).allowed, true);
});

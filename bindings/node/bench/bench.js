#!/usr/bin/env node
// What the middleware adds to an Express app, against the `cors` package configured with the
// same policy and against the bare app, in one run: `npm run bench` (after `npm run build`, a
// release build). Each request is Node's own IncomingMessage and ServerResponse on an
// in-memory socket that discards what is written, so there is no network noise; that harness
// costs the same in every column, and added cost = middleware − bare.
//
// Each column runs in a Node process of its own, as an application has one CORS middleware:
// in one process, every middleware's objects would make the shared code of Express and Node
// polymorphic for all of them. The processes take turns, one round each, so that a slow patch
// of the machine falls on every column alike.
//
// Usage: node bench/bench.js [requests per round] [rounds] [--fresh]
//
// --fresh adds a column: corsguard with no verdict kept, so every request crosses into the
// addon, as when every request comes from an origin not seen before.
'use strict';

const express = require('express');
const cors = require('cors');
const { IncomingMessage, ServerResponse } = require('node:http');
const { Duplex } = require('node:stream');
const { fork } = require('node:child_process');
const { corsguard, Policy, _internal } = require('..');

const CHILD = process.argv[2] === '--child';
const args = process.argv.slice(2).filter((a) => a !== '--fresh');
const FRESH = process.argv.includes('--fresh');
const PER_ROUND = Number(CHILD ? args[3] : args[0] || 20000);
const ROUNDS = Number(args[1] || 7);
const ALLOWED = 'https://app.example.com';

// `n` allowed origins, the one under test last (the `cors` package scans its list in order).
function origins(n) {
  const list = [];
  for (let i = 1; i < n; i++) list.push(`https://tenant${i}.example.net`);
  list.push(ALLOWED);
  return list;
}

function corsguardPolicy(list) {
  return Policy.fromToml(`
[profiles.production]
origins = [${list.map((o) => JSON.stringify(o)).join(', ')}]
methods = ["GET", "POST", "PUT"]
allow_headers = ["Content-Type", "Authorization"]
expose_headers = ["X-Request-Id"]
credentials = true
max_age = 600
`);
}

function corsOptions(list) {
  return {
    origin: list,
    methods: ['GET', 'POST', 'PUT'],
    allowedHeaders: ['Content-Type', 'Authorization'],
    exposedHeaders: ['X-Request-Id'],
    credentials: true,
    maxAge: 600,
  };
}

function app(middleware) {
  const a = express();
  a.set('etag', false);
  if (middleware) a.use(middleware);
  a.all('/api/items', (req, res) => res.send('ok'));
  return a;
}

// As Node's parser gives them: lowercase `headers`, `rawHeaders` as sent.
function spec(method, url, pairs) {
  return { method, url, headers: Object.fromEntries(pairs.map(([n, v]) => [n.toLowerCase(), v])), rawHeaders: pairs.flat() };
}

// What a browser sends besides the CORS headers (Chromium's, for a fetch from a page).
const BROWSER = [
  ['Connection', 'keep-alive'],
  ['sec-ch-ua', '"Chromium";v="156", "Not)A;Brand";v="24"'],
  ['sec-ch-ua-mobile', '?0'],
  ['User-Agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36'],
  ['Accept', '*/*'],
  ['Sec-Fetch-Site', 'cross-site'],
  ['Sec-Fetch-Mode', 'cors'],
  ['Sec-Fetch-Dest', 'empty'],
  ['Referer', `${ALLOWED}/`],
  ['Accept-Encoding', 'gzip, deflate, br, zstd'],
  ['Accept-Language', 'en-US,en;q=0.9'],
];

const REQUESTS = {
  'allowed GET': spec('GET', '/api/items', [
    ['Host', 'api.example.com'],
    ['Origin', ALLOWED],
    ...BROWSER,
    ['Cookie', 'session=0123456789abcdef'],
  ]),
  'allowed preflight': spec('OPTIONS', '/api/items', [
    ['Host', 'api.example.com'],
    ['Origin', ALLOWED],
    ['Access-Control-Request-Method', 'PUT'],
    ['Access-Control-Request-Headers', 'content-type, authorization'],
    ...BROWSER,
  ]),
};

// Accepts and drops whatever the response writes.
class NullSocket extends Duplex {
  _read() {}
  _write(chunk, encoding, callback) {
    callback();
  }
}
const socket = new NullSocket();

function inject(app, spec) {
  return new Promise((resolve) => {
    const req = new IncomingMessage(socket);
    req.method = spec.method;
    req.url = spec.url;
    req.httpVersionMajor = 1;
    req.httpVersionMinor = 1;
    req.httpVersion = '1.1';
    req.headers = spec.headers;
    req.rawHeaders = spec.rawHeaders;
    req.complete = true;
    req.push(null);
    const res = new ServerResponse(req);
    res.assignSocket(socket);
    res.on('finish', () => {
      res.detachSocket(socket);
      resolve({ statusCode: res.statusCode, headers: res.getHeaders() });
    });
    app(req, res);
  });
}

async function round(dispatch, request) {
  const started = process.hrtime.bigint();
  for (let i = 0; i < PER_ROUND; i++) await inject(dispatch, request);
  return Number(process.hrtime.bigint() - started) / PER_ROUND / 1000;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

// --fresh: the middleware with nothing kept.
function keepingNothing(policy) {
  const decider = policy[_internal.kNative];
  const none = { get() {}, set() {}, size: 0 };
  decider.young = none;
  decider.old = none;
  return policy;
}

const COLUMNS = {
  bare: () => null,
  cors: (list) => cors(corsOptions(list)),
  corsguard: (list) => corsguard({ policy: corsguardPolicy(list) }),
  fresh: (list) => corsguard({ policy: keepingNothing(corsguardPolicy(list)) }),
};

// A child: one column's app, timing a round for each message.
async function child(column, n) {
  const a = app(COLUMNS[column](origins(n)));
  for (const [name, request] of Object.entries(REQUESTS)) {
    // Each app answers as it should before it is timed.
    const r = await inject(a, request);
    const acao = r.headers['access-control-allow-origin'];
    if (column !== 'bare' && acao !== ALLOWED) throw new Error(`${column} ${name}: ACAO ${acao}`);
    if (column !== 'bare' && name === 'allowed preflight' && r.statusCode !== 204) {
      throw new Error(`${column} ${name}: ${r.statusCode}`);
    }
    await round(a, request); // warm-up
  }
  process.on('message', async (name) => {
    if (name === 'done') process.exit(0);
    process.send(await round(a, REQUESTS[name]));
  });
  process.send('ready');
}

// A child process and its replies, in order. A child that dies fails the reply awaited then
// or the next one asked for, so the run stops instead of waiting forever.
function spawn(column, n) {
  const worker = fork(__filename, ['--child', column, String(n), String(PER_ROUND)]);
  const replies = [];
  let waiting = null;
  let failed = null;
  const settle = () => {
    if (!waiting || (!replies.length && !failed)) return;
    const { resolve, reject } = waiting;
    waiting = null;
    if (replies.length) resolve(replies.shift());
    else reject(failed);
  };
  worker.on('message', (m) => {
    replies.push(m);
    settle();
  });
  worker.on('exit', (code) => {
    if (code) failed = new Error(`the ${column} process exited with ${code}`);
    settle();
  });
  const next = () =>
    new Promise((resolve, reject) => {
      waiting = { resolve, reject };
      settle();
    });
  return { next, ask: (name) => (worker.send(name), next()), done: () => worker.send('done') };
}

async function main() {
  const columns = ['bare', 'cors', 'corsguard', ...(FRESH ? ['fresh'] : [])];
  const results = [];
  for (const n of [1, 10000]) {
    const workers = Object.fromEntries(columns.map((c) => [c, spawn(c, n)]));
    for (const w of Object.values(workers)) await w.next(); // ready
    for (const name of Object.keys(REQUESTS)) {
      const times = Object.fromEntries(columns.map((c) => [c, []]));
      for (let r = 0; r < ROUNDS; r++) {
        for (const c of columns) times[c].push(await workers[c].ask(name));
      }
      const bare = median(times.bare);
      results.push({ request: name, origins: n, bare, added: columns.slice(1).map((c) => median(times[c]) - bare) });
    }
    for (const w of Object.values(workers)) w.done();
  }
  console.log(`node ${process.version}, ${PER_ROUND} requests x ${ROUNDS} rounds, median round, µs per request`);
  console.log(`| request | origins | bare app | \`cors\` added | corsguard added |${FRESH ? ' nothing kept |' : ''}`);
  console.log(`|---|---:|---:|---:|---:|${FRESH ? '---:|' : ''}`);
  for (const r of results) {
    const cells = r.added.map((t) => ` ${t.toFixed(2)} |`).join('');
    console.log(`| ${r.request} | ${r.origins} | ${r.bare.toFixed(2)} |${cells}`);
  }
}

if (process.argv[2] === '--child') {
  child(process.argv[3], Number(process.argv[4])).catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}

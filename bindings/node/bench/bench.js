#!/usr/bin/env node
// What the middleware adds to an Express app, against the `cors` package configured with the
// same policy and against the bare app, in one process and one run: `npm run bench` (after
// `npm run build`, a release build). Each request is Node's own IncomingMessage and
// ServerResponse on an in-memory socket that discards what is written, so there is no network
// noise; that harness costs the same in every column, and added cost = middleware − bare.
//
// Usage: node bench/bench.js [requests per round] [rounds] [--parts]
//
// --parts adds two columns that take the middleware apart, to show where its cost is: `one
// call` is the native decision alone (one call into the addon, one header set, no hook), `no
// hook` is the decision with its headers set at once, without the writeHead hook that replaces
// the application's own CORS headers. Neither is a complete middleware.
'use strict';

const express = require('express');
const cors = require('cors');
const { IncomingMessage, ServerResponse } = require('node:http');
const { Duplex } = require('node:stream');
const { corsguard, Policy, _internal } = require('..');

const args = process.argv.slice(2).filter((a) => a !== '--parts');
const PARTS = process.argv.includes('--parts');
const PER_ROUND = Number(args[0] || 20000);
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

const REQUESTS = {
  'allowed GET': spec('GET', '/api/items', [['Host', 'api.example.com'], ['Origin', ALLOWED]]),
  'allowed preflight': spec('OPTIONS', '/api/items', [
    ['Host', 'api.example.com'],
    ['Origin', ALLOWED],
    ['Access-Control-Request-Method', 'PUT'],
    ['Access-Control-Request-Headers', 'content-type, authorization'],
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

// The addon's policy object behind a Policy.
function nativeOf(policy) {
  return policy[Object.getOwnPropertySymbols(policy)[0]];
}

// --parts: the native decision alone.
function oneCall(policy) {
  const native = nativeOf(policy);
  return (req, res, next) => {
    native.handle(req.method, req.originalUrl || req.url, req.rawHeaders.join('\n'));
    res.setHeader('access-control-allow-origin', ALLOWED);
    next();
  };
}

// --parts: the decision and its headers, without the writeHead hook.
function noHook(policy) {
  const native = nativeOf(policy);
  return (req, res, next) => {
    const answer = native.handle(req.method, req.originalUrl || req.url, req.rawHeaders.join('\n'));
    if (typeof answer !== 'string') {
      res.statusCode = answer.status;
      res.end(answer.body);
      return;
    }
    _internal.rewrite(answer, (name) => res.removeHeader(name), (name, value) => res.setHeader(name, value));
    next();
  };
}

async function main() {
  const results = [];
  for (const n of [1, 10000]) {
    const list = origins(n);
    const apps = {
      bare: app(null),
      cors: app(cors(corsOptions(list))),
      corsguard: app(corsguard({ policy: corsguardPolicy(list) })),
    };
    const parts = PARTS ? { 'one call': app(oneCall(corsguardPolicy(list))), 'no hook': app(noHook(corsguardPolicy(list))) } : {};
    for (const [name, request] of Object.entries(REQUESTS)) {
      // Each app answers as it should before it is timed.
      for (const [which, a] of Object.entries(apps)) {
        const r = await inject(a, request);
        const acao = r.headers['access-control-allow-origin'];
        if (which !== 'bare' && acao !== ALLOWED) throw new Error(`${which} ${name}: ACAO ${acao}`);
        if (which !== 'bare' && name === 'allowed preflight' && r.statusCode !== 204) {
          throw new Error(`${which} ${name}: ${r.statusCode}`);
        }
      }
      const timed = { ...apps, ...parts };
      const times = Object.fromEntries(Object.keys(timed).map((which) => [which, []]));
      for (const a of Object.values(timed)) await round(a, request); // warm-up
      // Interleaved rounds: a slow patch of the machine falls on every column alike.
      for (let r = 0; r < ROUNDS; r++) {
        for (const which of Object.keys(timed)) times[which].push(await round(timed[which], request));
      }
      const bare = median(times.bare);
      results.push({
        request: name,
        origins: n,
        bare,
        cors: median(times.cors) - bare,
        corsguard: median(times.corsguard) - bare,
        parts: Object.keys(parts).map((which) => median(times[which]) - bare),
      });
    }
  }
  console.log(`node ${process.version}, ${PER_ROUND} requests x ${ROUNDS} rounds, median round, µs per request`);
  const extra = PARTS ? ' one call | no hook |' : '';
  console.log(`| request | origins | bare app | \`cors\` added | corsguard added |${extra}`);
  console.log(`|---|---:|---:|---:|---:|${PARTS ? '---:|---:|' : ''}`);
  for (const r of results) {
    const cells = r.parts.map((p) => ` ${p.toFixed(2)} |`).join('');
    console.log(`| ${r.request} | ${r.origins} | ${r.bare.toFixed(2)} | ${r.cors.toFixed(2)} | ${r.corsguard.toFixed(2)} |${cells}`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

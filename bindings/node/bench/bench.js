#!/usr/bin/env node
// What the middleware adds to an Express app, against the `cors` package configured with the
// same policy and against the bare app, in one process and one run: `npm run bench` (after
// `npm run build`, a release build). Each request is Node's own IncomingMessage and
// ServerResponse on an in-memory socket that discards what is written, so there is no network
// noise; that harness costs the same in every column, and added cost = middleware − bare.
//
// Usage: node bench/bench.js [requests per round] [rounds]
'use strict';

const express = require('express');
const cors = require('cors');
const { IncomingMessage, ServerResponse } = require('node:http');
const { Duplex } = require('node:stream');
const { corsguard, Policy } = require('..');

const PER_ROUND = Number(process.argv[2] || 20000);
const ROUNDS = Number(process.argv[3] || 7);
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

async function main() {
  const results = [];
  for (const n of [1, 10000]) {
    const list = origins(n);
    const apps = {
      bare: app(null),
      cors: app(cors(corsOptions(list))),
      corsguard: app(corsguard({ policy: corsguardPolicy(list) })),
    };
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
      const times = { bare: [], cors: [], corsguard: [] };
      await round(apps.bare, request); // warm-up
      await round(apps.cors, request);
      await round(apps.corsguard, request);
      // Interleaved rounds: a slow patch of the machine falls on every column alike.
      for (let r = 0; r < ROUNDS; r++) {
        for (const which of Object.keys(apps)) times[which].push(await round(apps[which], request));
      }
      const bare = median(times.bare);
      results.push({
        request: name,
        origins: n,
        bare,
        cors: median(times.cors) - bare,
        corsguard: median(times.corsguard) - bare,
      });
    }
  }
  console.log(`node ${process.version}, ${PER_ROUND} requests x ${ROUNDS} rounds, median round, µs per request`);
  console.log('| request | origins | bare app | `cors` added | corsguard added |');
  console.log('|---|---:|---:|---:|---:|');
  for (const r of results) {
    console.log(`| ${r.request} | ${r.origins} | ${r.bare.toFixed(2)} | ${r.cors.toFixed(2)} | ${r.corsguard.toFixed(2)} |`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

// The conformance table (crates/test-support/data/conformance.toml), the one the engine, the
// tower layer and the gateway run, through the package's three paths: `policy.decide`, the
// middleware in a real Express server and the Fastify plugin, over loopback.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const express = require('express');
const Fastify = require('fastify');
const { corsguard, Policy } = require('..');
const corsguardFastify = require('../fastify');
const { conformanceTable, corsHeaders, send } = require('./support.js');

const table = conformanceTable();
const byName = ([a], [b]) => (a < b ? -1 : a > b ? 1 : 0);

test('the table through policy.decide', () => {
  const failures = [];
  for (const c of table.cases) {
    const policy = Policy.fromToml(table.policies[c.policy]);
    const got = policy.decide({ method: c.method, url: c.path, headers: c.headers || [] });
    const want = {
      kind: c.kind,
      allowed: c.allowed,
      forwarded: c.forwarded,
      status: c.status ?? null,
      reason: c.reason,
      // An object's keys have no order that JSON keeps: compared as a sorted list.
      headers: [...(c.expect || [])].sort(byName),
    };
    const gotFlat = { ...got, headers: Object.entries(got.headers).sort(byName) };
    try {
      assert.deepStrictEqual(gotFlat, want);
    } catch {
      failures.push(`${c.name}\n   got: ${JSON.stringify(gotFlat)}\n  want: ${JSON.stringify(want)}`);
    }
  }
  assert.equal(failures.length, 0, `${failures.length} case(s) failed:\n${failures.join('\n')}`);
  assert.ok(table.cases.length >= 40, 'the whole table ran');
});

// One server per policy; `hits` counts the requests that reached the application.
async function expressServers() {
  const servers = {};
  for (const [name, text] of Object.entries(table.policies)) {
    const app = express();
    const state = { hits: 0, last: null };
    app.use(corsguard({ policy: Policy.fromToml(text) }));
    app.use((req, res) => {
      state.hits += 1;
      state.last = req.originalUrl;
      res.type('text/plain').send('ok');
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    servers[name] = { state, port: server.address().port, close: () => server.close() };
  }
  return servers;
}

async function fastifyServers() {
  const servers = {};
  for (const [name, text] of Object.entries(table.policies)) {
    const app = Fastify();
    const state = { hits: 0, last: null };
    await app.register(corsguardFastify, { policy: Policy.fromToml(text) });
    app.all('/*', async (request, reply) => {
      state.hits += 1;
      state.last = request.url;
      reply.type('text/plain');
      return 'ok';
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    servers[name] = { state, port: app.server.address().port, close: () => app.close() };
  }
  return servers;
}

async function runTable(servers) {
  const failures = [];
  for (const c of table.cases) {
    const server = servers[c.policy];
    const before = server.state.hits;
    const reply = await send(server.port, c.method, c.path, c.headers || []);
    const forwarded = server.state.hits === before + 1;
    const got = { forwarded, status: forwarded ? null : reply.status, headers: corsHeaders(reply.headers) };
    const want = { forwarded: c.forwarded, status: c.status ?? null, headers: c.expect || [] };
    try {
      assert.deepStrictEqual(got, want);
      // What the application answered reaches the client, with the policy's headers only.
      if (forwarded) {
        assert.equal(reply.status, 200);
        assert.equal(reply.body, 'ok');
        assert.equal(server.state.last, c.path);
      }
    } catch (e) {
      failures.push(`${c.name}\n   got: ${JSON.stringify(got)} ${reply.status} ${JSON.stringify(reply.body)}\n  want: ${JSON.stringify(want)}`);
    }
  }
  assert.equal(failures.length, 0, `${failures.length} case(s) failed:\n${failures.join('\n')}`);
}

// Twice through the same servers: the second time every verdict is one the middleware kept.
test('the table through the Express middleware on loopback', async () => {
  const servers = await expressServers();
  try {
    await runTable(servers);
    await runTable(servers);
  } finally {
    for (const s of Object.values(servers)) s.close();
  }
});

test('the table through the Fastify plugin on loopback', async () => {
  const servers = await fastifyServers();
  try {
    await runTable(servers);
    await runTable(servers);
  } finally {
    for (const s of Object.values(servers)) await s.close();
  }
});

// The middleware and the Fastify plugin against applications that set CORS headers of their
// own, throw, write their heads themselves, or never get called.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const express = require('express');
const Fastify = require('fastify');
const { corsguard, Policy } = require('..');
const corsguardFastify = require('../fastify');
const { send, listen, corsHeaders } = require('./support.js');

const POLICY = `
[profiles.production]
origins = ["https://app.example.com"]
methods = ["GET", "POST", "PUT"]
allow_headers = ["Content-Type", "Authorization"]
expose_headers = ["X-Request-Id"]
credentials = true
`;
const APP = 'https://app.example.com';
const EVIL = 'https://evil.example.net';

function all(headers, name) {
  return headers.filter(([n]) => n === name).map(([, v]) => v);
}

// Routes an application might have, the same in Express and Fastify; `hits` records who ran.
function expressApp(hits) {
  const app = express();
  app.use(corsguard({ policy: Policy.fromToml(POLICY) }));
  app.get('/star', (req, res) => {
    hits.push('star');
    res.set('Access-Control-Allow-Origin', '*').set('Access-Control-Allow-Methods', 'DELETE').send('star');
  });
  app.get('/vary', (req, res) => {
    hits.push('vary');
    res.set('Vary', 'Accept-Encoding').send('vary');
  });
  app.get('/throw', () => {
    hits.push('throw');
    throw new Error('boom');
  });
  app.get('/write-head', (req, res) => {
    hits.push('write-head');
    res.writeHead(201, { 'Access-Control-Allow-Origin': '*', 'X-Own': 'yes' });
    res.end('created');
  });
  app.get('/write-head-array', (req, res) => {
    hits.push('write-head-array');
    res.writeHead(202, 'Fine', ['Access-Control-Allow-Origin', '*', 'Vary', 'Cookie']);
    res.end('accepted');
  });
  app.post('/submit', (req, res) => {
    hits.push('submit');
    res.send('submitted');
  });
  app.put('/item', (req, res) => {
    hits.push('item');
    res.send('put');
  });
  return app;
}

function expressWithErrorHandler(hits) {
  const app = expressApp(hits);
  // An error handler that answers 500 itself after clearing every header (as many do).
  app.use((err, req, res, next) => {
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    res.status(500).json({ error: err.message });
  });
  return app;
}

async function fastifyApp(hits) {
  const app = Fastify();
  await app.register(corsguardFastify, { policy: Policy.fromToml(POLICY) });
  app.get('/star', async (request, reply) => {
    hits.push('star');
    reply.header('Access-Control-Allow-Origin', '*').header('Access-Control-Allow-Methods', 'DELETE');
    return 'star';
  });
  app.get('/vary', async (request, reply) => {
    hits.push('vary');
    reply.header('Vary', 'Accept-Encoding');
    return 'vary';
  });
  app.get('/throw', async () => {
    hits.push('throw');
    throw new Error('boom');
  });
  app.get('/raw-header', async (request, reply) => {
    hits.push('raw-header');
    reply.raw.setHeader('Access-Control-Allow-Origin', '*');
    return 'raw';
  });
  app.post('/submit', async () => {
    hits.push('submit');
    return 'submitted';
  });
  app.put('/item', async () => {
    hits.push('item');
    return 'put';
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { port: app.server.address().port, close: () => app.close() };
}

async function expressServer(makeApp) {
  const hits = [];
  const server = http.createServer(makeApp(hits));
  const port = await listen(server);
  return { hits, port, close: () => server.close() };
}

async function fastifyServer() {
  const hits = [];
  const { port, close } = await fastifyApp(hits);
  return { hits, port, close };
}

for (const [framework, start] of [
  ['Express', () => expressServer(expressApp)],
  ['Fastify', fastifyServer],
]) {
  test(`${framework}: an allowed origin gets exactly one ACAO even when the route sets *`, async () => {
    const s = await start();
    try {
      const r = await send(s.port, 'GET', '/star', [['Origin', APP]]);
      assert.equal(r.status, 200);
      assert.deepEqual(all(r.headers, 'access-control-allow-origin'), [APP]);
      assert.deepEqual(all(r.headers, 'access-control-allow-credentials'), ['true']);
      assert.deepEqual(all(r.headers, 'access-control-allow-methods'), [], "the route's own ACAM is gone");
      assert.equal(r.body, 'star');
      const foreign = await send(s.port, 'GET', '/star', [['Origin', EVIL]]);
      assert.equal(foreign.status, 200);
      assert.deepEqual(corsHeaders(foreign.headers), [['vary', 'Origin']], 'a foreign page gets no ACAO at all');
    } finally {
      await s.close();
    }
  });

  test(`${framework}: the application's Vary is kept and Origin merged in`, async () => {
    const s = await start();
    try {
      const r = await send(s.port, 'GET', '/vary', [['Origin', APP]]);
      const vary = all(r.headers, 'vary').join(', ').split(/\s*,\s*/);
      assert.deepEqual(vary, ['Accept-Encoding', 'Origin']);
    } finally {
      await s.close();
    }
  });

  test(`${framework}: a thrown error's 500 still carries the CORS headers`, async () => {
    const s = await start();
    try {
      const r = await send(s.port, 'GET', '/throw', [['Origin', APP]]);
      assert.equal(r.status, 500);
      assert.deepEqual(all(r.headers, 'access-control-allow-origin'), [APP]);
      assert.deepEqual(all(r.headers, 'access-control-allow-credentials'), ['true']);
      assert.deepEqual(s.hits, ['throw']);
    } finally {
      await s.close();
    }
  });

  test(`${framework}: preflights are answered without calling the application`, async () => {
    const s = await start();
    try {
      const ok = await send(s.port, 'OPTIONS', '/item', [
        ['Origin', APP],
        ['Access-Control-Request-Method', 'PUT'],
        ['Access-Control-Request-Headers', 'authorization'],
      ]);
      assert.equal(ok.status, 204);
      assert.deepEqual(all(ok.headers, 'access-control-allow-origin'), [APP]);
      assert.deepEqual(all(ok.headers, 'access-control-allow-methods'), ['GET, POST, PUT']);
      const refused = await send(s.port, 'OPTIONS', '/item', [
        ['Origin', APP],
        ['Access-Control-Request-Method', 'DELETE'],
      ]);
      assert.equal(refused.status, 403);
      assert.deepEqual(all(refused.headers, 'access-control-allow-origin'), []);
      // A 404 route is answered too: the preflight never reaches routing.
      const unrouted = await send(s.port, 'OPTIONS', '/nowhere', [
        ['Origin', APP],
        ['Access-Control-Request-Method', 'GET'],
      ]);
      assert.equal(unrouted.status, 204);
      assert.deepEqual(s.hits, []);
    } finally {
      await s.close();
    }
  });

  test(`${framework}: a cross-origin unsafe request from an untrusted origin never reaches the route`, async () => {
    const s = await start();
    try {
      const r = await send(s.port, 'POST', '/submit', [['Origin', EVIL], ['Content-Type', 'text/plain']], 'x=1');
      assert.equal(r.status, 403);
      assert.equal(r.body, 'cross-origin request refused\n');
      const trusted = await send(s.port, 'POST', '/submit', [['Origin', APP], ['Content-Type', 'text/plain']], 'x=1');
      assert.equal(trusted.status, 200);
      assert.deepEqual(s.hits, ['submit']);
    } finally {
      await s.close();
    }
  });
}

test('Express: an error handler that clears the headers still answers an allowed page readably', async () => {
  const s = await expressServer(expressWithErrorHandler);
  try {
    const r = await send(s.port, 'GET', '/throw', [['Origin', APP]]);
    assert.equal(r.status, 500);
    assert.deepEqual(JSON.parse(r.body), { error: 'boom' });
    assert.deepEqual(all(r.headers, 'access-control-allow-origin'), [APP]);
    assert.deepEqual(all(r.headers, 'vary'), ['Origin']);
  } finally {
    s.close();
  }
});

test('Express: headers passed to writeHead (object or flat list) are replaced too', async () => {
  const s = await expressServer(expressApp);
  try {
    const r = await send(s.port, 'GET', '/write-head', [['Origin', APP]]);
    assert.equal(r.status, 201);
    assert.deepEqual(all(r.headers, 'access-control-allow-origin'), [APP]);
    assert.deepEqual(all(r.headers, 'x-own'), ['yes']);
    const list = await send(s.port, 'GET', '/write-head-array', [['Origin', APP]]);
    assert.equal(list.status, 202);
    assert.deepEqual(all(list.headers, 'access-control-allow-origin'), [APP]);
    assert.deepEqual(all(list.headers, 'vary').join(', ').split(/\s*,\s*/), ['Cookie', 'Origin']);
  } finally {
    s.close();
  }
});

test('Fastify: a header set on the raw response is replaced too', async () => {
  const s = await fastifyServer();
  try {
    const r = await send(s.port, 'GET', '/raw-header', [['Origin', EVIL]]);
    assert.equal(r.status, 200);
    assert.deepEqual(all(r.headers, 'access-control-allow-origin'), []);
  } finally {
    await s.close();
  }
});

test('plain node:http: the middleware in front of a handler', async () => {
  const cors = corsguard({ policy: Policy.fromToml(POLICY) });
  let calls = 0;
  const server = http.createServer((req, res) =>
    cors(req, res, () => {
      calls += 1;
      res.setHeader('Access-Control-Allow-Origin', '*');
      res.end('plain');
    }),
  );
  const port = await listen(server);
  try {
    const r = await send(port, 'GET', '/', [['Origin', APP]]);
    assert.equal(r.body, 'plain');
    assert.deepEqual(all(r.headers, 'access-control-allow-origin'), [APP]);
    const pre = await send(port, 'OPTIONS', '/', [['Origin', APP], ['Access-Control-Request-Method', 'POST']]);
    assert.equal(pre.status, 204);
    assert.equal(calls, 1);
  } finally {
    server.close();
  }
});

// As `on-headers` (under `compression`, `morgan`, `response-time`) does: a wrapper on the
// response's own writeHead that adds headers just before the head is written.
function addingAtWriteHead(headers) {
  return (req, res, next) => {
    const writeHead = res.writeHead;
    res.writeHead = function (...args) {
      for (const [name, value] of headers) res.setHeader(name, value);
      return writeHead.apply(this, args);
    };
    next();
  };
}

test('Express: headers added by writeHead wrappers of middleware before or after corsguard are seen by the engine', async () => {
  const app = express();
  app.use(addingAtWriteHead([['Access-Control-Allow-Origin', '*'], ['Vary', 'Accept-Encoding']]));
  app.use(corsguard({ policy: Policy.fromToml(POLICY) }));
  app.use(addingAtWriteHead([['Access-Control-Allow-Methods', 'DELETE'], ['X-Later', 'yes']]));
  app.get('/', (req, res) => res.send('wrapped'));
  const server = http.createServer(app);
  const port = await listen(server);
  try {
    for (const [origin, acao] of [[APP, [APP]], [EVIL, []]]) {
      const r = await send(port, 'GET', '/', [['Origin', origin]]);
      assert.equal(r.body, 'wrapped');
      assert.deepEqual(all(r.headers, 'access-control-allow-origin'), acao, origin);
      assert.deepEqual(all(r.headers, 'access-control-allow-methods'), [], origin);
      assert.deepEqual(all(r.headers, 'vary').join(', ').split(/\s*,\s*/).sort(), ['Accept-Encoding', 'Origin'], origin);
      assert.deepEqual(all(r.headers, 'x-later'), ['yes']);
    }
    // corsguard's own answers too.
    for (const [origin, status, acao] of [[APP, 204, [APP]], [EVIL, 403, []]]) {
      const r = await send(port, 'OPTIONS', '/', [['Origin', origin], ['Access-Control-Request-Method', 'PUT']]);
      assert.equal(r.status, status, origin);
      assert.deepEqual(all(r.headers, 'access-control-allow-origin'), acao, origin);
      assert.deepEqual(all(r.headers, 'vary').join(', ').split(/\s*,\s*/).sort(), [
        'Accept-Encoding',
        'Access-Control-Request-Headers',
        'Access-Control-Request-Method',
        'Origin',
      ]);
    }
  } finally {
    server.close();
  }
});

test('HTTP/2 (node:http2 compatibility API): the middleware in front of a handler', async () => {
  const http2 = require('node:http2');
  const cors = corsguard({ policy: Policy.fromToml(POLICY) });
  let calls = 0;
  const server = http2.createServer((req, res) =>
    cors(req, res, () => {
      calls += 1;
      res.setHeader('Access-Control-Allow-Origin', '*');
      res.end('h2');
    }),
  );
  const sessions = new Set();
  server.on('session', (session) => sessions.add(session));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = http2.connect(`http://127.0.0.1:${server.address().port}`);
  const request = (headers) =>
    new Promise((resolve, reject) => {
      const stream = client.request(headers);
      let response;
      let body = '';
      stream.on('response', (h) => (response = h));
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => (body += chunk));
      stream.on('end', () => resolve({ headers: response, body }));
      stream.on('error', reject);
    });
  try {
    const r = await request({ ':path': '/items', origin: APP });
    assert.equal(r.headers[':status'], 200);
    assert.equal(r.body, 'h2');
    assert.equal(r.headers['access-control-allow-origin'], APP);
    const foreign = await request({ ':path': '/items', origin: EVIL });
    assert.equal(foreign.headers['access-control-allow-origin'], undefined);
    const pre = await request({ ':method': 'OPTIONS', ':path': '/items', origin: APP, 'access-control-request-method': 'PUT' });
    assert.equal(pre.headers[':status'], 204);
    assert.equal(pre.headers['access-control-allow-origin'], APP);
    const refused = await request({ ':method': 'POST', ':path': '/items', origin: EVIL, 'sec-fetch-site': 'cross-site' });
    assert.equal(refused.headers[':status'], 403);
    assert.equal(calls, 2, 'the preflight and the refusal never reached the handler');
  } finally {
    client.destroy();
    for (const session of sessions) session.destroy();
    server.close();
  }
});

test('Express mounted under a path: routes are matched on the full path', async () => {
  const policy = Policy.fromToml(`
[profiles.production]
origins = ["https://app.example.com"]

[[routes]]
path = "/api/public/"
origins = ["*"]
credentials = false
`);
  const app = express();
  const api = express.Router();
  api.use(corsguard({ policy }));
  api.get('/public/x', (req, res) => res.send('x'));
  app.use('/api', api);
  const server = http.createServer(app);
  const port = await listen(server);
  try {
    const r = await send(port, 'GET', '/api/public/x', [['Origin', EVIL]]);
    assert.deepEqual(all(r.headers, 'access-control-allow-origin'), ['*']);
  } finally {
    server.close();
  }
});

test('WebSocket handshakes: checkUpgrade refuses a foreign origin and lets an allowed one through', async () => {
  const cors = corsguard({ policy: Policy.fromToml(POLICY) });
  const upgraded = [];
  const server = http.createServer((req, res) => res.end());
  server.on('upgrade', (req, socket) => {
    if (!cors.checkUpgrade(req, socket)) return;
    upgraded.push(req.headers.origin);
    socket.end('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n');
  });
  const port = await listen(server);
  const handshake = (origin) =>
    send(port, 'GET', '/ws', [
      ['Origin', origin],
      ['Upgrade', 'websocket'],
      ['Connection', 'Upgrade'],
      ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='],
      ['Sec-WebSocket-Version', '13'],
    ]);
  try {
    const refused = await handshake(EVIL);
    assert.equal(refused.status, 403);
    const allowed = await handshake(APP);
    assert.equal(allowed.status, 101);
    assert.deepEqual(upgraded, [APP]);
  } finally {
    server.close();
  }
});

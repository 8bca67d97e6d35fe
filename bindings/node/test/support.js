// What the suites share: the conformance table, a raw HTTP/1.1 client (headers sent exactly
// as a case lists them, repeats and Host included), servers on loopback, the corsguard binary.
'use strict';

const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { parse } = require('smol-toml');

const repo = path.resolve(__dirname, '../../..');

/** crates/test-support/data/conformance.toml, the table every adapter runs. */
function conformanceTable() {
  const file = path.join(repo, 'crates/test-support/data/conformance.toml');
  return parse(fs.readFileSync(file, 'utf8'));
}

/** The CORS, Vary and corsguard-reason headers of a response, in order, as the table lists them. */
function corsHeaders(pairs) {
  return pairs.filter(([n]) => n.startsWith('access-control-') || n === 'vary' || n === 'corsguard-reason');
}

/**
 * Sends one request over a fresh connection and reads the response: `{status, headers:
 * [[lowercase name, value]...], body}`. `headers` are `[name, value]` pairs, sent as given; a
 * Host is added only when they have none.
 */
function send(port, method, target, headers = [], body = '') {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let head = `${method} ${target} HTTP/1.1\r\n`;
    if (!headers.some(([n]) => n.toLowerCase() === 'host')) head += `host: 127.0.0.1:${port}\r\n`;
    for (const [n, v] of headers) head += `${n}: ${v}\r\n`;
    if (body) head += `content-length: ${Buffer.byteLength(body)}\r\n`;
    socket.write(`${head}\r\n${body}`, 'latin1');
    let data = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete response to ${method} ${target}`));
    }, 5000);
    const finish = (response) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(response);
    };
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      const response = parseResponse(data, method);
      if (response) finish(response);
    });
    socket.on('end', () => {
      const response = parseResponse(data, method, true);
      if (response) finish(response);
      else {
        clearTimeout(timer);
        reject(new Error(`connection closed mid-response: ${JSON.stringify(data.toString('latin1'))}`));
      }
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

function parseResponse(data, method, ended = false) {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const lines = data.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(lines[0].split(' ')[1]);
  const headers = lines.slice(1).map((line) => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
  });
  const rest = data.subarray(end + 4);
  const get = (name) => headers.find(([n]) => n === name)?.[1];
  if (method === 'HEAD' || status === 204 || status === 304) return { status, headers, body: '' };
  if (get('content-length') !== undefined) {
    const length = Number(get('content-length'));
    if (rest.length < length) return null;
    return { status, headers, body: rest.subarray(0, length).toString('utf8') };
  }
  if (get('transfer-encoding') === 'chunked') {
    let body = '';
    let at = 0;
    for (;;) {
      const line = rest.indexOf('\r\n', at);
      if (line < 0) return null;
      const size = parseInt(rest.subarray(at, line).toString('latin1'), 16);
      if (size === 0) return rest.length >= line + 4 ? { status, headers, body } : null;
      if (rest.length < line + 2 + size + 2) return null;
      body += rest.subarray(line + 2, line + 2 + size).toString('utf8');
      at = line + 2 + size + 2;
    }
  }
  return ended ? { status, headers, body: rest.toString('utf8') } : null;
}

/** Listens on a free loopback port; resolves to the port. */
function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

/** A file in a fresh temporary directory. */
function tempFile(name, text) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corsguard-node-'));
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

/**
 * The corsguard binary the workspace built (scripts/test builds it before these suites):
 * CORSGUARD_BIN, else target/debug/corsguard under CARGO_TARGET_DIR or the repository.
 */
function corsguardBin() {
  if (process.env.CORSGUARD_BIN) return process.env.CORSGUARD_BIN;
  const target = process.env.CARGO_TARGET_DIR || path.join(repo, 'target');
  const bin = path.join(target, 'debug', process.platform === 'win32' ? 'corsguard.exe' : 'corsguard');
  if (!fs.existsSync(bin)) throw new Error(`${bin} is missing: run \`cargo build -p corsguard-cli\` first`);
  return bin;
}

/** Runs the corsguard binary; returns its stdout whatever its exit code. */
function runCli(args) {
  try {
    return execFileSync(corsguardBin(), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    if (typeof e.status === 'number') return e.stdout;
    throw e;
  }
}

module.exports = { conformanceTable, corsHeaders, send, listen, tempFile, runCli, repo };

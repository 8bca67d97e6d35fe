#!/usr/bin/env node
// Builds the native addon from source: `cargo build -p corsguard-node`, then copies the
// cdylib to the name napi-rs packages use (`corsguard.<platform>-<arch>[-<abi>].node`), where
// native.js looks for it. `--debug` builds without optimisations (for the test suite).
'use strict';

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { platformTriple } = require('../native.js');

const debug = process.argv.includes('--debug');
const here = path.resolve(__dirname, '..');
const cargo = process.env.CARGO || 'cargo';

const args = ['build', '-p', 'corsguard-node', '--lib', '--message-format=json-render-diagnostics'];
if (!debug) args.push('--release');
const output = execFileSync(cargo, args, {
  cwd: here,
  encoding: 'utf8',
  stdio: ['ignore', 'pipe', 'inherit'],
  maxBuffer: 64 * 1024 * 1024,
});

// Cargo says where it put the library; asking it spares guessing the target directory,
// CARGO_TARGET_DIR and the platform's file name (libcorsguard_node.so, .dylib, .dll).
let built;
for (const line of output.split('\n')) {
  if (!line.startsWith('{')) continue;
  const message = JSON.parse(line);
  if (message.reason === 'compiler-artifact' && message.target.name === 'corsguard_node') {
    built = message.filenames.find((f) => /\.(so|dylib|dll)$/.test(f));
  }
}
if (!built) {
  console.error('cargo did not report the corsguard_node library');
  process.exit(1);
}
const dest = path.join(here, `corsguard.${platformTriple()}.node`);
// Copied to a temporary name and renamed: a running process that loaded the old file keeps
// its mapping instead of seeing it change under it.
fs.copyFileSync(built, `${dest}.tmp`);
fs.renameSync(`${dest}.tmp`, dest);
console.log(`built ${path.relative(process.cwd(), dest)} (${debug ? 'debug' : 'release'})`);

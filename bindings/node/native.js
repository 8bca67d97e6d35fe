// Finds and loads the native addon, by napi-rs's conventions: `corsguard.<triple>.node` beside
// this file (what `npm run build` writes), else the per-platform package `corsguard-<triple>`
// (how prebuilt binaries would be published: see README.md, "Publishing prebuilt binaries").
'use strict';

const path = require('node:path');
const fs = require('node:fs');

/** `linux-x64-gnu`, `linux-arm64-musl`, `darwin-arm64`, `win32-x64-msvc`, ... */
function platformTriple(platform = process.platform, arch = process.arch) {
  if (platform === 'linux') return `${platform}-${arch}-${isMusl() ? 'musl' : 'gnu'}`;
  if (platform === 'win32') return `${platform}-${arch}-msvc`;
  return `${platform}-${arch}`;
}

function isMusl() {
  // glibc reports its version in the process report; musl has none.
  const report = process.report && process.report.getReport && process.report.getReport();
  const header = report && (typeof report === 'string' ? JSON.parse(report) : report).header;
  return !(header && header.glibcVersionRuntime);
}

let loaded;

function load() {
  if (loaded) return loaded;
  const triple = platformTriple();
  const local = path.join(__dirname, `corsguard.${triple}.node`);
  if (fs.existsSync(local)) {
    loaded = require(local);
    return loaded;
  }
  try {
    loaded = require(`corsguard-${triple}`);
    return loaded;
  } catch (e) {
    if (e.code !== 'MODULE_NOT_FOUND') throw e;
  }
  throw new Error(
    `corsguard: no native addon for ${triple}: neither ${path.basename(local)} in ${__dirname} ` +
      `nor the package corsguard-${triple} is installed. Build it from source with ` +
      '`npm run build` in the corsguard package (needs Rust and cargo).',
  );
}

module.exports = { load, platformTriple };

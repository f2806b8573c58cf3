#!/usr/bin/env node
// A `solc`-compatible command line over solc-js (npm `solc`, wasm, works offline), for tools that
// expect a native solc binary: Forge (`solc = ...` in foundry.toml), py-solc-x and contracts/build.py.
//
//   solc.js --version                 prints what native solc prints (platform shown as Linux.g++)
//   solc.js --standard-json [opts]    reads Standard JSON on stdin, prints only the output JSON
//
// Accepted and honoured for import resolution: --base-path DIR, --include-path DIR (repeatable);
// --allow-paths is accepted and ignored (every resolved file must lie under one of the roots
// anyway). Imports resolve against, in order: the base path, each include path, node_modules of
// the repository; relative imports are normalised by the compiler before the callback sees them.
'use strict';

const fs = require('fs');
const path = require('path');

const REPO = path.resolve(__dirname, '..', '..');
const solc = require(path.join(REPO, 'node_modules', 'solc'));

function nativeVersion() {
  // solc-js reports e.g. 0.8.37+commit.f401782d.Emscripten.clang; the native Linux build of
  // the same commit reports the same version with its own platform suffix.
  return solc.version().replace(/\.Emscripten\.clang$/, '.Linux.g++');
}

function parseArgs(argv) {
  const opts = { version: false, standardJson: false, roots: [] };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? arg.split(/=(.*)/s) : [arg];
    const value = () => (inline !== undefined ? inline : argv[++i]);
    if (flag === '--version') opts.version = true;
    else if (flag === '--standard-json') opts.standardJson = true;
    else if (flag === '--base-path' || flag === '--include-path') opts.roots.push(value());
    else if (flag === '--allow-paths') value();
    else if (flag === '-' || flag === '--no-color' || flag === '--pretty-json') continue;
    else {
      process.stderr.write(`solc.js: unsupported argument ${arg}\n`);
      process.exit(2);
    }
  }
  return opts;
}

function makeImportCallback(roots) {
  const bases = [...roots.map((r) => path.resolve(r)), process.cwd(), REPO,
    path.join(REPO, 'node_modules')];
  return (importPath) => {
    const candidates = path.isAbsolute(importPath)
      ? [importPath]
      : bases.map((base) => path.join(base, importPath));
    for (const candidate of candidates) {
      if (fs.existsSync(candidate) && fs.statSync(candidate).isFile()) {
        return { contents: fs.readFileSync(candidate, 'utf8') };
      }
    }
    return { error: `File not found: ${importPath}` };
  };
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.version) {
    process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${nativeVersion()}\n`);
    return;
  }
  if (!opts.standardJson) {
    process.stderr.write('solc.js: only --version and --standard-json are supported\n');
    process.exit(2);
  }
  const input = fs.readFileSync(0, 'utf8');
  const output = solc.compile(input, { import: makeImportCallback(opts.roots) });
  process.stdout.write(output);
  process.stdout.write('\n');
}

main();

'use strict';
/**
 * The default web process of a Node.js app, printed on stdout (nothing when there is none).
 *
 * `npm start` when package.json has a start script (Heroku's and Cloud Foundry's default);
 * otherwise what `npm start` itself falls back to, `node server.js`; otherwise the file that
 * package.json's `main` names, or index.js, when it is there. Used by bin/release and
 * bin/finalize.
 *
 * Usage: node start_command.js BUILD_DIR
 */

const fs = require('fs');
const path = require('path');

const SAFE_PATH = /^[A-Za-z0-9_@][A-Za-z0-9_@.\/-]*$/;

function startCommand(buildDir) {
  const pkg = JSON.parse(fs.readFileSync(path.join(buildDir, 'package.json'), 'utf8'));
  if (pkg && pkg.scripts && pkg.scripts.start) {
    return 'npm start';
  }
  const main = pkg && typeof pkg.main === 'string' ? path.posix.normalize(pkg.main) : '';
  const candidates = ['server.js', main, 'index.js'];
  const found = candidates.find(
    (file) => SAFE_PATH.test(file) && !file.startsWith('..') && isFile(path.join(buildDir, file)),
  );
  return found ? `node ${found}` : '';
}

function isFile(file) {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

process.stdout.write(startCommand(process.argv[2]));

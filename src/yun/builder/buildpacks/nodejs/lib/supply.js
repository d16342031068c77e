'use strict';
/**
 * Yun nodejs buildpack, supply: node_modules in the app, built by the app's own package manager.
 *
 * Usage: supply BUILD_DIR CACHE_DIR DEPS_DIR INDEX (bin/supply checks node and npm, then runs this)
 *
 * What Heroku's and Cloud Foundry's Node.js buildpacks do, on the stack's Node.js:
 * 1. the package manager and its version from the lockfile and `packageManager`
 *    (package_managers.js), pnpm and Yarn through corepack or from the npm registry (tools.js);
 * 2. a frozen install from the lockfile (`npm ci`, `pnpm install --frozen-lockfile`,
 *    `yarn install --frozen-lockfile` or `--immutable`) with NODE_ENV=production unless the app
 *    sets it, so dev dependencies come only when there is a `build` script (Yarn 2+ installs
 *    them always);
 * 3. `build` run when package.json has one, then dev dependencies pruned (`npm prune --omit=dev`,
 *    `pnpm prune --prod`, Yarn 1 installs again for production, Yarn 2+ `workspaces focus
 *    --production` when the workspace-tools plugin is there);
 * 4. profile.d puts node_modules/.bin on PATH through $HOME and sets NODE_ENV=production (and,
 *    for Yarn Plug'n'Play, NODE_OPTIONS to load .pnp.cjs).
 *
 * Caches live in CACHE_DIR: npm's cache (npm/), pnpm's store (pnpm-store/), Yarn's caches
 * (yarn/, yarn-berry/), corepack's downloads (corepack/) and npm-installed tools (tools/). When
 * the lockfile is unchanged since the last successful install, the install runs offline from
 * them (falling back to the registry if something is missing): a restage downloads nothing.
 *
 * The app's environment may set YUN_COREPACK=0 (pnpm and Yarn come from the npm registry through
 * npm, not corepack), NODE_ENV, and the tools' own variables (npm_config_*, YARN_*, COREPACK_*).
 *
 * engines.node is reported, not enforced: the stack's Node.js is what runs the app.
 * Everything written into the app relocates: .bin links and scripts are relative, profile.d names
 * folders through $HOME.
 */

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { choose } = require('./package_managers');
const { Failed, say, run, capture, runOrFail } = require('./running');
const { provide } = require('./tools');

const KEY_FILE = 'installed-lockfile.sha256';
const DEPENDENCY_FIELDS = [
  'dependencies',
  'devDependencies',
  'optionalDependencies',
  'peerDependencies',
  'bundleDependencies',
  'overrides',
  'resolutions',
  'pnpm',
  'workspaces',
];

function main(argv) {
  if (argv.length !== 4) {
    process.stderr.write('usage: supply BUILD_DIR CACHE_DIR DEPS_DIR INDEX\n');
    return 64;
  }
  const [buildDir, cache, depsDir, index] = argv.map((arg, i) => (i < 3 ? path.resolve(arg) : arg));
  try {
    supply({ buildDir, cache, dep: path.join(depsDir, index) });
  } catch (error) {
    if (error instanceof Failed) {
      say(error.message);
      return 1;
    }
    throw error;
  }
  return 0;
}

function supply({ buildDir, cache, dep }) {
  const env = {
    ...process.env,
    NODE_ENV: process.env.NODE_ENV || 'production',
    npm_config_update_notifier: process.env.npm_config_update_notifier || 'false',
  };
  const npm = capture(['npm', '--version'], { cwd: buildDir, env }).stdout.trim();
  say(`Using the stack's Node.js ${process.version}, npm ${npm}`);
  const pkg = readPackage(buildDir);
  const engine = pkg.engines && pkg.engines.node;
  if (engine) {
    say(`Note: package.json asks for Node.js ${engine}; this stack provides ${process.version}`);
  }
  fs.mkdirSync(cache, { recursive: true });
  const pm = choose(buildDir, pkg);
  for (const note of pm.notes) {
    say(`Note: ${note}`);
  }
  const tool = pm.tool ? provide(pm, { buildDir, cache, env }) : { argv: ['npm'], env: {} };
  const build = pkg.scripts && typeof pkg.scripts.build === 'string' ? pkg.scripts.build : '';
  const withDev = build !== '';
  const options = (offline) => ({
    cwd: buildDir,
    env: { ...env, ...pm.env(cache, { offline }), ...tool.env },
  });

  const offline = install(pm, tool, { buildDir, cache, pkg, npm, withDev, options });
  if (withDev) {
    say(`Running the build script: ${build}`);
    runOrFail([...tool.argv, 'run', 'build'], { ...options(false), what: 'The build script' });
    prune(pm, tool, options(offline), offline);
  }
  writeProfile(buildDir, dep);
}

/** Install from the lockfile, offline when it is unchanged; whether it ran offline. */
function install(pm, tool, { buildDir, cache, pkg, npm, withDev, options }) {
  const key = installKey(buildDir, pkg, pm, { withDev, npm });
  let offline = key !== null && readKey(cache) === key;
  if (offline) {
    say(
      `${pm.lockfile} is unchanged since the last staging: installing offline from the build cache`,
    );
  }
  say(`Installing dependencies with ${pm.label}`);
  const attempt = (off) =>
    run([...tool.argv, ...pm.install({ withDev, offline: off })], options(off));
  if (offline && attempt(true) !== 0) {
    say('The build cache lacks some packages; installing from the registry');
    offline = false;
  }
  const status = offline ? 0 : attempt(false);
  if (status !== 0) {
    throw new Failed(`${pm.label} failed (exit ${status}); its output is above`);
  }
  if (key !== null) {
    fs.writeFileSync(path.join(cache, KEY_FILE), `${key}\n`);
  }
  return offline;
}

function readPackage(buildDir) {
  let pkg;
  try {
    pkg = JSON.parse(fs.readFileSync(path.join(buildDir, 'package.json'), 'utf8'));
  } catch (error) {
    throw new Failed(`package.json is not valid JSON (${error.message.split('\n')[0]})`);
  }
  if (pkg === null || typeof pkg !== 'object' || Array.isArray(pkg)) {
    throw new Failed('package.json is not valid JSON (it must be an object)');
  }
  return pkg;
}

function prune(pm, tool, options, offline) {
  const probe = pm.pruneProbe;
  if (probe && capture([...tool.argv, ...probe.args], options).status !== 0) {
    say(`Note: dev dependencies are kept: ${probe.missing}`);
    return;
  }
  say('Pruning dev dependencies');
  runOrFail([...tool.argv, ...pm.prune({ offline })], { ...options, what: 'Pruning' });
}

/** What decides an install: the tool, whether dev dependencies come too, the lockfile's bytes
 * and the fields of package.json that the lockfile must agree with. */
function installKey(buildDir, pkg, pm, { withDev, npm }) {
  if (!pm.lockfile) {
    return null;
  }
  const digest = crypto.createHash('sha256');
  digest.update(`${pm.label}\0${pm.version || npm}\0${pm.yarnPath || ''}\0${withDev}\0`);
  digest.update(JSON.stringify(DEPENDENCY_FIELDS.map((field) => pkg[field] ?? null)));
  digest.update(fs.readFileSync(path.join(buildDir, pm.lockfile)));
  return digest.digest('hex');
}

function readKey(cache) {
  try {
    return fs.readFileSync(path.join(cache, KEY_FILE), 'utf8').trim();
  } catch {
    return null;
  }
}

function writeProfile(buildDir, dep) {
  const lines = [
    'export PATH="$HOME/node_modules/.bin:$PATH"',
    'export NODE_ENV="${NODE_ENV:-production}"',
  ];
  if (fs.existsSync(path.join(buildDir, '.pnp.cjs'))) {
    // Yarn Plug'n'Play: node resolves packages through .pnp.cjs, as `yarn node` would set up.
    let options = '--require \\"$HOME/.pnp.cjs\\"';
    if (fs.existsSync(path.join(buildDir, '.pnp.loader.mjs'))) {
      options += ' --experimental-loader \\"file://$HOME/.pnp.loader.mjs\\"';
    }
    lines.push(`export NODE_OPTIONS="${options}\${NODE_OPTIONS:+ $NODE_OPTIONS}"`);
  }
  fs.mkdirSync(path.join(dep, 'profile.d'), { recursive: true });
  fs.writeFileSync(path.join(dep, 'profile.d', 'nodejs.sh'), `${lines.join('\n')}\n`);
}

process.exitCode = main(process.argv.slice(2));

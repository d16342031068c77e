'use strict';
/**
 * Which package manager installs an app, at which version, and the commands it runs.
 *
 * The lockfile decides, as on Heroku and Cloud Foundry: package-lock.json or npm-shrinkwrap.json
 * → `npm ci`; pnpm-lock.yaml → `pnpm install --frozen-lockfile`; yarn.lock → `yarn install
 * --frozen-lockfile` (Yarn 1) or `yarn install --immutable` (Yarn 2+, "Berry"). Without a
 * lockfile, the tool that package.json's `packageManager` names installs, else `npm install`.
 * When several lockfiles exist, `packageManager` picks among them, else npm's wins.
 *
 * Versions: the one `packageManager` names (corepack's field, e.g. "pnpm@9.12.0+sha512.…");
 * otherwise the newest release of the line that wrote the lockfile (DEFAULTS below). Yarn is
 * Berry when `packageManager` says yarn@2 or later, when yarn.lock is in Berry's format, or when
 * .yarnrc.yml exists; a .yarnrc.yml `yarnPath` (the project's own committed Yarn) is run as is.
 *
 * Every manager is one object with the same small interface (`label`, `env`, `install`, `prune`,
 * and `pruneProbe`: a command that must succeed before pruning, or null), so supply.js never asks
 * which one it holds.
 */

const fs = require('fs');
const path = require('path');

// Defaults when package.json has no `packageManager`: the last release of each line, by the
// lockfile format that line writes (pnpm: `lockfileVersion`, Yarn Berry: `__metadata.version`).
// pnpm 9 reads and writes lockfile 9.0 like pnpm 10, and runs dependencies' install scripts as
// npm does (pnpm 10 asks for them to be allowed); pnpm 11 needs Node.js 22.
const DEFAULTS = {
  pnpm: [
    ['9', '9.15.9'],
    ['6', '8.15.9'],
    ['5', '7.33.7'],
  ],
  yarnClassic: '1.22.22',
  yarnBerry: [
    ['7', '4.18.1'],
    ['5', '3.8.7'],
    ['0', '2.4.2'],
  ],
};
// Where a package manager comes from on the npm registry: package, and its executable in bin/.
const PACKAGES = {
  pnpm: { package: 'pnpm', bin: 'pnpm' },
  yarnClassic: { package: 'yarn', bin: 'yarn' },
  yarnBerry: { package: '@yarnpkg/cli-dist', bin: 'yarn' },
};
const LOCKFILES = [
  ['npm-shrinkwrap.json', 'npm'],
  ['package-lock.json', 'npm'],
  ['pnpm-lock.yaml', 'pnpm'],
  ['yarn.lock', 'yarn'],
];
const VERSION = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/;

/** The package manager of the app in `buildDir` whose package.json is `pkg`. */
function choose(buildDir, pkg) {
  const notes = [];
  const declared = parsePackageManager(pkg.packageManager, notes);
  const found = LOCKFILES.filter(([file]) => fs.existsSync(path.join(buildDir, file)));
  let lockfile = null;
  let name = declared ? declared.name : 'npm';
  if (found.length > 0) {
    const preferred = declared && found.find(([, tool]) => tool === declared.name);
    [lockfile, name] = preferred || found[0];
    const tools = new Set(found.map(([, tool]) => tool));
    if (tools.size > 1) {
      const names = found.map(([file]) => file).join(', ');
      notes.push(`several lockfiles (${names}); using ${lockfile} (packageManager decides)`);
    }
  }
  if (declared && declared.name !== name) {
    notes.push(`packageManager names ${declared.name}, but ${lockfile} is ${name}'s lockfile`);
  }
  const own = declared && declared.name === name ? declared : null;
  const read = (file) => fs.readFileSync(path.join(buildDir, file), 'utf8');
  if (name === 'pnpm') {
    const format = lockfile && (read(lockfile).match(/^lockfileVersion:\s*'?([\d.]+)/m) || [])[1];
    const what = format ? `pnpm-lock.yaml v${format}` : 'pnpm without a lockfile';
    return new Pnpm({ lockfile, notes, ...version(own, DEFAULTS.pnpm, format, what) });
  }
  if (name === 'yarn') {
    return chooseYarn({ lockfile, notes, own, read, buildDir });
  }
  if (declared && declared.name === 'npm') {
    notes.push(`packageManager asks for npm@${declared.version}; the stack's npm is used`);
  }
  return new Npm({ lockfile, notes });
}

/** Yarn 1, or Berry: by `packageManager`, else by the lockfile's format or a .yarnrc.yml. */
function chooseYarn({ lockfile, notes, own, read, buildDir }) {
  const text = lockfile ? read(lockfile) : '';
  const yarnrc = fs.existsSync(path.join(buildDir, '.yarnrc.yml')) ? read('.yarnrc.yml') : null;
  const metadata = (text.match(/^__metadata:\s*\n\s+version:\s*(\d+)/m) || [])[1];
  const berry = own ? major(own.version) >= 2 : metadata !== undefined || yarnrc !== null;
  if (!berry) {
    const what = lockfile ? 'yarn.lock v1' : 'yarn without a lockfile';
    const chosen = version(own, [['1', DEFAULTS.yarnClassic]], '1', what);
    return new YarnClassic({ lockfile, notes, ...chosen });
  }
  const what = metadata ? `yarn.lock v${metadata}` : 'Yarn 2+ (.yarnrc.yml)';
  let chosen = version(own, DEFAULTS.yarnBerry, metadata, what);
  const linker = process.env.YARN_NODE_LINKER || yarnrcValue(yarnrc, 'nodeLinker') || 'pnp';
  const yarnPath = yarnrcValue(yarnrc, 'yarnPath');
  if (yarnPath && fs.existsSync(path.join(buildDir, yarnPath))) {
    // The project's own Yarn, committed (e.g. .yarn/releases/yarn-3.6.4.cjs), runs as it is.
    const named = (path.basename(yarnPath).match(/(\d+\.\d+\.\d+)/) || [])[1];
    chosen = { version: named || chosen.version, hash: null, why: 'yarnPath in .yarnrc.yml' };
    return new YarnBerry({ lockfile, notes, ...chosen, yarnPath, linker });
  }
  return new YarnBerry({ lockfile, notes, ...chosen, yarnPath: null, linker });
}

/** `packageManager` as { name, version, hash }, or null (with a note when not understood). */
function parsePackageManager(field, notes) {
  if (field === undefined || field === null || field === '') {
    return null;
  }
  const match = String(field).match(/^(npm|pnpm|yarn)@([^+]+)(?:\+(.+))?$/);
  if (!match || !VERSION.test(match[2])) {
    notes.push(`packageManager "${field}" is not name@x.y.z; ignoring it`);
    return null;
  }
  return { name: match[1], version: match[2], hash: match[3] || null };
}

/** The version `packageManager` names, else the default of `table` for lockfile `format`. */
function version(own, table, format, what) {
  if (own) {
    return fromField(own);
  }
  const row = format
    ? table.find(([since]) => major(format) >= Number(since)) || table[table.length - 1]
    : table[0];
  return { version: row[1], hash: null, why: `the default for ${what}` };
}

function fromField(own) {
  return { version: own.version, hash: own.hash, why: 'packageManager in package.json' };
}

function major(text) {
  return Number(String(text).split('.')[0]);
}

/** A top-level `key: value` of .yarnrc.yml (a flat YAML file in practice), or null. */
function yarnrcValue(text, key) {
  if (text === null) {
    return null;
  }
  const match = text.match(new RegExp(`^${key}:\\s*["']?([^"'#\\n]+?)["']?\\s*(?:#.*)?$`, 'm'));
  return match ? match[1] : null;
}

class Npm {
  constructor({ lockfile, notes }) {
    this.name = 'npm';
    this.tool = null; // the stack's own npm
    this.pruneProbe = null;
    this.lockfile = lockfile;
    this.notes = notes;
  }

  get label() {
    return this.lockfile ? 'npm ci' : 'npm install';
  }

  env(cache) {
    return { npm_config_cache: path.join(cache, 'npm') };
  }

  install({ withDev, offline }) {
    const args = [this.lockfile ? 'ci' : 'install', '--no-audit', '--no-fund'];
    args.push(offline ? '--offline' : '--prefer-offline');
    return withDev ? [...args, '--include=dev'] : args;
  }

  prune() {
    return ['prune', '--omit=dev', '--no-audit', '--no-fund'];
  }
}

class Pnpm {
  constructor({ lockfile, notes, version, hash, why }) {
    Object.assign(this, { name: 'pnpm', lockfile, notes, version, hash, why });
    this.tool = { ...PACKAGES.pnpm, command: 'pnpm' };
    this.pruneProbe = null;
  }

  get label() {
    return this.lockfile ? 'pnpm install --frozen-lockfile' : 'pnpm install';
  }

  env(cache) {
    return {
      npm_config_store_dir: path.join(cache, 'pnpm-store'),
      // .bin scripts would otherwise set NODE_PATH to the staging folder.
      npm_config_extend_node_path: 'false',
      npm_config_package_manager_strict: 'false',
    };
  }

  install({ withDev, offline }) {
    const args = ['install', this.lockfile ? '--frozen-lockfile' : '--no-frozen-lockfile'];
    args.push(offline ? '--offline' : '--prefer-offline', '--config.confirm-modules-purge=false');
    return withDev ? [...args, '--prod=false'] : args;
  }

  prune() {
    return ['prune', '--prod', '--config.confirm-modules-purge=false'];
  }
}

class YarnClassic {
  constructor({ lockfile, notes, version, hash, why }) {
    Object.assign(this, { name: 'yarn', lockfile, notes, version, hash, why });
    this.tool = { ...PACKAGES.yarnClassic, command: 'yarn' };
    this.pruneProbe = null;
  }

  get label() {
    return this.lockfile ? 'yarn install --frozen-lockfile' : 'yarn install';
  }

  env(cache) {
    return { YARN_CACHE_FOLDER: path.join(cache, 'yarn') };
  }

  install({ withDev, offline }) {
    const args = ['install', '--non-interactive', offline ? '--offline' : '--prefer-offline'];
    if (this.lockfile) {
      args.push('--frozen-lockfile');
    }
    return withDev ? [...args, '--production=false'] : args;
  }

  prune({ offline }) {
    // Heroku's way: install again for production only, without running scripts twice.
    const args = ['install', '--non-interactive', '--production=true', '--ignore-scripts'];
    if (this.lockfile) {
      args.push('--frozen-lockfile');
    }
    return [...args, offline ? '--offline' : '--prefer-offline'];
  }
}

class YarnBerry {
  constructor({ lockfile, notes, version, hash, why, yarnPath, linker }) {
    Object.assign(this, { name: 'yarn', lockfile, notes, version, hash, why, yarnPath, linker });
    this.tool = { ...PACKAGES.yarnBerry, command: 'yarn' };
  }

  get label() {
    return this.lockfile ? 'yarn install --immutable' : 'yarn install';
  }

  env(cache, { offline } = {}) {
    const env = {
      YARN_GLOBAL_FOLDER: path.join(cache, 'yarn-berry'),
      YARN_ENABLE_TELEMETRY: '0',
      YARN_ENABLE_PROGRESS_BARS: 'false',
      YARN_ENABLE_INLINE_BUILDS: 'true',
    };
    if (this.linker === 'pnp') {
      // Plug'n'Play loads packages from the cache at runtime: it must be the app's own
      // .yarn/cache (in the droplet), mirrored from the build cache.
      env.YARN_ENABLE_GLOBAL_CACHE = 'false';
    }
    if (offline) {
      env.YARN_ENABLE_NETWORK = '0';
    }
    return env;
  }

  install() {
    return ['install', ...(this.lockfile ? ['--immutable'] : [])];
  }

  get pruneProbe() {
    const missing = `Yarn ${this.version} lacks \`yarn workspaces focus\` (plugin workspace-tools)`;
    return { args: ['workspaces', 'focus', '--help'], missing };
  }

  prune() {
    return ['workspaces', 'focus', '--all', '--production'];
  }
}

module.exports = { choose, DEFAULTS, PACKAGES };

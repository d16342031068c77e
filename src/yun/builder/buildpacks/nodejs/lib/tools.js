'use strict';
/**
 * pnpm and Yarn at the version package_managers.js chose, without touching the stack.
 *
 * Through corepack when the stack's Node.js has it (Node.js 16.9 to 24 ship it; Debian's nodejs
 * package may not): COREPACK_HOME is CACHE_DIR/corepack, so each version is downloaded once, and
 * COREPACK_NPM_REGISTRY is npm's registry, so Yarn 2+ comes from the npm registry too rather than
 * repo.yarnpkg.com. A `packageManager` hash is checked by corepack itself. Otherwise, or when the
 * app sets YUN_COREPACK=0, the stack's npm fetches the package from the npm registry and installs
 * it into CACHE_DIR/tools/<package>@<version>, once per version (the hash is checked here).
 *
 * Corepack insists on npm's registry signatures when there is no hash; a registry mirror that
 * serves none makes it refuse, and then npm installs the tool instead, as it installs the app's
 * own dependencies (with the registry's integrity checks). Any other corepack failure fails the
 * staging with corepack's message.
 *
 * A project's own Yarn (.yarnrc.yml `yarnPath`) runs as it is. While staging, CACHE_DIR/bin holds
 * a `pnpm` or `yarn` shim first on PATH, so scripts that call the package manager find it.
 */

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { Failed, say, run, capture } = require('./running');

const NO_SIGNATURE = 'No compatible signature found';

/** { argv, env }: the command prefix that runs `pm`'s tool, and what its runs need in env. */
function provide(pm, { buildDir, cache, env }) {
  let argv;
  let extra = {};
  if (pm.yarnPath) {
    say(`Using the project's own Yarn, ${pm.yarnPath} (yarnPath in .yarnrc.yml)`);
    argv = [process.execPath, path.resolve(buildDir, pm.yarnPath)];
  } else if (!installedWithNpm(pm, cache) && corepackWanted(env)) {
    extra = corepackEnv(cache, env);
    argv = throughCorepack(pm, { env: { ...env, ...extra }, cache });
  }
  if (!argv) {
    argv = fromRegistry(pm, { cache, env });
  }
  const bin = path.join(cache, 'bin');
  fs.mkdirSync(bin, { recursive: true });
  const quoted = argv.map((word) => `'${word.replace(/'/g, "'\\''")}'`).join(' ');
  fs.writeFileSync(path.join(bin, pm.tool.command), `#!/bin/sh\nexec ${quoted} "$@"\n`, {
    mode: 0o755,
  });
  extra.PATH = `${bin}${path.delimiter}${env.PATH || ''}`;
  return { argv, env: extra };
}

function corepackWanted(env) {
  if (['0', 'false', 'no', 'off'].includes(String(env.YUN_COREPACK || '').toLowerCase())) {
    return false;
  }
  return capture(['corepack', '--version'], { cwd: '/', env }).status === 0;
}

function corepackEnv(cache, env) {
  const extra = {
    COREPACK_HOME: path.join(cache, 'corepack'),
    COREPACK_ENABLE_DOWNLOAD_PROMPT: '0',
    COREPACK_ENABLE_AUTO_PIN: '0',
    COREPACK_ENABLE_STRICT: '0',
  };
  if (!env.COREPACK_NPM_REGISTRY) {
    const got = capture(['npm', 'config', 'get', 'registry'], { cwd: cache, env });
    const registry = got.status === 0 ? got.stdout.trim().replace(/\/+$/, '') : '';
    extra.COREPACK_NPM_REGISTRY = registry || 'https://registry.npmjs.org';
  }
  return extra;
}

/** ['corepack', 'pnpm@x.y.z+hash'], or null when corepack cannot check the registry's package. */
function throughCorepack(pm, { env, cache }) {
  const spec = `${pm.tool.command}@${pm.version}${pm.hash ? `+${pm.hash}` : ''}`;
  const cached = fs.existsSync(path.join(env.COREPACK_HOME, 'v1', pm.tool.command, pm.version));
  const argv = ['corepack', spec];
  const done = capture([...argv, '--version'], { cwd: cache, env });
  if (done.status === 0) {
    const how = cached ? 'from the build cache' : 'downloaded into the build cache';
    say(`Using ${pm.tool.command} ${pm.version} through corepack (${pm.why}; ${how})`);
    return argv;
  }
  if (done.output.includes(NO_SIGNATURE)) {
    say(
      `Note: corepack will not use ${pm.tool.package}@${pm.version}: the npm registry serves ` +
        'no signature for it (and packageManager gives no hash); npm installs it instead',
    );
    return null;
  }
  process.stdout.write(done.output);
  const what = `${pm.tool.command} ${pm.version}`;
  throw new Failed(`corepack could not provide ${what} (exit ${done.status})`);
}

/** Where npm installs `pm`'s tool in the build cache, and its executable. */
function npmInstalled(pm, cache) {
  const home = path.join(cache, 'tools', `${pm.tool.package.replace('/', '+')}@${pm.version}`);
  return { home, bin: path.join(home, 'bin', pm.tool.bin) };
}

/** A copy installed with npm earlier (corepack could not, or was not to, serve it). */
function installedWithNpm(pm, cache) {
  return fs.existsSync(npmInstalled(pm, cache).bin);
}

/** [the tool's bin], installed with the stack's npm into CACHE_DIR/tools once per version. */
function fromRegistry(pm, { cache, env }) {
  const { package: name, command } = pm.tool;
  const { home, bin } = npmInstalled(pm, cache);
  if (fs.existsSync(bin)) {
    say(`Using ${command} ${pm.version} from the build cache (${pm.why}; installed with npm)`);
    return [bin];
  }
  say(`Installing ${command} ${pm.version} from the npm registry with npm (${pm.why})`);
  const partial = `${home}.partial-${process.pid}`;
  fs.rmSync(partial, { recursive: true, force: true });
  fs.mkdirSync(partial, { recursive: true });
  const npmEnv = { ...env, npm_config_cache: path.join(cache, 'npm') };
  const quiet = ['--no-audit', '--no-fund', '--loglevel=error'];
  const pack = ['npm', 'pack', `${name}@${pm.version}`, '--pack-destination', partial, ...quiet];
  const packed = capture(pack, { cwd: partial, env: npmEnv });
  const tarball = path.join(partial, packed.stdout.trim().split('\n').pop() || 'none');
  if (packed.status !== 0 || !fs.existsSync(tarball)) {
    process.stdout.write(packed.output);
    throw new Failed(`npm could not fetch ${name}@${pm.version} from the registry`);
  }
  checkHash(tarball, pm);
  const install = ['npm', 'install', '--global', '--prefix', partial, '--ignore-scripts', ...quiet];
  if (run([...install, tarball], { cwd: partial, env: npmEnv }) !== 0) {
    throw new Failed(`npm could not install ${name}@${pm.version}`);
  }
  fs.rmSync(tarball);
  fs.rmSync(home, { recursive: true, force: true });
  fs.renameSync(partial, home);
  return [bin];
}

/** The `+sha512.<hex>` of `packageManager` must be the tarball's digest, as corepack checks. */
function checkHash(tarball, pm) {
  if (!pm.hash) {
    return;
  }
  const [algorithm, expected] = pm.hash.split('.');
  let actual;
  try {
    actual = crypto.createHash(algorithm).update(fs.readFileSync(tarball)).digest('hex');
  } catch {
    throw new Failed(`packageManager's hash uses ${algorithm}, which this Node.js cannot check`);
  }
  if (actual !== expected) {
    throw new Failed(
      `${pm.tool.package}@${pm.version} from the registry does not match packageManager's hash`,
    );
  }
}

module.exports = { provide };

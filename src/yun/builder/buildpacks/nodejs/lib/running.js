'use strict';
/**
 * How the nodejs buildpack talks and runs tools: `----->` lines, and children whose output goes
 * straight to the staging log.
 *
 * A step that fails throws `Failed` with one line; supply prints that line after the tool's own
 * output and exits 1, so the log ends with what the tool said plus one sentence of ours (no stack
 * trace), as the python buildpack does.
 */

const { spawnSync } = require('child_process');
const { constants } = require('os');

class Failed extends Error {}

function say(message) {
  process.stdout.write(`-----> ${message}\n`);
}

/** Run `argv` with its output streamed to ours; the exit status (1 when it could not start). */
function run(argv, { cwd, env }) {
  const stdio = ['ignore', 'inherit', 'inherit'];
  const done = spawnSync(argv[0], argv.slice(1), { cwd, env, stdio });
  if (done.error) {
    process.stdout.write(`${argv[0]}: ${done.error.message}\n`);
    return 1;
  }
  return exitStatus(done);
}

/** Run `argv`; on failure, throw `Failed` naming `what`. */
function runOrFail(argv, { cwd, env, what }) {
  const status = run(argv, { cwd, env });
  if (status !== 0) {
    throw new Failed(`${what} failed (exit ${status}); its output is above`);
  }
}

/** Run `argv` quietly: { status, stdout, output } (output: stdout and stderr together). */
function capture(argv, { cwd, env }) {
  const done = spawnSync(argv[0], argv.slice(1), {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
  });
  if (done.error) {
    return { status: 1, stdout: '', output: `${argv[0]}: ${done.error.message}\n` };
  }
  return { status: exitStatus(done), stdout: done.stdout, output: done.stdout + done.stderr };
}

/** The shell's way: 128 + the signal's number when a signal ended the child. */
function exitStatus(done) {
  if (done.status !== null) {
    return done.status;
  }
  return 128 + (constants.signals[done.signal] || 0);
}

module.exports = { Failed, say, run, runOrFail, capture };

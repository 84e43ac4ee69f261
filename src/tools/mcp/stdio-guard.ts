/**
 * The process between a worker and a stdio MCP server, so that the server never outlives the
 * worker: it starts the server in a process group of its own, passes the worker's stdin on,
 * and lets the server write straight to the worker. When the worker goes (its end of stdin
 * closes, or the guard is handed to another parent), and whenever the server exits, the guard
 * ends the whole group: SIGTERM, then SIGKILL after a grace. A server that ignores stdin's end
 * or SIGTERM, or that started children of its own, goes all the same.
 *
 * `guardMain` runs as `node -e <guardSource> <command> <args...>`, so it only uses Node's
 * built-ins and nothing from this module's scope.
 */
function guardMain(): void {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { spawn } = require('node:child_process') as typeof import('node:child_process');
  const [command, ...args] = process.argv.slice(1);
  const GRACE_MS = 2_000;
  const parent = process.ppid;
  const child = spawn(command, args, { stdio: ['pipe', 'inherit', 'inherit'], detached: true });
  let stopping = false;

  const signalGroup = (signal: NodeJS.Signals): void => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, signal);
    } catch {
      /* the group is gone */
    }
  };
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    child.stdin?.end();
    signalGroup('SIGTERM');
    setTimeout(() => {
      signalGroup('SIGKILL');
      process.exit(0);
    }, GRACE_MS);
  };

  child.on('error', (err) => {
    process.stderr.write(`MCP server ${command} could not start: ${err.message}\n`);
    process.exit(127);
  });
  child.on('exit', (code, signal) => {
    // Whatever the server started goes with it.
    signalGroup('SIGKILL');
    process.exit(code ?? (signal ? 1 : 0));
  });
  child.stdin?.on('error', () => undefined);
  process.stdin.pipe(child.stdin);
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, stop);
  setInterval(() => {
    if (process.ppid !== parent) stop();
  }, 500);
}

export const stdioGuardSource = `(${guardMain.toString()})()`;

/**
 * What runs inside run_js's worker thread: the code in a fresh QuickJS runtime (a JavaScript
 * interpreter compiled to WebAssembly) with a memory limit, a stack limit and a deadline, and
 * nothing of the host: no `require`, no `process`, no network, no files; only a `console`
 * whose lines are captured. Posts one message back: the value of the code's last expression
 * (as JSON-able data) and the logs, or what stopped it.
 *
 * Self-contained on purpose: it is passed to the worker as source (`sandboxSource`), so it may
 * not use anything from outside its own body but `require`.
 */
export interface SandboxInput {
  code: string;
  timeoutMs: number;
  memoryBytes: number;
  /** Captured console output past this many characters is dropped (and said so). */
  maxLogChars: number;
}

export type SandboxOutcome =
  | { ok: true; value: unknown; logs: string[] }
  | { ok: false; kind: 'timeout' | 'memory' | 'error'; message: string; logs: string[] };

async function sandboxMain(): Promise<void> {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const threads = require('node:worker_threads') as typeof import('node:worker_threads');
  const { getQuickJS, shouldInterruptAfterDeadline } =
    require('quickjs-emscripten') as typeof import('quickjs-emscripten');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const input = threads.workerData as SandboxInput;
  const post = (outcome: SandboxOutcome): void => threads.parentPort!.postMessage(outcome);
  const quickjs = await getQuickJS();
  const runtime = quickjs.newRuntime();
  runtime.setMemoryLimit(input.memoryBytes);
  // Small enough that endless recursion is QuickJS's "stack overflow", not the host's.
  runtime.setMaxStackSize(128 * 1024);
  runtime.setInterruptHandler(shouldInterruptAfterDeadline(Date.now() + input.timeoutMs));
  const vm = runtime.newContext();
  const logs: string[] = [];
  let logChars = 0;
  const console = vm.newObject();
  for (const level of ['log', 'info', 'warn', 'error', 'debug']) {
    const fn = vm.newFunction(level, (...args) => {
      const line = args
        .map((arg) => {
          const value: unknown = vm.dump(arg);
          return typeof value === 'string' ? value : JSON.stringify(value);
        })
        .join(' ');
      if (logChars + line.length > input.maxLogChars) {
        if (logChars <= input.maxLogChars) logs.push('(console output past the cap dropped)');
        logChars = input.maxLogChars + 1;
        return;
      }
      logChars += line.length;
      logs.push(line);
    });
    vm.setProp(console, level, fn);
    fn.dispose();
  }
  vm.setProp(vm.global, 'console', console);
  console.dispose();
  const result = vm.evalCode(input.code, 'run_js.js');
  if (result.error) {
    const error = vm.dump(result.error) as { name?: string; message?: string } | string;
    result.error.dispose();
    const name = typeof error === 'object' && error ? (error.name ?? 'Error') : 'Error';
    const message = typeof error === 'object' && error ? (error.message ?? '') : String(error);
    const kind = message === 'interrupted' ? 'timeout' : message === 'out of memory' ? 'memory' : 'error';
    post({ ok: false, kind, message: `${name}: ${message}`, logs });
  } else {
    const value: unknown = vm.dump(result.value);
    result.value.dispose();
    post({ ok: true, value: value === undefined ? null : value, logs });
  }
  vm.dispose();
  runtime.dispose();
}

/** The worker's source: the function above, called. Works from src (ts-jest) and dist alike. */
export const sandboxSource = `(${sandboxMain.toString()})().catch((err) => { throw err; });`;

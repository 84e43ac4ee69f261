import { Worker } from 'node:worker_threads';
import { z } from 'zod';
import { abortError } from '../common/abort';
import { sandboxSource, type SandboxInput, type SandboxOutcome } from './run-js-sandbox';
import { ToolError, type ToolDefinition } from './tool';

export interface RunJsLimits {
  /** The code's deadline inside the sandbox; the call's own cap is a little longer. */
  timeoutMs: number;
  memoryBytes: number;
}

const MAX_CODE_CHARS = 20_000;
const MAX_LOG_CHARS = 20_000;
/** What the worker thread may use beside QuickJS's own memory (its V8 heap: the WebAssembly module, the message). */
const WORKER_HEAP_MB = 64;

const input = z.object({
  code: z
    .string()
    .min(1)
    .max(MAX_CODE_CHARS)
    .describe('JavaScript (ES2020) to run; the value of its last expression is returned, with what it logged'),
});

/**
 * The built-in `run_js`: `{code}` → `{value, logs}`. Each call runs in a worker thread of its
 * own, in a QuickJS sandbox (see run-js-sandbox.ts): no host access, a memory cap, a deadline
 * (`while (true) {}` ends with TOOL_TIMEOUT). The worker thread keeps the sandbox off the
 * worker's event loop, so runs, chat and sockets go on meanwhile, and it is terminated when
 * the call is abandoned; whatever the code did, its memory goes with the thread.
 */
export function createRunJs(limits: RunJsLimits): ToolDefinition<z.infer<typeof input>> {
  return {
    name: 'run_js',
    description:
      'Runs JavaScript in a sandbox with no network, files or host access, with memory and time limits. Returns {value, logs}: the value of the last expression (as JSON) and the lines written with console.log.',
    input,
    // The sandbox's deadline ends the code; this one ends a sandbox that could not say so.
    timeoutMs: limits.timeoutMs + 2_000,
    run: ({ code }, signal) => runInSandbox({ code, ...limits, maxLogChars: MAX_LOG_CHARS }, signal),
  };
}

function runInSandbox(sandbox: SandboxInput, signal: AbortSignal): Promise<{ value: unknown; logs: string[] }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(sandboxSource, {
      eval: true,
      workerData: sandbox,
      // No environment of the worker's own to read (the sandbox could not reach it anyway).
      env: {},
      stdout: true,
      stderr: true,
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB, maxYoungGenerationSizeMb: 16 },
    });
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      fn();
      void worker.terminate();
    };
    const onAbort = (): void => settle(() => reject(abortError(signal)));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    worker.once('message', (outcome: SandboxOutcome) =>
      settle(() => {
        if (outcome.ok) resolve({ value: outcome.value, logs: outcome.logs });
        else if (outcome.kind === 'timeout')
          reject(new ToolError('TOOL_TIMEOUT', `the code ran longer than ${sandbox.timeoutMs} ms`));
        else if (outcome.kind === 'memory')
          reject(new ToolError('TOOL_FAILED', `the code used more than ${sandbox.memoryBytes / 1024 / 1024} MB`));
        else reject(new ToolError('TOOL_FAILED', `the code threw ${outcome.message}`));
      }),
    );
    worker.once('error', (err) =>
      settle(() => reject(new ToolError('TOOL_FAILED', `the sandbox failed: ${err.message}`))),
    );
    worker.once('exit', (code) =>
      settle(() => reject(new ToolError('TOOL_FAILED', `the sandbox stopped (exit code ${code}) without a result`))),
    );
  });
}

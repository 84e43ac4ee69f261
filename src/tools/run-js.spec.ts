import { createRunJs } from './run-js';
import { runTool } from './tool-runner';

jest.setTimeout(30_000);

const runJs = createRunJs({ timeoutMs: 1_000, memoryBytes: 16 * 1024 * 1024 });
const call = (code: unknown, signal = new AbortController().signal) =>
  runTool(runJs, { code }, { signal, timeoutMs: 10_000, maxOutputChars: 5_000 });

describe('run_js', () => {
  it('returns the last expression’s value and what the code logged', async () => {
    const outcome = await call(
      'const xs = [3, 1, 2].sort(); console.log("sorted", xs); console.info({ n: xs.length }); xs.map((x) => x * 2)',
    );
    expect(outcome).toEqual({
      ok: true,
      output: { value: [2, 4, 6], logs: ['sorted [1,2,3]', '{"n":3}'] },
      ms: expect.any(Number),
    });
  });

  it.each([
    ['while (true) {}', 'TOOL_TIMEOUT', /longer than 1000 ms/],
    ['new ArrayBuffer(1024 * 1024 * 1024)', 'TOOL_FAILED', /more than 16 MB/],
    ["'x'.repeat(1024 * 1024 * 1024)", 'TOOL_FAILED', /./],
    ['function f() { return f() } f()', 'TOOL_FAILED', /stack overflow/],
    ["require('fs')", 'TOOL_FAILED', /ReferenceError: 'require' is not defined/],
    ['process.exit(1)', 'TOOL_FAILED', /ReferenceError: 'process' is not defined/],
    ['fetch("http://127.0.0.1:1/")', 'TOOL_FAILED', /ReferenceError: 'fetch' is not defined/],
    ['throw new TypeError("bad")', 'TOOL_FAILED', /threw TypeError: bad/],
    ['this is not javascript', 'TOOL_FAILED', /SyntaxError/],
  ])('%s → %s', async (code, codeExpected, message) => {
    const outcome = await call(code);
    expect(outcome.ok).toBe(false);
    expect(outcome.error?.code).toBe(codeExpected);
    expect(outcome.error?.message).toMatch(message);
  });

  it('input that is not code is TOOL_INVALID_INPUT', async () => {
    expect((await call(42)).error?.code).toBe('TOOL_INVALID_INPUT');
    expect((await call('')).error?.code).toBe('TOOL_INVALID_INPUT');
  });

  // Growing to the cap step by step makes QuickJS collect garbage at every allocation: which
  // limit ends the call first depends on the machine's speed: the memory cap (at 2.6 s on a
  // fast one), the sandbox's deadline, or the tool's own (timeoutMs + 2 s) when the sandbox is
  // too busy collecting garbage to notice its deadline. Either way the call ends by a limit,
  // with its code, by the tool's deadline.
  it('code that grows its memory step by step is ended by a limit, with its code, by the deadline', async () => {
    const outcome = await call('const a = []; while (true) a.push(new Array(100000).fill(1))');
    expect(outcome.ok).toBe(false);
    expect([
      'TOOL_TIMEOUT: the code ran longer than 1000 ms',
      'TOOL_TIMEOUT: run_js took longer than 3000 ms',
      'TOOL_FAILED: the code used more than 16 MB',
    ]).toContain(`${outcome.error?.code}: ${outcome.error?.message}`);
    expect(outcome.ms).toBeLessThan(3_000 + 500);
  });

  it('the event loop stays free while the code spins, and a run’s abort ends the call at once', async () => {
    const spinning = createRunJs({ timeoutMs: 5_000, memoryBytes: 16 * 1024 * 1024 });
    const controller = new AbortController();
    const started = Date.now();
    const running = runTool(
      spinning,
      { code: 'while (true) {}' },
      { signal: controller.signal, timeoutMs: 10_000, maxOutputChars: 100 },
    );
    // Timers still fire on this thread while the sandbox spins on its own.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(Date.now() - started).toBeLessThan(1_500);
    controller.abort(new Error('cancelled'));
    await expect(running).rejects.toThrow('cancelled');
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});

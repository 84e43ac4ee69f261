import { z } from 'zod';
import { calculator } from './calculator';
import { ToolError, type ToolDefinition } from './tool';
import { runTool, type ToolRunOptions } from './tool-runner';

const options = (signal = new AbortController().signal): ToolRunOptions => ({
  signal,
  timeoutMs: 200,
  maxOutputChars: 50,
});

function tool(run: ToolDefinition<{ n: number }>['run'], timeoutMs?: number): ToolDefinition<{ n: number }> {
  return { name: 'probe', description: 'a test tool', input: z.object({ n: z.number() }), run, timeoutMs };
}

describe('runTool', () => {
  it('gives the output and how long it took', async () => {
    const outcome = await runTool(calculator, { expression: '17*23' }, options());
    expect(outcome).toEqual({ ok: true, output: '391', ms: expect.any(Number) });
  });

  it('answers input that does not match the schema with TOOL_INVALID_INPUT, without running the tool', async () => {
    let ran = false;
    const outcome = await runTool(
      tool(() => {
        ran = true;
        return Promise.resolve(1);
      }),
      { n: 'seven' },
      options(),
    );
    expect(ran).toBe(false);
    expect(outcome.ok).toBe(false);
    expect(outcome.error?.code).toBe('TOOL_INVALID_INPUT');
    expect(outcome.error?.message).toMatch(/^the input does not match probe's schema \(n: /);
  });

  it('ends a call past its time with TOOL_TIMEOUT, also when the tool ignores its signal', async () => {
    const never = tool(() => new Promise(() => undefined)) as ToolDefinition;
    const outcome = await runTool(never, { n: 1 }, options());
    expect(outcome.error).toEqual({ code: 'TOOL_TIMEOUT', message: 'probe took longer than 200 ms' });
    expect(outcome.ms).toBeGreaterThanOrEqual(190);
  });

  it("a tool's own time limit wins over the default", async () => {
    const slow = tool(() => new Promise((r) => setTimeout(r, 100)), 20) as ToolDefinition;
    expect((await runTool(slow, { n: 1 }, options())).error?.code).toBe('TOOL_TIMEOUT');
  });

  it('answers a tool that throws with its ToolError code, or TOOL_FAILED', async () => {
    const denied = tool(() => Promise.reject(new ToolError('TOOL_DENIED', 'not allowed'))) as ToolDefinition;
    expect((await runTool(denied, { n: 1 }, options())).error).toEqual({ code: 'TOOL_DENIED', message: 'not allowed' });
    const broken = tool(() => Promise.reject(new Error('disk on fire'))) as ToolDefinition;
    expect((await runTool(broken, { n: 1 }, options())).error).toEqual({
      code: 'TOOL_FAILED',
      message: 'probe failed: disk on fire',
    });
  });

  it('cuts output past the cap and says so; text as is, anything else as JSON', async () => {
    const long = tool(() => Promise.resolve('x'.repeat(80))) as ToolDefinition;
    expect(await runTool(long, { n: 1 }, options())).toMatchObject({
      ok: true,
      output: 'x'.repeat(50),
      truncated: true,
    });
    const big = tool(() => Promise.resolve({ items: Array.from({ length: 40 }, (_, i) => i) })) as ToolDefinition;
    const outcome = await runTool(big, { n: 1 }, options());
    expect(outcome.truncated).toBe(true);
    expect(outcome.output).toBe(JSON.stringify({ items: Array.from({ length: 40 }, (_, i) => i) }).slice(0, 50));
    const small = tool(() => Promise.resolve({ a: 1 })) as ToolDefinition;
    expect(await runTool(small, { n: 1 }, options())).toEqual({ ok: true, output: { a: 1 }, ms: expect.any(Number) });
  });

  it("throws the run's abort (a cancel, the run lost) instead of giving a result, and stops the tool", async () => {
    const run = new AbortController();
    let toolSignal: AbortSignal | undefined;
    const waiting = tool((_input, signal) => {
      toolSignal = signal;
      return new Promise(() => undefined);
    }) as ToolDefinition;
    const call = runTool(waiting, { n: 1 }, { ...options(run.signal), timeoutMs: 5_000 });
    run.abort(new Error('run cancelled'));
    await expect(call).rejects.toThrow('run cancelled');
    expect(toolSignal?.aborted).toBe(true);
  });
});

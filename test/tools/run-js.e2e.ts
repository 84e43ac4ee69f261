/**
 * run_js (issue 14) in runs, the offline model calling it by its rule (a fenced JavaScript
 * block in the task): the value and the logs come back; hostile code (an endless loop, 1 GB,
 * `require`) gets a coded tool.result, the run completes, and the worker stays healthy, its
 * memory bounded.
 */
import { readFileSync } from 'node:fs';
import type { AnyDurableFrame, FrameOf } from '../../src/contract';
import { runIdOf, TERMINAL } from '../support/frames';
import { httpJson } from '../support/http';
import type { MawsProcess } from '../support/maws-process';
import { outputOf, planOf, startRun } from '../support/runs';
import { newSdkSession } from '../support/session';
import { setUpSuite, startStack } from '../support/suite';

jest.setTimeout(90_000);

let maws: MawsProcess;

setUpSuite(async () => {
  [maws] = (
    await startStack(['all'], { OFFLINE_TOKEN_DELAY_MS: '0', RUN_JS_TIMEOUT_MS: '500', RUN_JS_MEMORY_MB: '16' })
  ).procs;
});

async function runCode(
  code: string,
): Promise<{ frames: AnyDurableFrame[]; results: FrameOf<'tool.result'>['data'][] }> {
  const { client } = await newSdkSession(maws, 'run-js');
  const { runId } = await startRun(client, 'task.start', `Work out the answer with this:\n\`\`\`js\n${code}\n\`\`\``);
  const terminal = await client.waitForEvent(TERMINAL, (f) => f.data.runId === runId, 60_000);
  expect(terminal.event).toBe('run.completed');
  await client.close();
  const frames = client.durable().filter((f) => runIdOf(f) === runId);
  const called = frames.filter((f): f is FrameOf<'tool.called'> => f.event === 'tool.called');
  expect(called.map((f) => [f.data.tool, f.data.input])).toEqual(planOf(frames).map(() => ['run_js', { code }]));
  return {
    frames,
    results: frames.filter((f): f is FrameOf<'tool.result'> => f.event === 'tool.result').map((f) => f.data),
  };
}

/** The `all` process's resident memory, from /proc. */
function rssMb(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
  return kb / 1024;
}

describe('run_js in runs', () => {
  it('returns the value and the logs, and the finding says what came back', async () => {
    const { frames, results } = await runCode(
      'const xs = [5, 3, 8];\nconsole.log("max", Math.max(...xs));\nxs.reduce((a, b) => a + b, 0) / xs.length',
    );
    for (const r of results) {
      expect(r).toMatchObject({ tool: 'run_js', ok: true, output: { value: 16 / 3, logs: ['max 8'] } });
    }
    expect((outputOf(frames, 'exec-1') as { text: string }).text).toContain(
      `Ran the code: {"value":${16 / 3},"logs":["max 8"]}.`,
    );
  });

  it.each([
    ['while (true) {}', 'TOOL_TIMEOUT', /longer than 500 ms/],
    ['new ArrayBuffer(1024 * 1024 * 1024)', 'TOOL_FAILED', /more than 16 MB/],
    ["require('child_process').execSync('id')", 'TOOL_FAILED', /ReferenceError: 'require' is not defined/],
    ['function down() { return down() }\ndown()', 'TOOL_FAILED', /stack overflow/],
  ])('%s: %s, the run completes, the worker stays healthy', async (code, errorCode, message) => {
    const before = rssMb(maws.pid!);
    const { frames, results } = await runCode(code);
    expect(results.length).toBeGreaterThan(0);
    for (const r of results) {
      expect(r.ok).toBe(false);
      expect(r.error).toEqual({ code: errorCode, message: expect.stringMatching(message) });
    }
    expect((outputOf(frames, 'exec-1') as { text: string }).text).toContain(`The code failed: ${errorCode}`);
    expect((await httpJson('GET', `${maws.url}/health/live`)).status).toBe(200);
    // Each call's sandbox went with its thread: the process did not keep what the code took.
    expect(rssMb(maws.pid!) - before).toBeLessThan(150);
  });
});

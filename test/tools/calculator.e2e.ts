/**
 * Tools (issue 14): executors call the built-in calculator through the AI SDK's tool loop,
 * the offline model by its documented rules. Every call is a durable tool.called then
 * tool.result inside its step, its outcome goes back to the model, and agent.finished lists
 * the step's calls. Also: TOOLS=none offers nothing; a tool error reaches the model and
 * never fails the run.
 */
import type { FrameOf, ServerFrame } from '../../src/contract';
import { isEvent, range, runIdOf, seqs } from '../support/frames';
import type { MawsProcess } from '../support/maws-process';
import { outputOf, planOf, startRun, waitForRunEnd } from '../support/runs';
import { QUERY } from '../support/scenario';
import { newSdkSession } from '../support/session';
import { setUpSuite, startStack } from '../support/suite';

jest.setTimeout(60_000);

let maws: MawsProcess;
let bare: MawsProcess;

setUpSuite(async () => {
  // Two deployments, each on its own Redis: the default tools, and TOOLS=none.
  [[maws], [bare]] = (
    await Promise.all([
      startStack(['all'], { OFFLINE_TOKEN_DELAY_MS: '0' }),
      startStack(['all'], { OFFLINE_TOKEN_DELAY_MS: '0', TOOLS: 'none' }),
    ])
  ).map((stack) => stack.procs);
});

type ToolFrame = FrameOf<'tool.called'> | FrameOf<'tool.result'>;

const toolFrames = (frames: ServerFrame[], runId: string): ToolFrame[] =>
  frames.filter((f): f is ToolFrame => isEvent(f, ['tool.called', 'tool.result']) && runIdOf(f) === runId);

/** Runs `text` as a task on a new session of `gateway` to its end; its frames. */
async function runTask(gateway: MawsProcess, text: string): Promise<{ frames: ServerFrame[]; runId: string }> {
  const { client } = await newSdkSession(gateway, 'tools');
  const { runId } = await startRun(client, 'task.start', text);
  const { terminal } = await waitForRunEnd(client, runId);
  expect(terminal.event).toBe('run.completed');
  await client.close();
  return { frames: client.frames, runId };
}

/** Every tool.called of the run is followed by exactly one tool.result, both inside their step. */
function expectPairedInsideSteps(frames: ServerFrame[], runId: string): void {
  const ofRun = frames.filter((f) => runIdOf(f) === runId);
  for (const called of ofRun.filter((f): f is FrameOf<'tool.called'> => f.event === 'tool.called')) {
    const { toolCallId, stepId, attempt } = called.data;
    const results = ofRun.filter((f) => f.event === 'tool.result' && f.data.toolCallId === toolCallId);
    expect(results).toHaveLength(1);
    const at = ofRun.indexOf(called);
    const started = ofRun.findIndex(
      (f) => f.event === 'agent.started' && f.data.stepId === stepId && f.data.attempt === attempt,
    );
    const finished = ofRun.findIndex((f) => f.event === 'agent.finished' && f.data.stepId === stepId);
    expect(started).toBeGreaterThanOrEqual(0);
    expect(started).toBeLessThan(at);
    expect(ofRun.indexOf(results[0])).toBeGreaterThan(at);
    expect(ofRun.indexOf(results[0])).toBeLessThan(finished);
  }
}

describe('the calculator in runs', () => {
  it("the seed's task: the comparing executor computes the spread with the calculator, and says so", async () => {
    const { frames, runId } = await runTask(maws, QUERY);
    expect(seqs(frames)).toEqual(range(1, seqs(frames).length));
    const plan = planOf(frames);
    const compare = `exec-${plan.length}`;
    expect(plan[plan.length - 1].title).toMatch(/^Compare /);
    const tools = toolFrames(frames, runId);
    expect(tools.map((f) => `${f.event} ${f.data.stepId} ${f.data.tool}`)).toEqual([
      `tool.called ${compare} calculator`,
      `tool.result ${compare} calculator`,
    ]);
    const [called, result] = tools as [FrameOf<'tool.called'>, FrameOf<'tool.result'>];
    expect(called.data).toEqual({
      runId,
      stepId: compare,
      attempt: 1,
      toolCallId: expect.any(String),
      tool: 'calculator',
      input: { expression: expect.stringMatching(/^(\(-[\d.]+\)|[\d.]+) - (\(-[\d.]+\)|[\d.]+)$/) },
    });
    expect(result.data).toEqual({
      runId,
      stepId: compare,
      attempt: 1,
      toolCallId: called.data.toolCallId,
      tool: 'calculator',
      ok: true,
      output: expect.stringMatching(/^-?[\d.]+$/),
      ms: expect.any(Number),
    });
    // The value is the spread of the figures the earlier executors wrote.
    const figures = plan.slice(0, -1).map((_, i) => {
      const text = (outputOf(frames, `exec-${i + 1}`) as { text: string }).text;
      return Number(/([+-]\d+(?:\.\d+)?)%/.exec(text)![1]);
    });
    const spread = Math.max(...figures) - Math.min(...figures);
    expect(Number(result.data.output)).toBeCloseTo(spread, 6);
    const finding = outputOf(frames, compare) as { text: string; toolCalls: unknown };
    expect(finding.toolCalls).toEqual([{ tool: 'calculator', ok: true }]);
    const value = String(result.data.output);
    expect(finding.text).toContain(
      `computed with the calculator: ${(called.data.input as { expression: string }).expression} = ${value}`,
    );
    for (const [i] of plan.slice(0, -1).entries()) {
      expect(outputOf(frames, `exec-${i + 1}`)).toMatchObject({ toolCalls: [] });
    }
    const report = frames.find(
      (f) => f.event === 'run.completed' && f.data.runId === runId,
    ) as FrameOf<'run.completed'>;
    expect(report.data.report).toContain(`= ${value})`);
    expectPairedInsideSteps(frames, runId);
  });

  it('an executor whose task holds arithmetic calls the calculator and uses the exact value', async () => {
    // Decimal, not binary floating point: 0.1 + 0.2 is 0.3, not 0.30000000000000004.
    const { frames, runId } = await runTask(maws, 'Is 0.1 + 0.2 of the budget enough for the trip?');
    const results = toolFrames(frames, runId).filter((f): f is FrameOf<'tool.result'> => f.event === 'tool.result');
    const plan = planOf(frames);
    expect(results).toHaveLength(plan.length);
    for (const r of results) expect(r.data).toMatchObject({ tool: 'calculator', ok: true, output: '0.3' });
    for (const [i] of plan.entries()) {
      expect((outputOf(frames, `exec-${i + 1}`) as { text: string }).text).toContain(
        'Computed with the calculator: 0.1 + 0.2 = 0.3.',
      );
    }
    expectPairedInsideSteps(frames, runId);
  });

  it('a tool error goes back to the model as the result, and the run completes', async () => {
    const { frames, runId } = await runTask(maws, 'What is 5 / 0 in this budget?');
    const results = toolFrames(frames, runId).filter((f): f is FrameOf<'tool.result'> => f.event === 'tool.result');
    expect(results.length).toBeGreaterThan(0);
    for (const r of results) {
      expect(r.data.ok).toBe(false);
      expect(r.data.error).toEqual({ code: 'TOOL_INVALID_INPUT', message: expect.stringMatching(/division by zero/) });
      expect(r.data).not.toHaveProperty('output');
      const finding = outputOf(frames, r.data.stepId) as { text: string; toolCalls: unknown };
      expect(finding.toolCalls).toEqual([{ tool: 'calculator', ok: false }]);
      expect(finding.text).toMatch(/The calculator could not compute 5 \/ 0: TOOL_INVALID_INPUT/);
    }
  });

  it('TOOLS=none: no tool is offered, and the model writes without one', async () => {
    const { frames, runId } = await runTask(bare, QUERY);
    expect(toolFrames(frames, runId)).toEqual([]);
    const plan = planOf(frames);
    expect(outputOf(frames, `exec-${plan.length}`)).toMatchObject({ toolCalls: [] });
  });
});

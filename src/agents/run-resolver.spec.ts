/**
 * The resolver's model-facing behaviour with a scripted model and an in-memory event log:
 * the plan's repair, the restart of a step whose stream broke off, and token usage.
 */
import type { RedisClient } from '../store/redis-connection';
import { StoreWrites } from '../store/store-writes';
import type { EventLog } from '../events/event-log';
import type { PendingEvent } from '../events/frames';
import type { ChatMessage, ModelProvider, ModelRequest, ModelStream, ModelUsage } from '../llm/model-provider';
import { ModelStreamCutError, ModelUnavailableError, PermanentModelError } from '../llm/model-provider';
import { ReplanExhaustedError } from './replanning/replan-exhausted-error';
import type { RunRecord } from '../store/run-record';
import type { RunStore } from '../store/run-store';
import { PlanInvalidError } from './plan-parser';
import { RunResolver } from './run-resolver';
import { RunTakenOverError } from '../events/run-event-writer';
import { MAX_STREAM_RESTARTS } from './step-runner';
import { toolCallKey } from './step-tools';
import { calculator } from '../tools/calculator';
import { ToolError, type ToolDefinition } from '../tools/tool';
import { ToolRegistry } from '../tools/tool-registry';
import { z } from 'zod';

jest.setTimeout(20_000);

/** A scripted tool call: run through the request's tools, or refused by the loop (`refused`). */
type ScriptedCall = { tool: string; input: unknown; refused?: ToolError };
type Reply = ({ text: string; usage?: ModelUsage } | { cutAfter: string } | { error: Error }) & {
  /** Tool calls made before the text, as the AI SDK's loop makes them. */
  calls?: ScriptedCall[];
};

/** A model whose replies are scripted per agent; unscripted calls get a fitting default. */
class ScriptedModel implements ModelProvider {
  readonly name = 'scripted';
  readonly calls: ModelRequest[] = [];
  /** Per call: what each of its tool calls answered (an output, or the ToolError). */
  readonly answers: unknown[][] = [];
  private readonly scripts = new Map<string, Reply[]>();

  script(agent: string, ...replies: Reply[]): void {
    this.scripts.set(agent, [...(this.scripts.get(agent) ?? []), ...replies]);
  }

  stream(request: ModelRequest, signal: AbortSignal): ModelStream {
    this.calls.push(request);
    const reply = this.scripts.get(request.agent)?.shift() ?? this.defaultReply(request);
    const usage = 'text' in reply ? (reply.usage ?? { inputTokens: 10, outputTokens: 5 }) : undefined;
    const answers: unknown[] = [];
    this.answers.push(answers);
    async function* chunks(): AsyncGenerator<string> {
      await Promise.resolve();
      for (const [i, call] of (reply.calls ?? []).entries()) {
        const modelCall = { modelCallId: `m${i}`, tool: call.tool, input: call.input };
        if (call.refused) await request.tools!.refused(modelCall, call.refused);
        else answers.push(await request.tools!.call(modelCall, signal).catch((err: Error) => err));
      }
      if ('error' in reply) throw reply.error;
      const text = 'text' in reply ? reply.text : reply.cutAfter;
      for (const piece of text.match(/\s*\S+\s*/g) ?? []) yield piece;
      if ('cutAfter' in reply) throw new ModelStreamCutError('connection lost');
    }
    return { chunks: chunks(), usage: () => Promise.resolve(usage ?? { inputTokens: 0, outputTokens: 0 }) };
  }

  defaultPlan(): Reply {
    return {
      text: JSON.stringify({
        subtasks: [
          { title: 'A', description: 'a' },
          { title: 'B', description: 'b' },
        ],
      }),
    };
  }

  private defaultReply(request: ModelRequest): Reply {
    switch (request.agent) {
      case 'planner':
        return this.defaultPlan();
      case 'executor':
        return { text: `finding for ${request.facts.subtask?.title ?? '?'}` };
      case 'aggregator':
        return { text: '# Report\n\nDone.' };
      case 'clarifier':
        return { text: 'Working.' };
    }
  }
}

interface Fixture {
  resolver: RunResolver;
  events: PendingEvent[];
  finished: { outcome: string; terminal: PendingEvent }[];
}

function fixture(
  model: ModelProvider,
  run: Partial<RunRecord> = {},
  maxSubtasks = 4,
  tools?: ToolRegistry,
  /** From the first batch this says yes to on, the log answers as to a worker whose run was taken over. */
  takenOverAt?: (batch: PendingEvent[]) => boolean,
  maxReplans = 2,
): Fixture {
  const events: PendingEvent[] = [];
  const finished: Fixture['finished'] = [];
  let seq = 0;
  let takenOver = false;
  const log = {
    append: (_key: string, batch: PendingEvent[]) => {
      takenOver ||= takenOverAt?.(batch) ?? false;
      if (takenOver) return Promise.resolve('superseded');
      events.push(...batch);
      seq += batch.length;
      return Promise.resolve(seq);
    },
    // A new fencing token, and run.started in the record's mode, once (as the Lua script does).
    activateRun: (_key: string, _runId: string, variants: Record<string, PendingEvent>) => {
      if (!record.started) {
        events.push(variants[record.mode]);
        seq += 1;
      }
      record.started = true;
      record.fence += 1;
      return Promise.resolve({ status: 'activated', fence: record.fence, run: { ...record } });
    },
    steersAfter: () => Promise.resolve([]),
    finishRun: (_key: string, _runId: string, outcome: string, terminal: PendingEvent) => {
      finished.push({ outcome, terminal });
      events.push(terminal);
      return Promise.resolve(true);
    },
  } as unknown as EventLog;
  const record: RunRecord = {
    runId: 'r_test0001',
    mode: 'task',
    input: 'Compare A and B',
    status: 'running',
    started: true,
    fence: 0,
    outputs: {},
    attempts: {},
    toolCalls: [],
    failed: {},
    inputRequests: 0,
    answers: {},
    requests: {},
    planApproved: false,
    steers: [],
    steersApplied: 0,
    ...run,
  };
  const runs = { get: () => Promise.resolve(record) } as unknown as RunStore;
  // The fake log never refuses a write, so the store-writes guard never reaches its Redis.
  const writes = new StoreWrites({} as RedisClient, 'Test');
  const resolver = new RunResolver(
    log,
    runs,
    model,
    { maxSubtasks, maxReplans, planReview: 'never', inputTtlSeconds: 60, deltaFlushMs: 0, modelTimeoutMs: 5_000 },
    writes,
    tools,
  );
  return { resolver, events, finished };
}

const resolve = async (fx: Fixture, signal = new AbortController().signal): Promise<void> => {
  const activation = await fx.resolver.activate('session', 'r_test0001');
  if (!activation) throw new Error('not activated');
  await fx.resolver.resolve(activation, signal);
};

const data = (e: PendingEvent): any => e.data;
const started = (fx: Fixture, stepId: string): number[] =>
  fx.events
    .filter((e) => e.event === 'agent.started' && data(e).stepId === stepId)
    .map((e) => data(e).attempt as number);

describe('RunResolver with a real-provider-like model', () => {
  it('reports usage per step in agent.finished and their sum in run.completed', async () => {
    const model = new ScriptedModel();
    model.script('planner', {
      text: JSON.stringify({
        subtasks: [
          { title: 'A', description: '' },
          { title: 'B', description: '' },
        ],
      }),
      usage: { inputTokens: 100, outputTokens: 20 },
    });
    model.script('executor', { text: 'one', usage: { inputTokens: 7, outputTokens: 1 } });
    model.script('executor', { text: 'two', usage: { inputTokens: 8, outputTokens: 2 } });
    model.script('aggregator', { text: '# R', usage: { inputTokens: 30, outputTokens: 3 } });
    const fx = fixture(model);
    await resolve(fx);
    const usages = fx.events.filter((e) => e.event === 'agent.finished').map((e) => data(e).usage);
    expect(usages).toEqual([
      { inputTokens: 100, outputTokens: 20 },
      { inputTokens: 7, outputTokens: 1 },
      { inputTokens: 8, outputTokens: 2 },
      { inputTokens: 30, outputTokens: 3 },
    ]);
    expect(fx.finished[0].terminal.event).toBe('run.completed');
    expect(data(fx.finished[0].terminal).usage).toEqual({ inputTokens: 145, outputTokens: 26 });
    // The planner asked for structured output with the plan's schema.
    expect(model.calls[0].json).toBe(true);
    expect(model.calls[0].schema).toMatchObject({ required: ['subtasks'] });
  });

  it('a resumed run counts the usage its finished steps stored', async () => {
    const model = new ScriptedModel();
    model.script('aggregator', { text: '# R', usage: { inputTokens: 30, outputTokens: 3 } });
    const plan = [
      { title: 'A', description: '' },
      { title: 'B', description: '' },
    ];
    const fx = fixture(model, {
      plan,
      outputs: {
        plan: { plan, usage: { inputTokens: 100, outputTokens: 20 } },
        'exec-1': { text: 'one', usage: { inputTokens: 7, outputTokens: 1 } },
        'exec-2': { text: 'two' }, // stored before usage was kept: counts as zero
      },
    });
    await resolve(fx);
    expect(model.calls.map((c) => c.agent)).toEqual(['aggregator']);
    expect(data(fx.finished[0].terminal).usage).toEqual({ inputTokens: 137, outputTokens: 24 });
  });

  it('an invalid plan is repaired once: the planner step starts again with attempt 2 and a repair message', async () => {
    const model = new ScriptedModel();
    const tooLong = JSON.stringify({ subtasks: ['1', '2', '3', '4', '5'].map((t) => ({ title: t, description: '' })) });
    model.script('planner', { text: tooLong, usage: { inputTokens: 50, outputTokens: 10 } });
    model.script('planner', {
      text: JSON.stringify({
        subtasks: [
          { title: 'X', description: '' },
          { title: 'Y', description: '' },
        ],
      }),
      usage: { inputTokens: 70, outputTokens: 9 },
    });
    const fx = fixture(model);
    await resolve(fx);
    expect(started(fx, 'plan')).toEqual([1, 2]);
    const repair = model.calls[1].messages;
    expect(repair.slice(0, -2)).toEqual(model.calls[0].messages);
    expect(repair[repair.length - 2]).toEqual<ChatMessage>({ role: 'assistant', content: tooLong });
    expect(repair[repair.length - 1].role).toBe('user');
    expect(repair[repair.length - 1].content).toContain('at most 4');
    const planFinished = fx.events.find((e) => e.event === 'agent.finished' && data(e).stepId === 'plan')!;
    expect(data(planFinished).output).toEqual({
      plan: [
        { title: 'X', description: '' },
        { title: 'Y', description: '' },
      ],
    });
    expect(data(planFinished).usage).toEqual({ inputTokens: 120, outputTokens: 19 });
    expect(fx.finished[0].terminal.event).toBe('run.completed');
  });

  it('a plan still invalid after the repair fails with PLAN_INVALID', async () => {
    const model = new ScriptedModel();
    model.script('planner', { text: 'Sure! Here is my plan: first A, then B.' }, { text: '{"subtasks": []}' });
    const fx = fixture(model);
    await expect(resolve(fx)).rejects.toBeInstanceOf(PlanInvalidError);
    expect(started(fx, 'plan')).toEqual([1, 2]);
    expect(model.calls).toHaveLength(2);
    expect(model.calls[1].messages[model.calls[1].messages.length - 1].content).toContain('not valid JSON');
    expect(fx.events.some((e) => e.event === 'agent.finished')).toBe(false);
  });

  it('a repair continues from a checkpointed attempt (a resumed planner step)', async () => {
    const model = new ScriptedModel();
    model.script('planner', { text: 'nope' });
    const fx = fixture(model, { attempts: { plan: 1 } });
    await resolve(fx);
    expect(started(fx, 'plan')).toEqual([2, 3]);
  });

  it('a stream cut mid-answer restarts the step with the same stepId and attempt + 1', async () => {
    const model = new ScriptedModel();
    model.script('executor', { cutAfter: 'half an ans' }, { text: 'the whole answer' });
    const fx = fixture(model);
    await resolve(fx);
    expect(started(fx, 'exec-1')).toEqual([1, 2]);
    const exec1 = fx.events.filter((e) => data(e).stepId === 'exec-1').map((e) => e.event);
    expect(exec1[0]).toBe('agent.started');
    expect(exec1.indexOf('agent.started', 1)).toBeGreaterThan(1); // deltas of attempt 1 came first
    const finished = fx.events.find((e) => e.event === 'agent.finished' && data(e).stepId === 'exec-1')!;
    expect(data(finished).output).toEqual({ text: 'the whole answer', toolCalls: [] });
    expect(fx.finished[0].terminal.event).toBe('run.completed');
  });

  it(`a stream cut ${MAX_STREAM_RESTARTS + 1} times in a row: the step fails for good, and the plan is revised`, async () => {
    const model = new ScriptedModel();
    for (let i = 0; i <= MAX_STREAM_RESTARTS; i++) model.script('executor', { cutAfter: 'again' });
    const fx = fixture(model);
    await resolve(fx);
    expect(started(fx, 'exec-1')).toEqual(Array.from({ length: MAX_STREAM_RESTARTS + 1 }, (_, i) => i + 1));
    const failed = fx.events.find((e) => e.event === 'agent.failed')!;
    expect(data(failed)).toEqual({
      runId: 'r_test0001',
      agent: 'executor',
      stepId: 'exec-1',
      attempt: MAX_STREAM_RESTARTS + 1,
      error: { code: 'MODEL_UNAVAILABLE', message: 'connection lost' },
    });
    expect(started(fx, 'replan-1')).toEqual([1]);
    expect(fx.finished[0].terminal.event).toBe('run.completed');
  });

  it('a permanent error is not restarted: the step fails, and the replan meets the same error and fails the run', async () => {
    const model = new ScriptedModel();
    model.script('executor', { error: new PermanentModelError('MODEL_AUTH', 'set LLM_API_KEY') });
    model.script(
      'planner',
      ...[model.defaultPlan(), { error: new PermanentModelError('MODEL_AUTH', 'set LLM_API_KEY') }],
    );
    const fx = fixture(model);
    await expect(resolve(fx)).rejects.toBeInstanceOf(PermanentModelError);
    expect(started(fx, 'exec-1')).toEqual([1]);
    expect(fx.events.filter((e) => e.event === 'agent.failed').map((e) => data(e).error.code)).toEqual(['MODEL_AUTH']);
  });

  it('a cancel during the pause before a restart stops at once', async () => {
    const model = new ScriptedModel();
    model.script('executor', { cutAfter: 'half' });
    const fx = fixture(model);
    const controller = new AbortController();
    const running = resolve(fx, controller.signal);
    setTimeout(() => controller.abort(new Error('cancelled')), 100);
    await expect(running).rejects.toThrow('cancelled');
    expect(started(fx, 'exec-1')).toEqual([1]);
  });
});

describe('RunResolver: tool calls of executors', () => {
  const limits = { maxSteps: 8, maxOutputChars: 50, timeoutMs: 1_000 };
  /** The calculator, and `count`, which counts its runs and echoes its input at length. */
  function tools(): { registry: ToolRegistry; runs: () => number } {
    let runs = 0;
    const count: ToolDefinition<{ n: number }> = {
      name: 'count',
      description: 'counts',
      input: z.object({ n: z.number() }),
      run: ({ n }) => {
        runs += 1;
        return Promise.resolve('x'.repeat(n));
      },
    };
    return { registry: new ToolRegistry([calculator, count], limits), runs: () => runs };
  }
  const ofStep = (fx: Fixture, stepId: string): string[] =>
    fx.events
      .filter((e) => data(e).stepId === stepId && e.event !== 'agent.delta')
      .map((e) => `${e.event}${e.event.startsWith('tool.') ? ` ${data(e).toolCallId}` : ` ${data(e).attempt ?? ''}`}`);

  it('each call is tool.called then tool.result inside its step; the outcome goes back to the model', async () => {
    const model = new ScriptedModel();
    model.script('executor', {
      calls: [
        { tool: 'calculator', input: { expression: '17*23' } },
        { tool: 'calculator', input: { expression: '1/0' } },
        { tool: 'count', input: { n: 80 } },
        { tool: 'count', input: { n: 'many' } },
        { tool: 'nope', input: {}, refused: new ToolError('TOOL_DENIED', 'no tool named "nope" is offered here') },
      ],
      text: 'found',
    });
    const { registry } = tools();
    const fx = fixture(model, {}, 4, registry);
    await resolve(fx);
    expect(ofStep(fx, 'exec-1')).toEqual([
      'agent.started 1',
      ...[1, 2, 3, 4, 5].flatMap((n) => [`tool.called tc_exec-1_1_${n}`, `tool.result tc_exec-1_1_${n}`]),
      'agent.finished ',
    ]);
    const results = fx.events.filter((e) => e.event === 'tool.result').map((e) => data(e));
    expect(results[0]).toEqual({
      runId: 'r_test0001',
      stepId: 'exec-1',
      attempt: 1,
      toolCallId: 'tc_exec-1_1_1',
      tool: 'calculator',
      ok: true,
      output: '391',
      ms: expect.any(Number),
    });
    expect(results[1]).toMatchObject({ ok: false, error: { code: 'TOOL_INVALID_INPUT' } });
    expect(results[2]).toMatchObject({ ok: true, output: 'x'.repeat(50), truncated: true });
    expect(results[3]).toMatchObject({ ok: false, error: { code: 'TOOL_INVALID_INPUT' } });
    expect(results[4]).toMatchObject({ ok: false, tool: 'nope', error: { code: 'TOOL_DENIED' } });
    const called = fx.events.find((e) => e.event === 'tool.called')!;
    expect(data(called)).toEqual({
      runId: 'r_test0001',
      stepId: 'exec-1',
      attempt: 1,
      toolCallId: 'tc_exec-1_1_1',
      tool: 'calculator',
      input: { expression: '17*23' },
    });
    // What the model got back: the value, or the error with its code first.
    const answers = model.answers[1];
    expect(answers[0]).toBe('391');
    expect(answers[1]).toBeInstanceOf(ToolError);
    expect((answers[1] as ToolError).message).toMatch(/^TOOL_INVALID_INPUT: .*division by zero/);
    const finished = fx.events.find((e) => e.event === 'agent.finished' && data(e).stepId === 'exec-1')!;
    expect(data(finished).output).toEqual({
      text: 'found',
      toolCalls: [
        { tool: 'calculator', ok: true },
        { tool: 'calculator', ok: false },
        { tool: 'count', ok: true },
        { tool: 'count', ok: false },
        { tool: 'nope', ok: false },
      ],
    });
    // What the calls gave reaches the later steps' prompts, and the run's stored knowledge.
    const aggregatorPrompt = model.calls.find((c) => c.agent === 'aggregator')!.messages[1].content;
    expect(aggregatorPrompt).toContain(
      'found\nTool results:\n- calculator {"expression":"17*23"} → "391"\n- calculator {"expression":"1/0"} → TOOL_INVALID_INPUT: ',
    );
    expect(aggregatorPrompt).toContain(`- count {"n":80} → "${'x'.repeat(50)}"`);
    expect(aggregatorPrompt).not.toContain('nope');
    // Only executors are offered tools.
    expect(model.calls.map((c) => [c.agent, c.tools?.offered.map((t) => t.name)])).toEqual([
      ['planner', undefined],
      ['executor', ['calculator', 'count']],
      ['executor', ['calculator', 'count']],
      ['aggregator', undefined],
    ]);
  });

  it('a restarted step answers a recorded call from its record, and closes a call its worker left open', async () => {
    const model = new ScriptedModel();
    model.script('executor', { calls: [{ tool: 'count', input: { n: 3 } }], text: 'found again' });
    const { registry, runs } = tools();
    const plan = [
      { title: 'A', description: '' },
      { title: 'B', description: '' },
    ];
    const key = toolCallKey('count', { n: 3 });
    const fx = fixture(
      model,
      {
        plan,
        outputs: { plan: { plan } },
        attempts: { plan: 1, 'exec-1': 1 },
        toolCalls: [
          {
            toolCallId: 'tc_exec-1_1_1',
            stepId: 'exec-1',
            attempt: 1,
            tool: 'count',
            key,
            outcome: { ok: true, output: 'xxx', ms: 4 },
          },
          // Its worker was killed while this one ran.
          { toolCallId: 'tc_exec-1_1_2', stepId: 'exec-1', attempt: 1, tool: 'count', key: 'other' },
        ],
      },
      4,
      registry,
    );
    await resolve(fx);
    expect(runs()).toBe(0);
    expect(ofStep(fx, 'exec-1')).toEqual([
      'tool.result tc_exec-1_1_2',
      'agent.started 2',
      'tool.called tc_exec-1_2_1',
      'tool.result tc_exec-1_2_1',
      'agent.finished ',
    ]);
    const [closed, answered] = fx.events.filter((e) => e.event === 'tool.result').map((e) => data(e));
    expect(closed).toEqual({
      runId: 'r_test0001',
      stepId: 'exec-1',
      attempt: 1,
      toolCallId: 'tc_exec-1_1_2',
      tool: 'count',
      ok: false,
      error: { code: 'TOOL_FAILED', message: expect.stringMatching(/stopped before it finished/) },
      ms: 0,
    });
    expect(answered).toEqual({
      runId: 'r_test0001',
      stepId: 'exec-1',
      attempt: 2,
      toolCallId: 'tc_exec-1_2_1',
      tool: 'count',
      ok: true,
      output: 'xxx',
      ms: 4,
      recorded: true,
    });
    expect(model.answers[0]).toEqual(['xxx']);
  });

  it('a step restarted in place after a stream cut does not run its calls again', async () => {
    const model = new ScriptedModel();
    const call = { tool: 'count', input: { n: 2 } };
    model.script('executor', { calls: [call], cutAfter: 'half' }, { calls: [call], text: 'whole' });
    const { registry, runs } = tools();
    const fx = fixture(model, {}, 4, registry);
    await resolve(fx);
    expect(runs()).toBe(1);
    const results = fx.events.filter((e) => e.event === 'tool.result' && data(e).stepId === 'exec-1');
    expect(results.map((e) => [data(e).attempt, data(e).recorded ?? false])).toEqual([
      [1, false],
      [2, true],
    ]);
  });
});

describe('RunResolver: a run taken over while a tool call is announced', () => {
  it('the tool never runs, and nothing of the call is written', async () => {
    const runs: number[] = [];
    const effect: ToolDefinition<{ n: number }> = {
      name: 'effect',
      description: 'changes something',
      input: z.object({ n: z.number() }),
      run: ({ n }) => {
        runs.push(n);
        return Promise.resolve(n);
      },
    };
    const model = new ScriptedModel();
    model.script('executor', { calls: [{ tool: 'effect', input: { n: 1 } }], text: 'done' });
    const registry = new ToolRegistry([effect], { maxSteps: 8, maxOutputChars: 1000, timeoutMs: 1_000 });
    const fx = fixture(model, {}, 4, registry, (batch) => batch.some((e) => e.event === 'tool.called'));
    await expect(resolve(fx)).rejects.toBeInstanceOf(RunTakenOverError);
    expect(runs).toEqual([]);
    expect(fx.events.filter((e) => e.event.startsWith('tool.'))).toEqual([]);
  });
});

describe('replanning (v2): a step that fails for good', () => {
  const threeSteps = (): Reply => ({
    text: JSON.stringify({
      subtasks: [
        { title: 'A', description: 'a' },
        { title: 'B', description: 'b' },
        { title: 'Compare', description: 'c' },
      ],
    }),
  });
  const unavailable = (): Reply => ({ error: new ModelUnavailableError('the provider stayed unavailable') });
  const revision = (...subtasks: { stepId?: string; title: string }[]): Reply => ({
    text: JSON.stringify({ subtasks: subtasks.map((s) => ({ stepId: '', description: '', ...s })) }),
  });
  const named = (fx: Fixture, event: string): unknown[] => fx.events.filter((e) => e.event === event).map(data);

  it('gives agent.failed, then replan-1 and plan.updated; the kept and new steps run, finished ones never again', async () => {
    const model = new ScriptedModel();
    model.script('planner', threeSteps(), revision({ stepId: 'exec-3', title: 'Compare' }, { title: 'B again' }));
    model.script('executor', { text: 'found A' }, unavailable());
    const fx = fixture(model);
    await resolve(fx);
    const order = fx.events
      .filter((e) => ['agent.started', 'agent.failed', 'plan.updated', 'agent.skipped'].includes(e.event))
      .map((e) => `${e.event} ${data(e).stepId ?? `v${data(e).version}`}`);
    expect(order).toEqual([
      'agent.started plan',
      'agent.started exec-1',
      'agent.started exec-2',
      'agent.failed exec-2',
      'agent.started replan-1',
      'plan.updated v2',
      'agent.started exec-3',
      'agent.started exec-4',
      'agent.started aggregate',
    ]);
    expect(named(fx, 'plan.updated')).toEqual([
      {
        runId: 'r_test0001',
        version: 2,
        reason: 'step_failed',
        plan: [
          { stepId: 'exec-1', title: 'A', description: 'a' },
          { stepId: 'exec-3', title: 'Compare', description: 'c' },
          { stepId: 'exec-4', title: 'B again', description: '' },
        ],
        finished: ['exec-1'],
        dropped: [],
        failed: ['exec-2'],
      },
    ]);
    // The planner was told what failed, what is done and what is left, and asked for a revision.
    const replan = model.calls.find((c) => c.agent === 'planner' && c.facts.revision)!;
    expect(replan.facts.revision).toEqual({
      failed: { stepId: 'exec-2', title: 'B', error: 'the provider stayed unavailable' },
      finished: [{ stepId: 'exec-1', title: 'A', description: 'a', finding: 'found A' }],
      pending: [{ stepId: 'exec-3', title: 'Compare', description: 'c' }],
    });
    expect(replan.schema).toMatchObject({ properties: { subtasks: { minItems: 0 } } });
    // The aggregator sees the findings of the latest plan and is told what failed.
    const aggregator = model.calls.find((c) => c.agent === 'aggregator')!;
    expect(aggregator.facts.findings?.map((f) => f.title)).toEqual(['A', 'Compare', 'B again']);
    expect(aggregator.facts.gaps).toEqual([
      { stepId: 'exec-2', title: 'B', status: 'failed', reason: 'the provider stayed unavailable' },
    ]);
    expect(aggregator.messages[1].content).toContain('Not done');
    expect(fx.finished[0].terminal.event).toBe('run.completed');
  });

  it('a revision that leaves pending steps out drops them (agent.skipped), and the report is told', async () => {
    const model = new ScriptedModel();
    model.script('planner', threeSteps(), revision());
    model.script('executor', unavailable());
    const fx = fixture(model);
    await resolve(fx);
    expect(named(fx, 'agent.skipped')).toEqual([
      { runId: 'r_test0001', stepId: 'exec-2', reason: 'version 2 of the plan dropped it after "A" failed' },
      { runId: 'r_test0001', stepId: 'exec-3', reason: 'version 2 of the plan dropped it after "A" failed' },
    ]);
    expect(named(fx, 'plan.updated')).toMatchObject([{ plan: [], finished: [], dropped: ['exec-2', 'exec-3'] }]);
    expect(started(fx, 'exec-2')).toEqual([]);
    const aggregator = model.calls.find((c) => c.agent === 'aggregator')!;
    expect(aggregator.facts.gaps?.map((g) => [g.stepId, g.status])).toEqual([
      ['exec-1', 'failed'],
      ['exec-2', 'dropped'],
      ['exec-3', 'dropped'],
    ]);
    expect(fx.finished[0].terminal.event).toBe('run.completed');
  });

  it('past MAX_REPLANS the run fails with REPLAN_EXHAUSTED', async () => {
    const model = new ScriptedModel();
    model.script(
      'planner',
      threeSteps(),
      revision({ stepId: 'exec-2', title: 'B' }, { stepId: 'exec-3', title: 'Compare' }),
      revision({ stepId: 'exec-3', title: 'Compare' }),
    );
    model.script('executor', unavailable(), unavailable(), unavailable());
    const fx = fixture(model, {}, 4, undefined, undefined, 2);
    await expect(resolve(fx)).rejects.toBeInstanceOf(ReplanExhaustedError);
    expect(named(fx, 'agent.failed').map((d) => (d as { stepId: string }).stepId)).toEqual([
      'exec-1',
      'exec-2',
      'exec-3',
    ]);
    expect(started(fx, 'replan-1')).toEqual([1]);
    expect(started(fx, 'replan-2')).toEqual([1]);
    expect(started(fx, 'replan-3')).toEqual([]);
  });

  it('a replan a crash cut off is resumed, not charged again; one that finished is not run again', async () => {
    const plan = [
      { title: 'A', description: 'a' },
      { title: 'B', description: 'b' },
    ];
    const failure = { title: 'A', attempt: 1, error: { code: 'MODEL_UNAVAILABLE' as const, message: 'gone' } };
    // replan-1 started (charged) and its worker died: with MAX_REPLANS=1 it still runs, as attempt 2.
    const model = new ScriptedModel();
    model.script('planner', revision({ stepId: 'exec-2', title: 'B' }));
    const fx = fixture(
      model,
      {
        plan,
        outputs: { plan: { plan } },
        attempts: { plan: 1, 'exec-1': 1, 'replan-1': 1 },
        failed: { 'exec-1': failure },
      },
      4,
      undefined,
      undefined,
      1,
    );
    await resolve(fx);
    expect(started(fx, 'replan-1')).toEqual([2]);
    expect(started(fx, 'exec-1')).toEqual([]);
    expect(fx.finished[0].terminal.event).toBe('run.completed');

    // replan-1 finished before the crash: the next failure is past the budget at once.
    const stored = {
      version: 2,
      steps: [{ stepId: 'exec-2', title: 'B', description: 'b' }],
      finished: [],
      dropped: [],
      failed: ['exec-1'],
      after: 'exec-1',
    };
    const again = new ScriptedModel();
    again.script('executor', unavailable());
    const fx2 = fixture(
      again,
      {
        plan,
        outputs: { plan: { plan }, 'replan-1': stored },
        attempts: { plan: 1, 'exec-1': 1, 'replan-1': 1 },
        failed: { 'exec-1': failure },
        revisedPlan: { version: 2, steps: stored.steps },
      },
      4,
      undefined,
      undefined,
      1,
    );
    await expect(resolve(fx2)).rejects.toBeInstanceOf(ReplanExhaustedError);
    expect(again.calls.map((c) => c.agent)).toEqual(['executor']);
  });
});

/**
 * The resolver's model-facing behaviour with a scripted model and an in-memory event log:
 * the plan's repair, the restart of a step whose stream broke off, and token usage.
 */
import type Redis from 'ioredis';
import { StoreWrites } from '../store/store-writes';
import type { EventLog } from '../events/event-log';
import type { PendingEvent } from '../events/frames';
import type { ChatMessage, ModelProvider, ModelRequest, ModelStream, ModelUsage } from '../llm/model-provider';
import { ModelStreamCutError, PermanentModelError } from '../llm/model-provider';
import type { RunRecord } from '../store/run-record';
import type { RunStore } from '../store/run-store';
import { PlanInvalidError } from './plan-parser';
import { RunResolver } from './run-resolver';
import { MAX_STREAM_RESTARTS } from './step-runner';

jest.setTimeout(20_000);

type Reply = { text: string; usage?: ModelUsage } | { cutAfter: string } | { error: Error };

/** A model whose replies are scripted per agent; unscripted calls get a fitting default. */
class ScriptedModel implements ModelProvider {
  readonly name = 'scripted';
  readonly calls: ModelRequest[] = [];
  private readonly scripts = new Map<string, Reply[]>();

  script(agent: string, ...replies: Reply[]): void {
    this.scripts.set(agent, [...(this.scripts.get(agent) ?? []), ...replies]);
  }

  stream(request: ModelRequest): ModelStream {
    this.calls.push(request);
    const reply = this.scripts.get(request.agent)?.shift() ?? this.defaultReply(request);
    const usage = 'text' in reply ? (reply.usage ?? { inputTokens: 10, outputTokens: 5 }) : undefined;
    async function* chunks(): AsyncGenerator<string> {
      await Promise.resolve();
      if ('error' in reply) throw reply.error;
      const text = 'text' in reply ? reply.text : reply.cutAfter;
      for (const piece of text.match(/\s*\S+\s*/g) ?? []) yield piece;
      if ('cutAfter' in reply) throw new ModelStreamCutError('connection lost');
    }
    return { chunks: chunks(), usage: () => Promise.resolve(usage ?? { inputTokens: 0, outputTokens: 0 }) };
  }

  private defaultReply(request: ModelRequest): Reply {
    switch (request.agent) {
      case 'planner':
        return {
          text: JSON.stringify({
            subtasks: [
              { title: 'A', description: 'a' },
              { title: 'B', description: 'b' },
            ],
          }),
        };
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

function fixture(model: ModelProvider, run: Partial<RunRecord> = {}, maxSubtasks = 4): Fixture {
  const events: PendingEvent[] = [];
  const finished: Fixture['finished'] = [];
  let seq = 0;
  const log = {
    append: (_key: string, batch: PendingEvent[]) => {
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
    ...run,
  };
  const runs = { get: () => Promise.resolve(record) } as unknown as RunStore;
  // The fake log never refuses a write, so the store-writes guard never reaches its Redis.
  const writes = new StoreWrites({} as Redis, 'Test');
  const resolver = new RunResolver(log, runs, model, { maxSubtasks, deltaFlushMs: 0, modelTimeoutMs: 5_000 }, writes);
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
    expect(data(finished).output).toEqual({ text: 'the whole answer' });
    expect(fx.finished[0].terminal.event).toBe('run.completed');
  });

  it(`a stream cut ${MAX_STREAM_RESTARTS + 1} times in a row gives up with the error`, async () => {
    const model = new ScriptedModel();
    for (let i = 0; i <= MAX_STREAM_RESTARTS; i++) model.script('executor', { cutAfter: 'again' });
    const fx = fixture(model);
    await expect(resolve(fx)).rejects.toBeInstanceOf(ModelStreamCutError);
    expect(started(fx, 'exec-1')).toEqual(Array.from({ length: MAX_STREAM_RESTARTS + 1 }, (_, i) => i + 1));
  });

  it('a permanent error is not restarted', async () => {
    const model = new ScriptedModel();
    model.script('executor', { error: new PermanentModelError('MODEL_AUTH', 'set LLM_API_KEY') });
    const fx = fixture(model);
    await expect(resolve(fx)).rejects.toBeInstanceOf(PermanentModelError);
    expect(started(fx, 'exec-1')).toEqual([1]);
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

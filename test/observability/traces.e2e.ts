/**
 * Traces (issue 17, v2 "Observability"): with OTEL_EXPORTER_OTLP_ENDPOINT set, a run's
 * activation is one OpenTelemetry trace, exported over OTLP/HTTP to a sink this test runs on
 * loopback: the gateway's command, BullMQ's add and process spans, the queue wait, `maws.run`,
 * each `maws.step`, each model call and each tool call, with their parents, across the gateway
 * and worker processes; `run.started` carries the trace id and the run's log lines name it. A
 * run woken by the person's answer is a new trace under that answer's command, linked to the
 * run's earlier activation. Prompts and output are on the spans only with
 * MAWS_TRACE_CONTENT=true; with tracing off nothing is sent at all.
 */
import type { FrameOf } from '../../src/contract';
import { logLines } from '../support/log-lines';
import type { MawsProcess } from '../support/maws-process';
import { startOtlpSink, type OtlpSink, type ReceivedSpan } from '../support/otlp-sink';
import { planOf, startRun, waitForRunEnd } from '../support/runs';
import { QUERY, unique } from '../support/scenario';
import { newSdkSession } from '../support/session';
import type { SdkTestClient } from '../support/sdk-client';
import { setUpSuite, startStack } from '../support/suite';
import { eventually } from '../support/timing';

jest.setTimeout(90_000);

/** Spans leave each process within 100 ms (the default batch delay is 5 s). */
const TRACING = { OFFLINE_TOKEN_DELAY_MS: '0', OTEL_BSP_SCHEDULE_DELAY: '100', LOG_LEVEL: 'log' };

let sink: OtlpSink;
let all: MawsProcess;
let gateway: MawsProcess;
let worker: MawsProcess;
let untraced: MawsProcess;

setUpSuite(async () => {
  sink = await startOtlpSink();
  const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url };
  const [one, split, off] = await Promise.all([
    startStack(['all'], { ...TRACING, ...endpoint, OTEL_SERVICE_NAME: 'maws-all' }),
    startStack(['gateway', 'worker'], {
      ...TRACING,
      ...endpoint,
      OTEL_SERVICE_NAME: 'maws-split',
      MAWS_TRACE_CONTENT: 'true',
    }),
    // The endpoint is set, but the exporter is turned off.
    startStack(['all'], { ...TRACING, ...endpoint, OTEL_TRACES_EXPORTER: 'none', OTEL_SERVICE_NAME: 'maws-off' }),
  ]);
  [all] = one.procs;
  [gateway, worker] = split.procs;
  [untraced] = off.procs;
});

/** Runs `text` as a task to its end; its run.started. */
async function runTask(
  proc: MawsProcess,
  text: string,
): Promise<{ client: SdkTestClient; started: FrameOf<'run.started'> }> {
  const { client } = await newSdkSession(proc, 'traces');
  const { runId } = await startRun(client, 'task.start', text);
  const { terminal } = await waitForRunEnd(client, runId, 60_000);
  expect(terminal.event).toBe('run.completed');
  return { client, started: client.frames.find((f): f is FrameOf<'run.started'> => f.event === 'run.started')! };
}

/** The spans of one trace, once its last expected span (by name) has arrived. */
async function traceOf(traceId: string, last: string): Promise<ReceivedSpan[]> {
  await eventually(
    () => Promise.resolve(sink.spans.some((s) => s.traceId === traceId && s.name === last)),
    10_000,
    `span ${last} of trace ${traceId}`,
  );
  return sink.spans.filter((s) => s.traceId === traceId);
}

/** The one span of `name` in `spans` (fails when there is none, or more than one). */
function one(spans: ReceivedSpan[], name: string, where: (s: ReceivedSpan) => boolean = () => true): ReceivedSpan {
  const found = spans.filter((s) => s.name === name && where(s));
  expect(found.map((s) => s.name)).toEqual([name]);
  return found[0];
}

const childrenOf = (spans: ReceivedSpan[], parent: ReceivedSpan): ReceivedSpan[] =>
  spans.filter((s) => s.parentSpanId === parent.spanId);

/**
 * Checks the run's trace from the command down: command → add → process → run → one step per
 * step of the run → one model call per step → the compare step's tool call. Returns the spans.
 */
function expectRunTrace(spans: ReceivedSpan[], runId: string, stepIds: string[]): Record<string, ReceivedSpan> {
  const command = one(spans, 'maws.command task.start');
  expect(command.parentSpanId).toBe('');
  expect(command.attributes['maws.run_id']).toBe(runId);
  const add = one(spans, 'add resolver.run.resolve');
  expect(add.parentSpanId).toBe(command.spanId);
  const processed = one(spans, 'process resolver');
  expect(processed.parentSpanId).toBe(add.spanId);
  const wait = one(spans, 'maws.queue.wait');
  expect(wait.parentSpanId).toBe(processed.spanId);
  expect(wait.startMs).toBeLessThanOrEqual(processed.startMs);
  const run = one(spans, 'maws.run');
  expect(run.parentSpanId).toBe(processed.spanId);
  expect(run.attributes['maws.run_id']).toBe(runId);
  const steps = spans.filter((s) => s.name === 'maws.step');
  expect(steps.map((s) => s.attributes['maws.step_id']).sort()).toEqual([...stepIds].sort());
  for (const step of steps) {
    expect(step.parentSpanId).toBe(run.spanId);
    const models = childrenOf(spans, step);
    expect(models.map((s) => s.name)).toEqual([`maws.model ${step.attributes['maws.agent']}`]);
    expect(models[0].attributes).toMatchObject({
      'gen_ai.provider.name': 'offline',
      'gen_ai.usage.output_tokens': expect.any(Number),
    });
  }
  // The compare step's call: model call → the AI SDK's loop → its tool call → MAWS's tool span.
  const tool = one(spans, 'maws.tool calculator');
  expect(tool.attributes).toMatchObject({ 'maws.tool': 'calculator', 'maws.tool.outcome': 'ok' });
  const toolCall = spans.find((s) => s.spanId === tool.parentSpanId)!;
  expect(toolCall.name).toBe('ai.toolCall');
  const ancestors: string[] = [];
  for (let s: ReceivedSpan | undefined = toolCall; s;) {
    ancestors.push(s.name);
    const parentId: string = s.parentSpanId;
    s = spans.find((p) => p.spanId === parentId);
  }
  expect(ancestors).toEqual([
    'ai.toolCall',
    'ai.streamText',
    'maws.model executor',
    'maws.step',
    'maws.run',
    'process resolver',
    'add resolver.run.resolve',
    'maws.command task.start',
  ]);
  return { command, add, processed, run, tool };
}

const stepIdsOf = (client: SdkTestClient): string[] => {
  const plan = planOf(client.frames);
  return ['plan', ...plan.map((_, i) => `exec-${i + 1}`), 'aggregate'];
};

describe('traces', () => {
  it("`all`: one trace from the command to the tool call; run.started and the run's log lines name it; no prompt on any span", async () => {
    const marker = unique('MARKER');
    const { client, started } = await runTask(all, `${QUERY} (${marker})`);
    const { runId, traceId } = started.data;
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    const spans = await traceOf(traceId!, 'maws.command task.start');
    await traceOf(traceId!, 'maws.run');
    expectRunTrace(
      sink.spans.filter((s) => s.traceId === traceId),
      runId,
      stepIdsOf(client),
    );
    expect(new Set(spans.map((s) => s.resource['service.name']))).toEqual(new Set(['maws-all']));
    // Content recording is off: the task's text is on no span.
    expect(JSON.stringify(sink.spans.filter((s) => s.resource['service.name'] === 'maws-all'))).not.toContain(marker);
    // Every line the worker logged for the run, once it was activated, names the trace.
    const runLines = logLines(all.output()).filter((l) => l.runId === runId && l.context !== 'SessionCommands');
    expect(runLines.length).toBeGreaterThan(3);
    for (const line of runLines)
      expect(line).toMatchObject({ trace_id: traceId, span_id: expect.stringMatching(/^[0-9a-f]{16}$/) });
    // BullMQ's housekeeping (stalled checks every few seconds) starts no traces.
    expect(sink.spans.filter((s) => /^(moveStalledJobsToWait|startStalledCheckTimer|getNextJob)/.test(s.name))).toEqual(
      [],
    );
    await client.close();
  });

  it('gateway and worker apart: the trace crosses both processes; with MAWS_TRACE_CONTENT=true the prompt is on the model spans', async () => {
    const marker = unique('MARKER');
    const { client, started } = await runTask(gateway, `${QUERY} (${marker})`);
    const { runId, traceId } = started.data;
    await traceOf(traceId!, 'maws.command task.start');
    await traceOf(traceId!, 'maws.run');
    const spans = sink.spans.filter((s) => s.traceId === traceId);
    const { command, add, processed, run, tool } = expectRunTrace(spans, runId, stepIdsOf(client));
    const roleOf = (s: ReceivedSpan): unknown => [s.resource['maws.role'], s.resource['process.pid']];
    expect([command, add].map(roleOf)).toEqual([
      ['gateway', gateway.pid],
      ['gateway', gateway.pid],
    ]);
    expect([processed, run, tool].map(roleOf)).toEqual([
      ['worker', worker.pid],
      ['worker', worker.pid],
      ['worker', worker.pid],
    ]);
    const prompts = spans.filter(
      (s) => s.name === 'ai.streamText' && String(s.attributes['ai.prompt']).includes(marker),
    );
    expect(prompts.length).toBeGreaterThan(0);
    await client.close();
  });

  it("a run woken by the person's answer: a new trace under run.respond, linked to the run's first activation", async () => {
    const { client } = await newSdkSession(gateway, 'traces-review');
    const ack = await client.request('task.start', { text: QUERY, review: 'plan' });
    const runId = (ack.data as { runId: string }).runId;
    const requested = await client.waitForEvent('run.input_requested', (f) => f.data.runId === runId, 30_000);
    const traceId = client.frames.find((f): f is FrameOf<'run.started'> => f.event === 'run.started')!.data.traceId!;
    const first = await traceOf(traceId, 'maws.run');
    const firstRun = one(first, 'maws.run');
    await client.request('run.respond', { requestId: requested.data.requestId, answer: { approve: true } });
    const { terminal } = await waitForRunEnd(client, runId, 60_000);
    expect(terminal.event).toBe('run.completed');
    // The second activation: its own trace, under the answer's command.
    let woken: ReceivedSpan | undefined;
    await eventually(
      () => {
        woken = sink.spans.find(
          (s) => s.name === 'maws.run' && s.attributes['maws.run_id'] === runId && s.traceId !== traceId,
        );
        return Promise.resolve(woken !== undefined);
      },
      10_000,
      'the woken run span',
    );
    const second = await traceOf(woken!.traceId, 'maws.command run.respond');
    const respond = one(second, 'maws.command run.respond');
    expect(respond.parentSpanId).toBe('');
    expect(respond.attributes['maws.run_id']).toBe(runId);
    expect(woken!.parentSpanId).toBe(respond.spanId);
    expect(woken!.links).toEqual([{ traceId, spanId: firstRun.spanId }]);
    // The executors and the aggregator ran in the woken activation, the planner in the first.
    await traceOf(woken!.traceId, 'maws.step');
    await eventually(
      () =>
        Promise.resolve(
          sink.spans.some((s) => s.traceId === woken!.traceId && s.attributes['maws.step_id'] === 'aggregate'),
        ),
      10_000,
      'the aggregate step span',
    );
    const stepsOf = (id: string): unknown[] =>
      sink.spans.filter((s) => s.traceId === id && s.name === 'maws.step').map((s) => s.attributes['maws.step_id']);
    expect(stepsOf(traceId)).toEqual(['plan']);
    expect(stepsOf(woken!.traceId)).toEqual(expect.arrayContaining(['exec-1', 'aggregate']));
    expect(stepsOf(woken!.traceId)).not.toContain('plan');
    await client.close();
  });

  it('tracing off (OTEL_TRACES_EXPORTER=none): no traceId on run.started, and nothing is sent', async () => {
    const { client, started } = await runTask(untraced, QUERY);
    expect(started.data).toEqual({ runId: started.data.runId, mode: 'task' });
    expect(sink.spans.filter((s) => s.resource['service.name'] === 'maws-off')).toEqual([]);
    expect(logLines(untraced.output()).filter((l) => 'trace_id' in l)).toEqual([]);
    await client.close();
  });
});

/**
 * End-to-end: the seed's scenarios on one `all` process, over the real WebSocket, held to
 * /work/shared/protocol.md (task flow and its event order, chat while running, refinement,
 * several sockets on one session, user isolation, resuming by seq).
 */
import type { AnyDurableFrame, PlanItem, ReplyFrame, RunMode } from '../src/contract';
import { queuePrefixOf } from '../src/store/redis-keys';
import { expectEvent, isDurable, isEvent, runIdOf } from './support/frames';
import type { MawsProcess } from './support/maws-process';
import { adminRedis } from './support/redis-admin';
import type { RedisServer } from './support/redis-server';
import { expectRunOpening, planOf, startRun, waitForRunEnd } from './support/runs';
import { CHAT, QUERY, REFINE, unique } from './support/scenario';
import { connect as connectTo, type Connected } from './support/session';
import { setUpSuite, startStack } from './support/suite';
import { signToken } from './support/tokens';
import { TestClient, type ConnectOptions } from './support/ws-client';

jest.setTimeout(60_000);

const COMPANIES = ['Apple', 'Google', 'Tesla'];
const RUN_TIMEOUT_MS = 30_000;
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

let redis: RedisServer;
let maws: MawsProcess;

setUpSuite(async () => {
  ({
    redis,
    procs: [maws],
  } = await startStack(['all'], { OFFLINE_TOKEN_DELAY_MS: '5' }));
});

// ---------------------------------------------------------------------------------------------
// helpers

/** Connects and waits for the snapshot (which must be the first frame). */
function connect(sessionId: string, token: string, opts: ConnectOptions = {}): Promise<Connected> {
  return connectTo(maws, sessionId, token, opts);
}

/** The durable frames' seqs are exactly first, first+1, ... */
function expectConsecutiveSeqs(durable: AnyDurableFrame[], first: number): void {
  const seqs = durable.map((f) => f.seq);
  expect(seqs).toEqual(seqs.map((_, i) => first + i));
  for (const f of durable) {
    expect(typeof f.ts).toBe('string');
    expect(f.ts).toMatch(ISO_8601);
    expect(Number.isNaN(Date.parse(f.ts))).toBe(false);
  }
}

/** One line per frame; a run of deltas of one step collapses into one `agent.delta+` line. */
function shapeOf(frames: AnyDurableFrame[]): string[] {
  const out: string[] = [];
  for (const f of frames) {
    let s: string = f.event;
    if (f.event === 'agent.delta') s = `agent.delta+ ${f.data.agent}/${f.data.stepId}`;
    else if (isEvent(f, ['agent.started', 'agent.finished'])) s += ` ${f.data.agent}/${f.data.stepId}`;
    else if (isEvent(f, ['tool.called', 'tool.result'])) s += ` ${f.data.tool}/${f.data.stepId}`;
    else if (f.event === 'session.state') s += ` ${f.data.state}`;
    else if (f.event === 'user.message') s += ` ${f.data.kind}`;
    else if (f.event === 'run.queued' || f.event === 'run.started') s += ` ${f.data.mode}`;
    if (f.event === 'agent.delta' && out[out.length - 1] === s) continue;
    out.push(s);
  }
  return out;
}

interface CheckedRun {
  plan: PlanItem[];
  report: string;
  /** stepId → concatenated delta text */
  deltas: Map<string, string>;
  /** stepId → agent.finished output */
  outputs: Map<string, Record<string, unknown>>;
}

/**
 * Checks one run's durable frames (from its user.message to the session.state after its
 * terminal event, nothing else) against the contract's order, and returns its plan and report.
 */
function checkCompletedRun(
  frames: AnyDurableFrame[],
  run: { runId: string; mode: RunMode; input: string },
): CheckedRun {
  const { runId, mode } = run;
  const planFrame = frames.find((f) => f.event === 'agent.finished' && f.data.stepId === 'plan');
  expect(planFrame).toBeDefined();
  const plan = planOf(frames);
  expect(Array.isArray(plan)).toBe(true);
  expect(plan.length).toBeGreaterThan(0);
  for (const item of plan) {
    expect(typeof item.title).toBe('string');
    expect(item.title.length).toBeGreaterThan(0);
    expect(typeof item.description).toBe('string');
  }

  const step = (agent: string, stepId: string): string[] => [
    `agent.started ${agent}/${stepId}`,
    `agent.delta+ ${agent}/${stepId}`,
    `agent.finished ${agent}/${stepId}`,
  ];
  // The offline model's tool rule: a step comparing earlier findings computes their spread
  // with the calculator first, then writes (offline-tool-rule.ts).
  const executor = (item: PlanItem, stepId: string): string[] =>
    /^Compare /.test(item.title)
      ? [
          `agent.started executor/${stepId}`,
          `tool.called calculator/${stepId}`,
          `tool.result calculator/${stepId}`,
          `agent.delta+ executor/${stepId}`,
          `agent.finished executor/${stepId}`,
        ]
      : step('executor', stepId);
  const expected = [
    `user.message ${mode}`,
    'session.state EXECUTING',
    `run.queued ${mode}`,
    `run.started ${mode}`,
    ...step('planner', 'plan'),
    ...plan.flatMap((item, i) => executor(item, `exec-${i + 1}`)),
    ...step('aggregator', 'aggregate'),
    'run.completed',
    'session.state REFINEMENT_READY',
  ];
  expect(shapeOf(frames)).toEqual(expected);

  expectRunOpening(frames, run);

  const deltas = new Map<string, string>();
  const outputs = new Map<string, Record<string, unknown>>();
  for (const f of frames.slice(3, -1)) {
    expect(runIdOf(f)).toBe(runId);
    if (f.event === 'agent.started') {
      expect(f.data.attempt).toBe(1);
      deltas.set(f.data.stepId, '');
    } else if (f.event === 'agent.delta') {
      expect(typeof f.data.text).toBe('string');
      deltas.set(f.data.stepId, (deltas.get(f.data.stepId) ?? '') + f.data.text);
    } else if (f.event === 'agent.finished') {
      outputs.set(f.data.stepId, f.data.output as Record<string, unknown>);
    }
  }

  const completed = expectEvent(frames[frames.length - 2], 'run.completed');
  const report = completed.data.report;
  expect(typeof report).toBe('string');

  // Each executor's deltas are its output text; the aggregator's are the report.
  plan.forEach((_, i) => {
    const stepId = `exec-${i + 1}`;
    const output = outputs.get(stepId) as { text: string };
    expect(typeof output.text).toBe('string');
    expect(output.text.length).toBeGreaterThan(0);
    expect(deltas.get(stepId)).toBe(output.text);
  });
  const aggregate = outputs.get('aggregate') as { report: string };
  expect(typeof aggregate.report).toBe('string');
  expect((deltas.get('aggregate') ?? '').trim()).toBe(aggregate.report.trim());
  expect(report.trim()).toBe(aggregate.report.trim());
  expect((deltas.get('plan') ?? '').length).toBeGreaterThan(0);

  const last = expectEvent(frames[frames.length - 1], 'session.state');
  expect(last.data.state).toBe('REFINEMENT_READY');
  return { plan, report, deltas, outputs };
}

/** The ids of the resolver queue's jobs (as Bull Board lists them) for a session id. */
async function resolverJobsOf(sessionId: string): Promise<string[]> {
  const db = adminRedis(redis);
  const keys = await db.keys(`${queuePrefixOf('resolver')}:resolver:r_*`);
  const ids: string[] = [];
  for (const key of keys) {
    const data = await db.hget(key, 'data');
    if (data && (JSON.parse(data) as { sessionKey: string }).sessionKey.endsWith(`.${sessionId}`)) {
      ids.push(key.slice(`${queuePrefixOf('resolver')}:resolver:`.length));
    }
  }
  return ids;
}

/** Runs QUERY (via `message`) on a connected client and waits until the run has ended. */
async function runTask(client: TestClient): Promise<{ ack: ReplyFrame<'ack'>; runId: string }> {
  const { ack, runId } = await startRun(client, 'message', QUERY);
  const { terminal, state } = await waitForRunEnd(client, runId, RUN_TIMEOUT_MS);
  expect(terminal.event).toBe('run.completed');
  expect(state.data.state).toBe('REFINEMENT_READY');
  return { ack, runId };
}

// ---------------------------------------------------------------------------------------------
// A task run watched by two sockets of its session and by another user with the same sessionId.
// Built once, on first use; the tests below only read it.

interface FlowFixture {
  sessionId: string;
  token: string;
  first: TestClient;
  second: TestClient;
  stranger: TestClient;
  firstSnapshot: ReplyFrame<'session.snapshot'>;
  secondSnapshot: ReplyFrame<'session.snapshot'>;
  strangerSnapshot: ReplyFrame<'session.snapshot'>;
  ack: ReplyFrame<'ack'>;
  requestId: string;
  runId: string;
}

let flowPromise: Promise<FlowFixture> | undefined;

function flowFixture(): Promise<FlowFixture> {
  flowPromise ??= (async () => {
    const sessionId = unique('flow');
    const token = signToken(unique('alice'));
    const strangerToken = signToken(unique('mallory'));
    const { client: first, snapshot: firstSnapshot } = await connect(sessionId, token);
    const { client: second, snapshot: secondSnapshot } = await connect(sessionId, token);
    const { client: stranger, snapshot: strangerSnapshot } = await connect(sessionId, strangerToken);

    const requestId = first.nextId();
    const ackPromise = first.waitForEvent(['ack', 'error'], (f) => f.data.replyTo === requestId);
    first.send('message', { text: QUERY }, requestId);
    const ack = expectEvent(await ackPromise, 'ack');
    const runId = ack.data.runId as string;
    expect(typeof runId).toBe('string');
    const end = await waitForRunEnd(first, runId, RUN_TIMEOUT_MS);
    expect(end.terminal.event).toBe('run.completed');
    await waitForRunEnd(second, runId, RUN_TIMEOUT_MS);
    await first.flush();
    await second.flush();
    await stranger.flush();
    return {
      sessionId,
      token,
      first,
      second,
      stranger,
      firstSnapshot,
      secondSnapshot,
      strangerSnapshot,
      ack,
      requestId,
      runId,
    };
  })();
  return flowPromise;
}

// ---------------------------------------------------------------------------------------------

describe('connecting', () => {
  it('sends session.snapshot first, with state IDLE and lastSeq 0 on a new session', async () => {
    const client = await TestClient.connect(maws.wsUrl!, unique('fresh'), signToken(unique('u')));
    const first = await client.waitFor(() => true, 10_000);
    expect(first.event).toBe('session.snapshot');
    expect(first).not.toHaveProperty('seq');
    expect(first.data).toEqual({ state: 'IDLE', lastSeq: 0 });
    await client.flush();
    expect(client.durable()).toEqual([]);
    await client.close();
  });
});

describe('a task, end to end', () => {
  it('acks the message with its runId and streams the run in the contract order, seqs 1..N', async () => {
    const fx = await flowFixture();
    expect(fx.firstSnapshot.data).toEqual({ state: 'IDLE', lastSeq: 0 });

    expect(fx.ack.data.replyTo).toBe(fx.requestId);
    expect(fx.ack.data.runId).toEqual(expect.any(String));
    expect(fx.ack.data.runId!.length).toBeGreaterThan(0);
    expect(fx.ack).not.toHaveProperty('seq');

    const durable = fx.first.durable();
    expectConsecutiveSeqs(durable, 1);
    const run = checkCompletedRun(durable, { runId: fx.runId, mode: 'task', input: QUERY });

    // The plan: one subtask per company plus a comparison.
    expect(run.plan).toHaveLength(4);
    for (const company of COMPANIES) {
      expect(run.plan.some((p) => p.title.includes(company))).toBe(true);
    }
    COMPANIES.forEach((company, i) => {
      expect(`${run.plan[i].title} ${run.plan[i].description}`).toContain(company);
    });
    expect(`${run.plan[3].title} ${run.plan[3].description}`).toMatch(/compar/i);

    // The report.
    expect(run.report.startsWith('# Report:')).toBe(true);
    for (const company of COMPANIES) expect(run.report).toContain(company);

    // Replies carry no seq; nothing but the snapshot, the ack and pongs is non-durable here.
    const replies = fx.first.frames.filter((f) => !isDurable(f));
    expect(replies.map((f) => f.event).sort()).toEqual(['ack', 'pong', 'session.snapshot']);
  });

  it('a reconnect after the run shows REFINEMENT_READY with the report and the last seq', async () => {
    const fx = await flowFixture();
    const last = fx.first.lastSeq();
    const report = fx.first.events('run.completed')[0].data.report;
    const { client, snapshot } = await connect(fx.sessionId, fx.token);
    expect(snapshot.data).toEqual({ state: 'REFINEMENT_READY', lastSeq: last, report });
    await client.flush();
    expect(client.durable()).toEqual([]);
    await client.close();
  });
});

describe('chat while the run executes', () => {
  it('routes `message` to the Clarifier, answers with the real progress, and the run completes', async () => {
    const sessionId = unique('chat');
    const { client } = await connect(sessionId, signToken(unique('carol')));
    const { runId } = await startRun(client, 'message', QUERY);

    await client.waitForEvent(
      'agent.started',
      (f) => f.data.runId === runId && f.data.stepId === 'exec-2',
      RUN_TIMEOUT_MS,
    );
    const chatId = client.nextId();
    const since = client.frames.length;
    const chatAck = client.waitForEvent(['ack', 'error'], (f) => f.data.replyTo === chatId, 15_000, since);
    client.send('message', { text: CHAT }, chatId);
    expect((await chatAck).event).toBe('ack');
    const response = await client.waitForEvent('chat.response', (f) => f.data.replyTo === chatId, 15_000, since);
    const { terminal, state } = await waitForRunEnd(client, runId, RUN_TIMEOUT_MS);
    expect(terminal.event).toBe('run.completed');
    expect(state.data.state).toBe('REFINEMENT_READY');

    const durable = client.durable();
    expectConsecutiveSeqs(durable, 1);
    const isChat = (f: AnyDurableFrame): boolean =>
      f.event === 'chat.response' || (f.event === 'user.message' && f.data.kind === 'chat');
    const chatFrames = durable.filter(isChat);
    expect(chatFrames.map((f) => f.event)).toEqual(['user.message', 'chat.response']);
    expect(chatFrames[0].data).toEqual({ text: CHAT, kind: 'chat' });
    expect(chatFrames[1]).toBe(response);

    // Chat is not a run: the run's own frames are complete and in order around it.
    checkCompletedRun(
      durable.filter((f) => !isChat(f)),
      { runId, mode: 'task', input: QUERY },
    );

    // The chat left no run job behind: the session's only resolver job is its run's.
    expect(await resolverJobsOf(sessionId)).toEqual([runId]);

    const askedAt = durable.indexOf(chatFrames[0]);
    const answeredAt = durable.indexOf(response);
    const completedAt = durable.indexOf(terminal);
    const exec2StartedAt = durable.findIndex((f) => f.event === 'agent.started' && f.data.stepId === 'exec-2');
    expect(askedAt).toBeGreaterThan(exec2StartedAt);
    expect(answeredAt).toBeGreaterThan(askedAt);
    expect(answeredAt).toBeLessThan(completedAt);

    // The answer states the progress the run really had while the Clarifier looked at it
    // (somewhere between the question's user.message and the answer).
    const text = response.data.text;
    const stepMatch = /Step (\d+) of (\d+) is (running|about to start)/.exec(text);
    const doneMatch = /(\d+) of (\d+) subtasks are done/.exec(text);
    expect(stepMatch).not.toBeNull();
    expect(doneMatch).not.toBeNull();
    const said = {
      step: Number(stepMatch![1]),
      steps: Number(stepMatch![2]),
      running: stepMatch![3] === 'running',
      subtasksDone: Number(doneMatch![1]),
      subtasks: Number(doneMatch![2]),
    };
    expect(progressStates(durable, runId, askedAt, answeredAt)).toContainEqual(said);
  });
});

/**
 * The progress a run had after each durable frame in [from, to): the step (1-based over
 * planner, executors, aggregator) that is running, or the next one while between steps.
 */
function progressStates(
  durable: AnyDurableFrame[],
  runId: string,
  from: number,
  to: number,
): { step: number; steps: number; running: boolean; subtasksDone: number; subtasks: number }[] {
  let plan: unknown[] | undefined;
  let current: string | undefined;
  const finished = new Set<string>();
  const states = [];
  for (let i = 0; i < to; i++) {
    const f = durable[i];
    if (runIdOf(f) === runId) {
      if (f.event === 'agent.started') current = f.data.stepId;
      if (f.event === 'agent.finished') {
        finished.add(f.data.stepId);
        if (f.data.stepId === 'plan') plan = planOf([f]);
      }
    }
    if (i >= from && plan) {
      const steps = ['plan', ...plan.map((_, k) => `exec-${k + 1}`), 'aggregate'];
      const running = current !== undefined && !finished.has(current);
      states.push({
        step: running ? steps.indexOf(current!) + 1 : finished.size + 1,
        steps: steps.length,
        running,
        subtasksDone: steps.filter((s) => s.startsWith('exec-') && finished.has(s)).length,
        subtasks: plan.length,
      });
    }
  }
  return states;
}

describe('refinement', () => {
  it('in REFINEMENT_READY, `message` starts a refinement run that completes with a refined report', async () => {
    const sessionId = unique('refine');
    const token = signToken(unique('dave'));
    const { client } = await connect(sessionId, token);
    const task = await runTask(client);
    const taskReport = client.events('run.completed')[0].data.report;
    const before = client.lastSeq();

    const { runId } = await startRun(client, 'message', REFINE);
    expect(typeof runId).toBe('string');
    expect(runId).not.toBe(task.runId);
    const { terminal } = await waitForRunEnd(client, runId, RUN_TIMEOUT_MS);
    expect(terminal.event).toBe('run.completed');

    const durable = client.durable();
    expectConsecutiveSeqs(durable, 1);
    const refinementFrames = durable.filter((f) => f.seq > before);
    expect(refinementFrames[0].seq).toBe(before + 1);
    const run = checkCompletedRun(refinementFrames, { runId, mode: 'refinement', input: REFINE });

    expect(run.report.startsWith('# Refined report')).toBe(true);
    expect(run.report).toContain('Tesla');
    expect(run.report).toMatch(/volatility/i);
    expect(run.report).not.toBe(taskReport);
    expect(run.plan.some((p) => `${p.title} ${p.description}`.includes('Tesla'))).toBe(true);

    // The session now holds the refined report.
    const { client: again, snapshot } = await connect(sessionId, token);
    expect(snapshot.data).toEqual({
      state: 'REFINEMENT_READY',
      lastSeq: client.lastSeq(),
      report: run.report,
    });
    await again.close();
    await client.close();
  });
});

describe('several sockets and users', () => {
  it('a second socket on the same session receives the same durable frames with the same seqs', async () => {
    const fx = await flowFixture();
    expect(fx.secondSnapshot.data).toEqual({ state: 'IDLE', lastSeq: 0 });
    const firstRaw = fx.first.rawDurable();
    const secondRaw = fx.second.rawDurable();
    expect(firstRaw.length).toBeGreaterThan(0);
    expect(secondRaw).toEqual(firstRaw);
    // The second socket sent nothing but pings: it got no ack.
    expect(fx.second.events('ack')).toEqual([]);
  });

  it('another user with the same sessionId sees none of it', async () => {
    const fx = await flowFixture();
    expect(fx.strangerSnapshot.data).toEqual({ state: 'IDLE', lastSeq: 0 });
    expect(fx.stranger.durable()).toEqual([]);
    expect(fx.stranger.frames.map((f) => f.event)).toEqual(['session.snapshot', 'pong']);

    // Its own session is still empty.
    const strangerToken = signToken(unique('mallory'));
    const { client, snapshot } = await connect(fx.sessionId, strangerToken);
    expect(snapshot.data).toEqual({ state: 'IDLE', lastSeq: 0 });
    await client.flush();
    expect(client.durable()).toEqual([]);
    await client.close();
  });
});

describe('resuming', () => {
  it('?lastSeq=N replays exactly the events after N, in order, after the snapshot', async () => {
    const fx = await flowFixture();
    const history = fx.first.durable();
    const historyRaw = fx.first.rawDurable();
    const last = history[history.length - 1].seq;
    const n = Math.floor(last / 2);
    expect(n).toBeGreaterThan(0);

    const { client, snapshot } = await connect(fx.sessionId, fx.token, { lastSeq: n });
    expect(snapshot.data.state).toBe('REFINEMENT_READY');
    expect(snapshot.data.lastSeq).toBe(last);
    await client.waitFor((f) => isDurable(f) && f.seq === last, 15_000);
    await client.flush();

    const replay = client.durable();
    expect(replay.map((f) => f.seq)).toEqual(history.filter((f) => f.seq > n).map((f) => f.seq));
    const replayRaw = client.rawDurable();
    expect(replayRaw).toEqual(historyRaw.filter((_, i) => history[i].seq > n));
    expect(client.frames[0].event).toBe('session.snapshot');
    expect(client.frames.filter((f) => f.event === 'error')).toEqual([]);
    await client.close();
  });

  it('the resume command {afterSeq: N} acks, then replays exactly the events after N', async () => {
    const fx = await flowFixture();
    const history = fx.first.durable();
    const historyRaw = fx.first.rawDurable();
    const last = history[history.length - 1].seq;
    const n = Math.floor(last / 3);
    expect(n).toBeGreaterThan(0);

    const { client } = await connect(fx.sessionId, fx.token);
    await client.flush();
    expect(client.durable()).toEqual([]);

    const since = client.frames.length;
    const ack = expectEvent(await client.request('resume', { afterSeq: n }), 'ack');
    await client.waitFor((f) => isDurable(f) && f.seq === last, 15_000);
    await client.flush();

    const after = client.frames.slice(since);
    const ackAt = after.indexOf(ack);
    const firstReplayAt = after.findIndex(isDurable);
    expect(ackAt).toBeGreaterThanOrEqual(0);
    expect(firstReplayAt).toBeGreaterThan(ackAt);

    const replay = client.durable();
    expect(replay.map((f) => f.seq)).toEqual(history.filter((f) => f.seq > n).map((f) => f.seq));
    const replayRaw = client.rawDurable();
    expect(replayRaw).toEqual(historyRaw.filter((_, i) => history[i].seq > n));
    expect(client.frames.filter((f) => f.event === 'error')).toEqual([]);
    await client.close();
  });
});

/**
 * Fault tolerance (issue 3): Redis restarts.
 * - With persistence (appendonly yes): redis-server is restarted twice in the middle of a run.
 *   Gateways and workers reconnect by themselves, the run completes exactly once, and clients
 *   on both gateways see every seq once, in order.
 * - Without persistence (appendonly no): Redis comes back empty. The processes stay up, the
 *   affected run ends with a clear coded error (run.failed STATE_LOST, or RESUME_UNAVAILABLE
 *   and a snapshot) rather than hanging, and a new task afterwards works.
 * - Killed for five seconds (issue 17): each process logs a few throttled error lines naming
 *   the connection that lost Redis, as JSON, not one per reconnect attempt and not none.
 */
import { range, seqs, TERMINAL } from '../support/frames';
import { httpJson } from '../support/http';
import { startRun } from '../support/runs';
import { QUERY, unique } from '../support/scenario';
import { connect } from '../support/session';
import { setUpSuite, startStack } from '../support/suite';
import { logLines } from '../support/log-lines';
import { eventually, sleep } from '../support/timing';
import { signToken } from '../support/tokens';

jest.setTimeout(90_000);

setUpSuite();

describe('Redis restart with persistence (appendonly yes)', () => {
  it('gateways and workers reconnect; the run completes once; no gap on either gateway', async () => {
    const {
      redis,
      procs: [gatewayA, gatewayB, worker],
    } = await startStack(['gateway', 'gateway', 'worker'], { OFFLINE_TOKEN_DELAY_MS: '15' }, { appendonly: true });
    const sessionId = unique('aof');
    const token = signToken(unique('ria'));
    const { client: a } = await connect(gatewayA, sessionId, token);
    const { client: b } = await connect(gatewayB, sessionId, token);
    const { runId } = await startRun(a, 'task.start', QUERY);

    for (const step of ['exec-1', 'exec-3']) {
      await a.waitForEvent('agent.delta', (f) => f.data.runId === runId && f.data.stepId === step, 45_000);
      await redis.restart();
    }

    const end = await a.waitForEvent(TERMINAL, (f) => f.data.runId === runId, 60_000);
    expect(end.event).toBe('run.completed');
    await b.waitForEvent(TERMINAL, (f) => f.data.runId === runId, 30_000);
    await Promise.all([a.flush(20_000), b.flush(20_000)]);
    const last = a.lastSeq();
    for (const client of [a, b]) {
      expect(client.isOpen).toBe(true);
      expect(seqs(client.frames)).toEqual(range(1, last));
      expect(client.events(TERMINAL)).toHaveLength(1);
      expect(client.events('error')).toEqual([]);
    }
    expect(b.rawDurable()).toEqual(a.rawDurable());
    for (const gateway of [gatewayA, gatewayB]) {
      expect((await httpJson('GET', `${gateway.url}/health/ready`)).status).toBe(200);
    }
    expect(worker.running).toBe(true);
  });
});

describe('Redis restart without persistence (appendonly no)', () => {
  it('processes stay up; the run ends with a coded error, not a hang; a new task works', async () => {
    const {
      redis,
      procs: [gateway, worker],
    } = await startStack(['gateway', 'worker'], { OFFLINE_TOKEN_DELAY_MS: '15' }, { appendonly: false });
    const sessionId = unique('noaof');
    const token = signToken(unique('rob'));
    const { client } = await connect(gateway, sessionId, token);
    const { runId } = await startRun(client, 'task.start', QUERY);
    await client.waitForEvent('agent.delta', (f) => f.data.runId === runId && f.data.stepId === 'exec-1', 45_000);
    const before = client.frames.length;

    await redis.restart(); // comes back empty

    // A clear, coded end: run.failed STATE_LOST, or RESUME_UNAVAILABLE and a fresh snapshot.
    const coded = await client.waitFor(
      (f) =>
        (f.event === 'run.failed' && f.data.runId === runId) ||
        (f.event === 'error' && f.data.code === 'RESUME_UNAVAILABLE'),
      30_000,
      before,
    );
    if (coded.event === 'run.failed') {
      expect(coded.data.error.code).toBe('STATE_LOST');
    } else {
      const snap = await client.waitForEvent('session.snapshot', undefined, 10_000, client.frames.indexOf(coded) + 1);
      expect(snap.data.state).not.toBe('EXECUTING');
    }
    console.log(
      `redis restart without persistence: the client got ${client.frames
        .slice(before)
        .filter((f) => f.event !== 'agent.delta')
        .map((f) =>
          f.event === 'error'
            ? `error ${f.data.code}`
            : f.event === 'run.failed'
              ? `run.failed ${f.data.error.code}`
              : f.event,
        )
        .join(', ')}`,
    );

    // Processes stay up and become ready again.
    expect(gateway.running).toBe(true);
    expect(worker.running).toBe(true);
    expect((await httpJson('GET', `${gateway.url}/health/live`)).status).toBe(200);
    await eventually(
      async () => (await httpJson('GET', `${gateway.url}/health/ready`)).status === 200,
      15_000,
      'ready',
    );

    // The session is usable again on a fresh socket: a new task runs to completion.
    const { client: fresh, snapshot: snap } = await connect(gateway, sessionId, token);
    expect(snap.data.state).not.toBe('EXECUTING');
    const next = await startRun(fresh, 'task.start', QUERY);
    const done = await fresh.waitForEvent(TERMINAL, (f) => f.data.runId === next.runId, 45_000);
    expect(done.event).toBe('run.completed');
    await fresh.flush(20_000);
    expect(seqs(fresh.frames)).toEqual(range(snap.data.lastSeq + 1, fresh.lastSeq()));

    // The socket that lived through the loss is not left deaf: it saw the new run too.
    const seen = await client.waitForEvent('run.completed', (f) => f.data.runId === next.runId, 10_000);
    expect(seen.seq).toBe(done.seq);
  });
});

describe('Redis killed for five seconds', () => {
  it('each process logs a few throttled error lines naming its connections, then works again', async () => {
    const {
      redis,
      procs: [gateway, worker],
    } = await startStack(
      ['gateway', 'worker'],
      { LOG_LEVEL: 'log', OFFLINE_TOKEN_DELAY_MS: '0' },
      { appendonly: true },
    );
    const errorsOf = (output: string) => logLines(output).filter((l) => l.level === 'error');
    const before = { gateway: errorsOf(gateway.output()).length, worker: errorsOf(worker.output()).length };
    redis.kill('SIGKILL');
    await redis.exited();
    // Every connection retries many times meanwhile (ioredis's reconnect, BullMQ's workers).
    await sleep(5_000);
    await redis.restart();
    await eventually(
      async () => (await httpJson('GET', `${gateway.url}/health/ready`)).status === 200,
      30_000,
      'the gateway ready again',
    );
    const { client } = await connect(gateway, unique('after-kill'), signToken(unique('after-kill-user')));
    const { runId } = await startRun(client, 'task.start', QUERY);
    expect((await client.waitForEvent(TERMINAL, (f) => f.data.runId === runId, 60_000)).event).toBe('run.completed');

    for (const [name, proc] of [
      ['gateway', gateway],
      ['worker', worker],
    ] as const) {
      const lines = errorsOf(proc.output()).slice(before[name]);
      // Not none: the outage is reported. Not thousands: one line per source per 30 s.
      expect({ name, some: lines.length > 0 }).toEqual({ name, some: true });
      // Each names what lost Redis (a connection, a queue, a queue's worker), and each once.
      const sources = lines.map(
        (l) => /^(redis connection "[a-z]+"|queue "[a-z]+"|[a-z]+ queue worker): /.exec(l.msg)?.[1],
      );
      expect(sources).not.toContain(undefined);
      expect(new Set(sources).size).toBe(sources.length);
    }
  });
});

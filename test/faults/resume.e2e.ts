/**
 * Fault tolerance (issue 3): resume from any gateway, and bounded history.
 *
 * - A client drops mid-run on gateway A and comes back on gateway B, once with `?lastSeq=N`
 *   and once with the `resume` command: every later event, in order, no gap, no duplicate,
 *   byte for byte what the session's stored log holds.
 * - With HISTORY_MAX_EVENTS=100 a long run trims the stream: a resume from seq 1 gets
 *   RESUME_UNAVAILABLE and a snapshot with the latest report, and XLEN of the session's
 *   stream stays near the limit (Redis memory per session is bounded).
 */
import Redis from 'ioredis';
import { cleanupAll } from '../support/cleanup';
import { startMaws, type MawsProcess } from '../support/maws-process';
import { startRedis, type RedisServer } from '../support/redis-server';
import { signToken } from '../support/tokens';
import { TestClient, type Frame } from '../support/ws-client';
import { QUERY, range, seqs, TERMINAL, unique } from '../support/scenario';

jest.setTimeout(90_000);

const RUN_TIMEOUT_MS = 45_000;

const redisClients: Redis[] = [];

afterAll(async () => {
  for (const r of redisClients) r.disconnect();
  await cleanupAll();
});

function rawRedis(server: RedisServer): Redis {
  const r = new Redis(server.url, { maxRetriesPerRequest: null, lazyConnect: false });
  r.on('error', () => undefined);
  redisClients.push(r);
  return r;
}

async function connect(
  gateway: MawsProcess,
  sessionId: string,
  token: string,
  lastSeq?: number,
): Promise<{ client: TestClient; snapshot: Frame }> {
  const client = await TestClient.connect(gateway.wsUrl!, sessionId, token, lastSeq === undefined ? {} : { lastSeq });
  const snapshot = await client.waitFor(() => true, 10_000);
  expect(snapshot.event).toBe('session.snapshot');
  return { client, snapshot };
}

function terminalOf(client: TestClient, runId: string, since = 0): Promise<Frame> {
  return client.waitFor((f) => TERMINAL.includes(f.event) && f.data?.runId === runId, RUN_TIMEOUT_MS, since);
}

/** A ping answered: every frame this socket was sent before it has arrived. */
async function flush(client: TestClient): Promise<void> {
  const since = client.frames.length;
  client.send('ping', {}, client.nextId());
  await client.waitForEvent('pong', undefined, 10_000, since);
}

/** Raw durable frames of a client from frame index `since` on. */
function rawDurableSince(client: TestClient, since = 0): string[] {
  return client.raw.filter((_, i) => i >= since && typeof client.frames[i]?.seq === 'number');
}

/** The session's stream key, found by SCAN (its user part is a hash of the token's sub). */
async function logKeyOf(redis: Redis, sessionId: string): Promise<string> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', 'maws:{*}:log', 'COUNT', 1000);
    cursor = next;
    keys.push(...found.filter((k) => k.endsWith(`.${sessionId}}:log`)));
  } while (cursor !== '0');
  expect(keys).toHaveLength(1);
  return keys[0];
}

async function storedFrames(redis: Redis, key: string): Promise<string[]> {
  const entries = (await redis.xrange(key, '-', '+')) as [string, string[]][];
  return entries.map(([, fields]) => fields[1]);
}

describe('resume from another gateway', () => {
  let redis: RedisServer;
  let gatewayA: MawsProcess;
  let gatewayB: MawsProcess;

  beforeAll(async () => {
    redis = await startRedis();
    const env = { REDIS_URL: redis.url, OFFLINE_TOKEN_DELAY_MS: '8' };
    [gatewayA, gatewayB] = await Promise.all([
      startMaws('gateway', env),
      startMaws('gateway', env),
      startMaws('worker', env),
    ]);
  });

  it('drops on A mid-run, resumes on B by ?lastSeq and by `resume`: every later event once, in order', async () => {
    const sessionId = unique('resume');
    const token = signToken(unique('ada'));
    // The observer on B stays connected the whole time: the reference history.
    const { client: observer } = await connect(gatewayB, sessionId, token);
    const { client: byQuery } = await connect(gatewayA, sessionId, token);
    const { client: byCommand } = await connect(gatewayA, sessionId, token);

    const ack = await byQuery.request('task.start', { text: QUERY });
    expect(ack.event).toBe('ack');
    const runId = ack.data.runId as string;

    // The first one drops during the first executor step (no close handshake).
    await byQuery.waitFor(
      (f) => f.event === 'agent.delta' && f.data.runId === runId && f.data.stepId === 'exec-1',
      RUN_TIMEOUT_MS,
    );
    await byQuery.terminate();
    const n1 = byQuery.lastSeq();
    expect(seqs(byQuery.frames)).toEqual(range(1, n1));

    // The second one drops later, during the second executor step.
    await byCommand.waitFor(
      (f) => f.event === 'agent.delta' && f.data.runId === runId && f.data.stepId === 'exec-2',
      RUN_TIMEOUT_MS,
    );
    await byCommand.terminate();
    const n2 = byCommand.lastSeq();
    expect(seqs(byCommand.frames)).toEqual(range(1, n2));
    expect(n2).toBeGreaterThan(n1);

    // Events go on while both are away.
    await observer.waitFor(
      (f) => f.event === 'agent.started' && f.data.runId === runId && f.data.stepId === 'exec-3',
      RUN_TIMEOUT_MS,
    );

    // 1) ?lastSeq=n1 on gateway B.
    const { client: back1, snapshot: snap1 } = await connect(gatewayB, sessionId, token, n1);
    expect(snap1.data.state).toBe('EXECUTING');
    expect(snap1.data.runId).toBe(runId);
    expect(snap1.data.lastSeq).toBeGreaterThan(n2);

    // 2) A plain connection on gateway B (it goes live from its snapshot), then `resume`.
    const { client: back2 } = await connect(gatewayB, sessionId, token);
    const resumeId = back2.nextId();
    const ackIndex = back2.frames.length;
    const resumed = back2.waitFor((f) => f.event === 'ack' && f.data?.replyTo === resumeId, 10_000, ackIndex);
    back2.send('resume', { afterSeq: n2 }, resumeId);
    await resumed;
    const afterAck = back2.frames.findIndex(
      (f, i) => i >= ackIndex && f.event === 'ack' && f.data?.replyTo === resumeId,
    );

    await Promise.all([terminalOf(observer, runId), terminalOf(back1, runId), terminalOf(back2, runId, afterAck)]);
    await Promise.all([flush(observer), flush(back1), flush(back2)]);

    const history = seqs(observer.frames);
    const last = history[history.length - 1];
    expect(history).toEqual(range(1, last));
    expect(observer.events('agent.started').length).toBeGreaterThanOrEqual(6);
    const terminals = observer.frames.filter((f) => TERMINAL.includes(f.event));
    expect(terminals.map((f) => f.event)).toEqual(['run.completed']);

    // Everything after n1, once, in order.
    expect(seqs(back1.frames)).toEqual(range(n1 + 1, last));
    expect(back1.events('error')).toEqual([]);
    // After the resume's ack: everything after n2, once, in order.
    expect(seqs(back2.frames.slice(afterAck + 1))).toEqual(range(n2 + 1, last));
    expect(back2.events('error')).toEqual([]);

    // Byte for byte what the stored log holds, on every socket and both gateways.
    const r = rawRedis(redis);
    const stored = await storedFrames(r, await logKeyOf(r, sessionId));
    expect(stored).toHaveLength(last);
    expect(rawDurableSince(observer)).toEqual(stored);
    expect([...rawDurableSince(byQuery), ...rawDurableSince(back1)]).toEqual(stored);
    expect([...rawDurableSince(byCommand), ...rawDurableSince(back2, afterAck + 1)]).toEqual(stored);
  });
});

describe('history retention (HISTORY_MAX_EVENTS=100)', () => {
  let redis: RedisServer;
  let gateway: MawsProcess;

  beforeAll(async () => {
    redis = await startRedis();
    // Every model token its own agent.delta: one run writes some 600 events.
    const env = {
      REDIS_URL: redis.url,
      OFFLINE_TOKEN_DELAY_MS: '0',
      DELTA_FLUSH_MS: '0',
      HISTORY_MAX_EVENTS: '100',
      HISTORY_TTL_SECONDS: '600',
    };
    [gateway] = await Promise.all([startMaws('gateway', env), startMaws('worker', env)]);
  });

  it('a resume older than the kept history gets RESUME_UNAVAILABLE and the latest report; XLEN stays bounded', async () => {
    const sessionId = unique('retain');
    const token = signToken(unique('bea'));
    const r = rawRedis(redis);
    const { client } = await connect(gateway, sessionId, token);
    const ack = await client.request('task.start', { text: QUERY });
    const runId = ack.data.runId as string;
    const done = await terminalOf(client, runId);
    expect(done.event).toBe('run.completed');
    const report = done.data.report as string;
    await flush(client);
    const last = client.lastSeq();
    expect(seqs(client.frames)).toEqual(range(1, last));
    expect(last).toBeGreaterThan(400);

    const key = await logKeyOf(r, sessionId);
    const xlen = await r.xlen(key);
    // Trimmed approximately: never fewer than the limit, never much more.
    expect(xlen).toBeGreaterThanOrEqual(100);
    expect(xlen).toBeLessThanOrEqual(250);
    const ttl = await r.ttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(600);

    // ?lastSeq=1 is long gone: snapshot, RESUME_UNAVAILABLE, snapshot with the report, then live.
    const { client: late } = await connect(gateway, sessionId, token, 1);
    const unavailable = await late.waitForEvent('error', undefined, 10_000);
    expect(unavailable.data.code).toBe('RESUME_UNAVAILABLE');
    const snap = await late.waitForEvent('session.snapshot', undefined, 10_000, late.frames.indexOf(unavailable) + 1);
    expect(snap.data).toEqual({ state: 'REFINEMENT_READY', lastSeq: last, report });
    await flush(late);
    expect(seqs(late.frames)).toEqual([]);

    // The `resume` command the same way, with replyTo.
    const reply = await late.request('resume', { afterSeq: 1 });
    expect(reply.event).toBe('error');
    expect(reply.data.code).toBe('RESUME_UNAVAILABLE');
    const snap2 = await late.waitForEvent('session.snapshot', undefined, 10_000, late.frames.indexOf(reply) + 1);
    expect(snap2.data.report).toBe(report);

    // A resume inside the kept history still works.
    const { client: recent } = await connect(gateway, sessionId, token, last - 50);
    await flush(recent);
    expect(recent.events('error')).toEqual([]);
    expect(seqs(recent.frames)).toEqual(range(last - 49, last));

    // A second long run (a refinement) in the same session: the stream stays near the limit.
    const refine = await late.request('task.refine', { text: 'Focus on Tesla only.' });
    expect(refine.event).toBe('ack');
    const refined = await terminalOf(late, refine.data.runId as string);
    expect(refined.event).toBe('run.completed');
    await flush(late);
    expect(seqs(late.frames)).toEqual(range(last + 1, late.lastSeq()));
    const xlen2 = await r.xlen(key);
    expect(xlen2).toBeGreaterThanOrEqual(100);
    expect(xlen2).toBeLessThanOrEqual(250);
    const memory = Number(await r.call('MEMORY', 'USAGE', key));
    // ~150 frames of a few hundred bytes; far from the ~1,200 frames the session wrote.
    expect(memory).toBeLessThan(256 * 1024);
  });
});

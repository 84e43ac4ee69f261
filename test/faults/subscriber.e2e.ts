/**
 * Fault tolerance (issue 3): subscriber loss. During a run the gateway's Redis pub/sub
 * connection is killed (`CLIENT KILL TYPE pubsub`), several times. The gateway reconnects,
 * resubscribes and fills each socket from the log: the client sees every seq once, in order,
 * and the run completes.
 */
import Redis from 'ioredis';
import { cleanupAll } from '../support/cleanup';
import { startMaws, type MawsProcess } from '../support/maws-process';
import { startRedis, type RedisServer } from '../support/redis-server';
import { signToken } from '../support/tokens';
import { TestClient } from '../support/ws-client';
import { QUERY, range, seqs, TERMINAL, unique } from '../support/scenario';
import { sessionKeyOf } from '../../src/store/redis-keys';

jest.setTimeout(90_000);

let redis: RedisServer;
let admin: Redis;
let gateway: MawsProcess;

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url, { maxRetriesPerRequest: null });
  admin.on('error', () => undefined);
  const env = { REDIS_URL: redis.url, OFFLINE_TOKEN_DELAY_MS: '10' };
  [gateway] = await Promise.all([startMaws('gateway', env), startMaws('worker', env)]);
});

afterAll(async () => {
  admin?.disconnect();
  await cleanupAll();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Names (CLIENT SETNAME) of the connections currently in pub/sub mode. */
async function pubsubClients(): Promise<string[]> {
  const list = String(await admin.call('CLIENT', 'LIST', 'TYPE', 'pubsub'));
  return list
    .split('\n')
    .filter(Boolean)
    .map((line) => /(?:^| )name=(\S*)/.exec(line)?.[1] ?? '');
}

describe('subscriber loss', () => {
  it('the gateway reconnects its subscriber and fills the gap: every seq once, run completes', async () => {
    const sessionId = unique('sub');
    const token = signToken(unique('sue'));
    const client = await TestClient.connect(gateway.wsUrl!, sessionId, token);
    await client.waitForEvent('session.snapshot', undefined, 10_000);
    // The session's live channel is subscribed once the snapshot is out.
    expect(await pubsubClients()).toContain('maws:relay');

    const ack = await client.request('task.start', { text: QUERY });
    expect(ack.event).toBe('ack');
    const runId = ack.data.runId as string;
    await client.waitFor((f) => f.event === 'agent.delta' && f.data.runId === runId, 30_000);

    // Kill every pub/sub connection (the gateway's relay; the worker's control channel too)
    // again and again for 400 ms, four times, while events are written every ~10 ms: the
    // relay is away for a while each time and misses what was published meanwhile.
    const seqKey = await seqKeyOf(sessionId);
    let killed = 0;
    for (let round = 0; round < 4; round++) {
      const before = Number(await admin.get(seqKey));
      const until = Date.now() + 400;
      while (Date.now() < until) {
        killed += Number(await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub'));
        await sleep(20);
      }
      // The run went on while the relay was away.
      expect(Number(await admin.get(seqKey))).toBeGreaterThan(before);
      await sleep(500);
    }
    expect(killed).toBeGreaterThanOrEqual(4);

    const terminal = await client.waitFor((f) => TERMINAL.includes(f.event) && f.data?.runId === runId, 60_000);
    expect(terminal.event).toBe('run.completed');
    await client.waitFor((f) => f.event === 'session.state' && f.data.state === 'REFINEMENT_READY', 10_000);
    const since = client.frames.length;
    client.send('ping', {}, 'sync');
    await client.waitForEvent('pong', undefined, 10_000, since);

    const stored = Number(await admin.get(seqKey));
    expect(seqs(client.frames)).toEqual(range(1, stored));
    expect(client.events('error')).toEqual([]);
    expect(client.frames.filter((f) => TERMINAL.includes(f.event))).toHaveLength(1);
    // The relay connection is back (resubscribed).
    expect(await pubsubClients()).toContain('maws:relay');

    // And it keeps relaying live events after the drops.
    const chat = await client.request('chat.send', { text: 'Are you done?' });
    expect(chat.event).toBe('ack');
    await client.waitForEvent('chat.response', undefined, 15_000);
    expect(seqs(client.frames)).toEqual(range(1, client.lastSeq()));
  });
});

describe("a session's channel on the gateway", () => {
  /** How many connections are subscribed to the session's live channel. */
  async function subscribers(channel: string): Promise<number> {
    const [, count] = (await admin.call('PUBSUB', 'NUMSUB', channel)) as [string, number];
    return Number(count);
  }

  async function waitForSubscribers(channel: string, want: number): Promise<number> {
    const until = Date.now() + 5_000;
    let n = await subscribers(channel);
    while (n !== want && Date.now() < until) {
      await sleep(25);
      n = await subscribers(channel);
    }
    return n;
  }

  it('is subscribed once while any socket of the session is open, and let go with the last', async () => {
    const user = unique('chan');
    const sessionId = unique('two');
    const token = signToken(user);
    const channel = `maws:{${sessionKeyOf(user, sessionId)}}:live`;
    const first = await TestClient.connect(gateway.wsUrl!, sessionId, token);
    const second = await TestClient.connect(gateway.wsUrl!, sessionId, token);
    await first.waitForEvent('session.snapshot', undefined, 10_000);
    await second.waitForEvent('session.snapshot', undefined, 10_000);
    expect(await subscribers(channel)).toBe(1);

    // The first socket leaves; the second still gets the session's events.
    await first.close();
    expect((await second.request('chat.send', { text: 'Still there?' })).event).toBe('ack');
    await second.waitForEvent('chat.response', undefined, 15_000);
    expect(await subscribers(channel)).toBe(1);

    // The last one leaves: the gateway lets the channel go.
    await second.close();
    expect(await waitForSubscribers(channel, 0)).toBe(0);

    // A socket that comes back subscribes it again and is relayed to, from where it left off.
    const again = await TestClient.connect(gateway.wsUrl!, sessionId, token, { lastSeq: second.lastSeq() });
    await again.waitForEvent('session.snapshot', undefined, 10_000);
    expect(await subscribers(channel)).toBe(1);
    expect((await again.request('chat.send', { text: 'And now?' })).event).toBe('ack');
    await again.waitForEvent('chat.response', undefined, 15_000);
    expect(seqs(again.frames)).toEqual(range(second.lastSeq() + 1, again.lastSeq()));
  });
});

async function seqKeyOf(sessionId: string): Promise<string> {
  const [, keys] = await admin.scan('0', 'MATCH', `maws:{*.${sessionId}}:seq`, 'COUNT', 10_000);
  if (keys.length !== 1) throw new Error(`seq key of ${sessionId}: ${JSON.stringify(keys)}`);
  return keys[0];
}

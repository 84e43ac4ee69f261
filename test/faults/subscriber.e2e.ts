/**
 * Fault tolerance (issue 3): subscriber loss. During a run the gateway's Redis pub/sub
 * connection is killed (`CLIENT KILL TYPE pubsub`), several times. The gateway reconnects,
 * resubscribes and fills each socket from the log: the client sees every seq once, in order,
 * and the run completes.
 */
import type Redis from 'ioredis';
import { SessionKeys, sessionKeyOf } from '../support/built';
import { range, seqs, TERMINAL } from '../support/frames';
import { startMaws, type MawsProcess } from '../support/maws-process';
import { adminRedis, sessionKey } from '../support/redis-admin';
import { startRedis } from '../support/redis-server';
import { startRun } from '../support/runs';
import { QUERY, unique } from '../support/scenario';
import { connect } from '../support/session';
import { setUpSuite, startStack } from '../support/suite';
import { sleep } from '../support/timing';
import { signToken } from '../support/tokens';
import type { TestClient } from '../support/ws-client';

jest.setTimeout(90_000);

let admin: Redis;
let gateway: MawsProcess;

setUpSuite(async () => {
  const stack = await startStack(['gateway', 'worker'], { OFFLINE_TOKEN_DELAY_MS: '10' });
  admin = adminRedis(stack.redis);
  [gateway] = stack.procs;
});

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
    const { client } = await connect(gateway, sessionId, token);
    // The session's live channel is subscribed once the snapshot is out.
    expect(await pubsubClients()).toContain('maws:relay');

    const { runId } = await startRun(client, 'task.start', QUERY);
    await client.waitForEvent('agent.delta', (f) => f.data.runId === runId, 30_000);

    // Kill every pub/sub connection (the gateway's relay; the worker's control channel too)
    // again and again for 400 ms, four times, while events are written every ~10 ms: the
    // relay is away for a while each time and misses what was published meanwhile.
    const seqKey = await sessionKey(admin, sessionId, 'seq');
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

    const terminal = await client.waitForEvent(TERMINAL, (f) => f.data.runId === runId, 60_000);
    expect(terminal.event).toBe('run.completed');
    await client.waitForEvent('session.state', (f) => f.data.state === 'REFINEMENT_READY', 10_000);
    await client.flush();

    const stored = Number(await admin.get(seqKey));
    expect(seqs(client.frames)).toEqual(range(1, stored));
    expect(client.events('error')).toEqual([]);
    expect(client.events(TERMINAL)).toHaveLength(1);
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
  /** How many connections are subscribed to the session's live channel (sharded pub/sub). */
  async function subscribers(channel: string): Promise<number> {
    const [, count] = (await admin.call('PUBSUB', 'SHARDNUMSUB', channel)) as [string, number];
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
    const channel = new SessionKeys(sessionKeyOf(user, sessionId)).channel;
    const { client: first } = await connect(gateway, sessionId, token);
    const { client: second } = await connect(gateway, sessionId, token);
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
    const { client: again } = await connect(gateway, sessionId, token, { lastSeq: second.lastSeq() });
    expect(await subscribers(channel)).toBe(1);
    expect((await again.request('chat.send', { text: 'And now?' })).event).toBe('ack');
    await again.waitForEvent('chat.response', undefined, 15_000);
    expect(seqs(again.frames)).toEqual(range(second.lastSeq() + 1, again.lastSeq()));
  });
});

describe('a gateway started while Redis is stalled', () => {
  it('relays to a socket that attached during the stall, once Redis resumes', async () => {
    const redis = await startRedis();
    const env = { REDIS_URL: redis.url, OFFLINE_TOKEN_DELAY_MS: '5' };
    redis.kill('SIGSTOP');
    let late: MawsProcess;
    let client: TestClient;
    try {
      // The TCP connects are taken by the kernel meanwhile; Redis answers nothing.
      late = await startMaws('gateway', env);
      const sessionId = unique('stall');
      const opening = connect(late, sessionId, signToken(unique('stu')));
      await sleep(1_500); // the socket attaches, and its channel is subscribed, during the stall
      redis.kill('SIGCONT');
      ({ client } = await opening);
    } finally {
      redis.kill('SIGCONT');
    }
    await startMaws('worker', env);
    const { runId } = await startRun(client, 'task.start', QUERY);
    const end = await client.waitForEvent(TERMINAL, (f) => f.data.runId === runId, 60_000);
    expect(end.event).toBe('run.completed');
    expect(seqs(client.frames)).toEqual(range(1, client.lastSeq()));
    expect(late.output()).not.toMatch(/subscriber mode/);
  });
});

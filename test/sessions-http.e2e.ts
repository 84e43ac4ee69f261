/**
 * Sessions over HTTP (issue 16, v2 "Sessions over HTTP") on a real gateway, worker and Redis:
 * `GET /sessions` lists the caller's own sessions newest first (title, state, lastSeq, times);
 * `GET /sessions/{id}/events` pages through a session's history exactly as the socket saw it;
 * `DELETE /sessions/{id}` cancels a running run first, removes the session and closes its
 * sockets (4404). Another user's session is 404; no token or a bad one is 401; bad ids and
 * parameters are 400.
 */
import { Queue, QueueEvents } from 'bullmq';
import type Redis from 'ioredis';
import { JobName, type AnyDurableFrame } from '../src/contract';
import { queuePrefixOf, SessionKeys, sessionKeyOf } from '../src/store/redis-keys';
import { registerCleanup } from './support/cleanup';
import { httpJson, type HttpResult } from './support/http';
import type { MawsProcess } from './support/maws-process';
import { startRun, waitForRunEnd } from './support/runs';
import { QUERY, unique } from './support/scenario';
import { connect, newSession } from './support/session';
import { setUpSuite, startStack } from './support/suite';
import { adminRedis } from './support/redis-admin';
import { decodeTokenPayload, signToken } from './support/tokens';

jest.setTimeout(120_000);

let gateway: MawsProcess;
let admin: Redis;
let redisUrl: string;

setUpSuite(async () => {
  const stack = await startStack(['gateway', 'worker'], { OFFLINE_TOKEN_DELAY_MS: '0' });
  [gateway] = stack.procs;
  admin = adminRedis(stack.redis);
  redisUrl = stack.redis.url;
});

const call = (method: string, path: string, token?: string): Promise<HttpResult> =>
  httpJson(method, `${gateway.url}${path}`, undefined, token ? { authorization: `Bearer ${token}` } : {});

interface Listed {
  sessions: {
    sessionId: string;
    title: string;
    state: string;
    lastSeq: number;
    createdAt: string;
    updatedAt: string;
  }[];
}

describe('sessions over HTTP', () => {
  it("lists the caller's sessions newest first, with their title, state and last seq; another user sees none of them", async () => {
    const user = unique('lister');
    const token = signToken(user);
    const ids = { first: unique('first'), second: unique('second') };
    const first = await connect(gateway, ids.first, token);
    const firstRun = await startRun(first.client, 'task.start', QUERY);
    await waitForRunEnd(first.client, firstRun.runId, 60_000);
    const second = await connect(gateway, ids.second, token);
    const secondRun = await startRun(second.client, 'task.start', 'Compare solar and wind power for a small town.');
    await waitForRunEnd(second.client, secondRun.runId, 60_000);
    // A session with no run yet is not listed.
    const idle = await connect(gateway, unique('idle'), token);

    const listed = await call('GET', '/sessions', token);
    expect(listed.status).toBe(200);
    const { sessions } = listed.body as Listed;
    expect(sessions.map((s) => s.sessionId)).toEqual([ids.second, ids.first]);
    expect(sessions[0]).toEqual({
      sessionId: ids.second,
      title: 'Compare solar and wind power for a small town.',
      state: 'REFINEMENT_READY',
      lastSeq: second.client.lastSeq(),
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      updatedAt: second.client.durable().at(-1)!.ts,
    });
    expect(sessions[1]).toMatchObject({ title: QUERY, state: 'REFINEMENT_READY', lastSeq: first.client.lastSeq() });
    expect(Date.parse(sessions[1].createdAt)).toBeLessThanOrEqual(Date.parse(sessions[1].updatedAt));

    // Another user: an empty list, and the sessions' ids lead nowhere.
    const stranger = signToken(unique('stranger'));
    expect((await call('GET', '/sessions', stranger)).body).toEqual({ sessions: [] });
    expect((await call('GET', `/sessions/${ids.first}/events`, stranger)).status).toBe(404);
    expect((await call('DELETE', `/sessions/${ids.first}`, stranger)).status).toBe(404);
    expect((await call('GET', `/sessions/${ids.first}/events`, token)).status).toBe(200);
    for (const c of [first, second, idle]) await c.client.close();
  });

  it('pages through the history exactly as the socket saw it', async () => {
    const { client, sessionId, token } = await newSession(gateway, 'pages');
    const { runId } = await startRun(client, 'task.start', QUERY);
    await waitForRunEnd(client, runId, 60_000);
    const seen = client.durable();
    const pages: AnyDurableFrame[] = [];
    let after = 0;
    for (;;) {
      const page = await call('GET', `/sessions/${sessionId}/events?afterSeq=${after}&limit=7`, token);
      expect(page.status).toBe(200);
      const body = page.body as { events: AnyDurableFrame[]; lastSeq: number; complete: boolean };
      expect(body.lastSeq).toBe(client.lastSeq());
      expect(body.complete).toBe(true);
      if (body.events.length === 0) break;
      expect(body.events.length).toBeLessThanOrEqual(7);
      pages.push(...body.events);
      after = body.events.at(-1)!.seq;
    }
    expect(pages).toEqual(seen);
    // Without parameters: from the start, at most 200.
    const all = (await call('GET', `/sessions/${sessionId}/events`, token)).body as { events: AnyDurableFrame[] };
    expect(all.events).toEqual(seen.slice(0, 200));
    await client.close();
  });

  it('deletes a session: its running run is cancelled first, its sockets are closed (4404), and it is gone', async () => {
    const { client, sessionId, token } = await newSession(gateway, 'delete');
    const other = await connect(gateway, sessionId, token);
    // A run that waits on the person stays running until the delete.
    const ack = await client.request('task.start', { text: QUERY, review: 'plan' });
    const runId = (ack.data as { runId: string }).runId;
    await client.waitForEvent('run.input_requested', (f) => f.data.runId === runId, 30_000);
    const closed = other.client.closedWithin(15_000);
    const removed = await call('DELETE', `/sessions/${sessionId}`, token);
    expect(removed.status).toBe(204);
    expect(removed.text).toBe('');
    // The run ended, said so to the sockets, before the session went.
    const cancelled = await client.waitForEvent('run.cancelled', (f) => f.data.runId === runId, 10_000);
    expect(cancelled.data).toEqual({ runId });
    expect((await closed)?.info).toMatchObject({ code: 4404, reason: 'session deleted' });
    expect((await call('GET', `/sessions/${sessionId}/events`, token)).status).toBe(404);
    expect((await call('DELETE', `/sessions/${sessionId}`, token)).status).toBe(404);
    expect((await call('GET', '/sessions', token)).body).toEqual({ sessions: [] });
    // Its run record went with it: only the marker that it was deleted is left.
    const k = new SessionKeys(sessionKeyOf(decodeTokenPayload(token).sub as string, sessionId));
    expect(await admin.keys(`${k.base}:*`)).toEqual([k.deleted]);
    // The id may be used again: a fresh session.
    const again = await connect(gateway, sessionId, token);
    expect(again.snapshot.data).toMatchObject({ state: 'IDLE', lastSeq: 0 });
    await again.client.close();
  });

  it("a worker still ending a deleted session's run does not write the session back (as it would for state Redis lost)", async () => {
    const { client, sessionId, token } = await newSession(gateway, 'deleted-late');
    const { runId } = await startRun(client, 'task.start', QUERY);
    await waitForRunEnd(client, runId, 60_000);
    await client.close();
    // The worker's view in the race: it read the run's record just before the delete removed it.
    const k = new SessionKeys(sessionKeyOf(decodeTokenPayload(token).sub as string, sessionId));
    const record = await admin.dumpBuffer(k.run(runId));
    expect((await call('DELETE', `/sessions/${sessionId}`, token)).status).toBe(204);
    await admin.restore(k.run(runId), 0, record);
    // A job for the run (as a promoted or retried one would be): the session is not current for it.
    const queue = new Queue('resolver', { connection: { url: redisUrl }, prefix: queuePrefixOf('resolver') });
    const events = new QueueEvents('resolver', { connection: { url: redisUrl }, prefix: queuePrefixOf('resolver') });
    registerCleanup(() => Promise.all([queue.close(), events.close()]).then(() => undefined));
    await events.waitUntilReady();
    const job = await queue.add(JobName.ResolveRun, { sessionKey: k.sessionKey, runId }, { jobId: `${runId}-late` });
    await job.waitUntilFinished(events, 30_000);
    expect((await call('GET', `/sessions/${sessionId}/events`, token)).status).toBe(404);
    expect(await admin.exists(k.state, k.seq, k.log)).toBe(0);
  });

  it('deletes the run records of a session older than the run index (with and without a run since)', async () => {
    const olderSession = async (label: string): Promise<{ sessionId: string; token: string; k: SessionKeys }> => {
      const { client, sessionId, token } = await newSession(gateway, label);
      const { runId } = await startRun(client, 'task.start', QUERY);
      await waitForRunEnd(client, runId, 60_000);
      await client.close();
      const k = new SessionKeys(sessionKeyOf(decodeTokenPayload(token).sub as string, sessionId));
      // As a session stored before the index existed: its records are in no index.
      await admin.del(k.runs);
      return { sessionId, token, k };
    };
    const untouched = await olderSession('legacy');
    const continued = await olderSession('legacy-refined');
    const { client } = await connect(gateway, continued.sessionId, continued.token);
    const refined = await startRun(client, 'task.refine', 'Shorter, please.');
    await waitForRunEnd(client, refined.runId, 60_000);
    await client.close();
    expect(await admin.zrange(continued.k.runs, 0, -1)).toEqual([refined.runId]);
    for (const { sessionId, token, k } of [untouched, continued]) {
      expect((await admin.keys(k.run('*'))).length).toBeGreaterThan(0);
      expect((await call('DELETE', `/sessions/${sessionId}`, token)).status).toBe(204);
      expect(await admin.keys(`${k.base}:*`)).toEqual([k.deleted]);
    }
  });

  it('answers bad requests with a code: 401 without or with a bad token, 400 for bad ids and parameters', async () => {
    const token = signToken(unique('bad'));
    expect((await call('GET', '/sessions')).status).toBe(401);
    expect((await call('GET', '/sessions', 'not-a-jwt')).status).toBe(401);
    expect((await call('GET', '/sessions', signToken('x', 'another-secret-of-32-characters!!'))).status).toBe(401);
    expect((await call('DELETE', '/sessions/abc')).status).toBe(401);
    expect((await call('GET', `/sessions/${'x'.repeat(65)}/events`, token)).status).toBe(400);
    expect((await call('GET', '/sessions/a.b/events', token)).status).toBe(400);
    for (const query of ['afterSeq=-1', 'afterSeq=1.5', 'afterSeq=x', 'limit=0', 'limit=1001', 'limit=ten']) {
      const res = await call('GET', `/sessions/abc/events?${query}`, token);
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
    }
    expect((await call('GET', '/sessions/never-used/events', token)).status).toBe(404);
  });
});

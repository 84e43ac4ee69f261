/**
 * Workload 11, sessions over HTTP (issue 16): what the person's session list and a session's
 * history cost the gateway, beside its bare HTTP answer.
 *
 * One user with `SESSIONS` sessions, each with one finished run of the seed's question (zero
 * model delay). Then, one request at a time from this process: `GET /sessions` (the whole
 * list: the user's index, then one pipelined read of every session's state, counter and last
 * event), `GET /sessions/{id}/events` (a whole run's history, one page), and the floor,
 * `GET /health/live` on the same gateway (routing, JSON, the socket; no Redis).
 */
import { signToken } from '../../test/support/tokens';
import { TestClient } from '../../test/support/ws-client';
import { Ctx } from '../lib/context';
import { makeRow, type Row } from '../lib/table';
import { timedGets, type Summary } from '../lib/util';
import { QUERY } from '../../test/support/scenario';

const MAWS_ENV = {
  OFFLINE_TOKEN_DELAY_MS: '0',
  MAX_ACTIVE_RUNS_PER_USER: '100000',
  MAX_RUNS_PER_MINUTE_PER_USER: '100000',
};
const SESSIONS = { full: 100, quick: 50, smoke: 5 } as const;
const REQUESTS = { full: 300, quick: 100, smoke: 20 } as const;

export async function sessionsWorkload(ctx: Ctx): Promise<void> {
  const details: Record<string, unknown> = {};
  ctx.details.sessions = details;
  await ctx.flushRedis();
  const gateway = await ctx.startMaws('gateway', MAWS_ENV);
  const worker = await ctx.startMaws('worker', MAWS_ENV);
  const token = signToken('bench-sessions-user', undefined, { expiresInSec: 24 * 3600 });
  const sessions = SESSIONS[ctx.opts.mode];
  let list: Summary;
  let events: Summary;
  let floor: Summary;
  let historyEvents = 0;
  try {
    for (let i = 0; i < sessions; i++) {
      const client = await TestClient.connect(gateway.proc.wsUrl!, `bench-list-${i}`, token);
      try {
        await client.request('task.start', { text: QUERY });
        await client.waitForEvent('run.completed', undefined, 30_000);
        historyEvents = client.lastSeq();
      } finally {
        await client.close();
      }
    }
    const base = gateway.proc.url!;
    const n = REQUESTS[ctx.opts.mode];
    // Warm each path, then time them in turn.
    await timedGets(`${base}/health/live`, 20, token);
    await timedGets(`${base}/sessions`, 20, token);
    floor = await timedGets(`${base}/health/live`, n, token);
    list = await timedGets(`${base}/sessions`, n, token);
    events = await timedGets(`${base}/sessions/bench-list-0/events?limit=1000`, n, token);
    ctx.log(`sessions: ${sessions} sessions of ${historyEvents} events each; ${n} requests per path`);
  } finally {
    await ctx.stopMaws(worker.proc);
    await ctx.stopMaws(gateway.proc);
  }
  Object.assign(details, { sessions, historyEvents, list, events, floor });
  const rows: Row[] = [
    makeRow(
      'sessions',
      `GET /sessions (${sessions} sessions) p50`,
      'ms',
      list.p50,
      floor.p50,
      undefined,
      `one request at a time; floor: GET /health/live on the same gateway`,
    ),
    makeRow('sessions', `GET /sessions (${sessions} sessions) p99`, 'ms', list.p99, floor.p99),
    makeRow(
      'sessions',
      `GET /sessions/{id}/events (${historyEvents} events) p50`,
      'ms',
      events.p50,
      floor.p50,
      undefined,
      "a whole run's history in one page",
    ),
    makeRow('sessions', `GET /sessions/{id}/events (${historyEvents} events) p99`, 'ms', events.p99, floor.p99),
  ];
  ctx.report('Sessions over HTTP: the list and a history', rows);
}

/**
 * Workload 13, AG-UI (issue 16): what serving a session as an AG-UI agent costs.
 *
 *  1. Replaying a finished run over AG-UI: `GET /agui/{id}/connect` (the log read, projected
 *     to AG-UI events and streamed as SSE, to RUN_FINISHED), one request at a time; beside the
 *     floor of the same history as JSON, `GET /sessions/{id}/events` (the log read, no projection).
 *  2. The projection alone, in this process: a recorded run's frames through AguiProjector and
 *     out as SSE text; beside the floor of JSON.parse and JSON.stringify of the same frames.
 */
import type { AnyDurableFrame } from '../../src/contract';
import { loadBuilt } from '../../test/support/built';
import { readEvents } from '../../test/support/sse';
import { signToken } from '../../test/support/tokens';
import { Ctx } from '../lib/context';
import { recordRun } from '../lib/recorded-run';
import { makeRow, type Row } from '../lib/table';
import { hrUs, passRate, summarize, timedGets, type Summary } from '../lib/util';

const { AguiProjector } = loadBuilt<typeof import('../../src/agui/agui-projector')>('agui/agui-projector');

const REQUESTS = { full: 200, quick: 60, smoke: 10 } as const;
const ROUNDS = { full: 400, quick: 100, smoke: 10 } as const;

async function timedReplays(url: string, n: number, token: string): Promise<{ ms: Summary; events: number }> {
  const ms: number[] = [];
  let events = 0;
  for (let i = 0; i < n; i++) {
    const t0 = hrUs();
    const read = await readEvents({ method: 'GET', url, token });
    if (read.status !== 200) throw new Error(`${url}: HTTP ${read.status}`);
    ms.push((hrUs() - t0) / 1000);
    events = read.events.length;
  }
  return { ms: summarize(ms), events };
}

export async function aguiWorkload(ctx: Ctx): Promise<void> {
  const details: Record<string, unknown> = {};
  ctx.details.agui = details;
  await ctx.flushRedis();
  const all = await ctx.startMaws('all', { OFFLINE_TOKEN_DELAY_MS: '0' });
  const token = signToken('bench-agui-user', undefined, { expiresInSec: 24 * 3600 });
  const sessionId = 'bench-agui';
  let frames: string[];
  let replay: { ms: Summary; events: number };
  let floor: Summary;
  try {
    frames = await recordRun(all.proc.wsUrl!, sessionId, token);
    const base = all.proc.url!;
    const n = REQUESTS[ctx.opts.mode];
    const connectUrl = `${base}/agui/${sessionId}/connect`;
    const eventsUrl = `${base}/sessions/${sessionId}/events?limit=1000`;
    await timedReplays(connectUrl, 10, token);
    await timedGets(eventsUrl, 10, token);
    replay = await timedReplays(connectUrl, n, token);
    floor = await timedGets(eventsUrl, n, token);
  } finally {
    await ctx.stopMaws(all.proc);
  }

  // In-process: warmed, then timed. A fresh projector per pass (each pass is a session's history).
  const rounds = ROUNDS[ctx.opts.mode];
  let projector = new AguiProjector(sessionId);
  let aguiEvents = 0;
  // The SSE text's length is kept, so the text is made (and the work timed) in full.
  let sseChars = 0;
  const project = (text: string): void => {
    const frame = JSON.parse(text) as AnyDurableFrame;
    if (frame.event === 'user.message' && frame.seq === 1) projector = new AguiProjector(sessionId);
    for (const event of projector.project(frame)) {
      aguiEvents++;
      sseChars += `data: ${JSON.stringify(event)}\n\n`.length;
    }
  };
  const floorPass = (text: string): void => {
    sseChars += JSON.stringify(JSON.parse(text)).length;
  };
  passRate(frames, rounds, project);
  passRate(frames, rounds, floorPass);
  aguiEvents = 0;
  const projected = passRate(frames, rounds, project);
  const perPass = aguiEvents / rounds;
  const floorRate = passRate(frames, rounds, floorPass);
  if (sseChars === 0) throw new Error('agui: the projection made no SSE text');
  ctx.log(`agui: a run of ${frames.length} durable events → ${perPass} AG-UI events (${replay.events} replayed)`);
  Object.assign(details, { durableEvents: frames.length, aguiEvents: perPass, replay, floor, projected, floorRate });
  const rows: Row[] = [
    makeRow(
      'agui',
      `GET /agui/{id}/connect, a finished run (${replay.events} events) p50`,
      'ms',
      replay.ms.p50,
      floor.p50,
      undefined,
      `to RUN_FINISHED, one request at a time; floor: GET /sessions/{id}/events (${frames.length} events as JSON)`,
    ),
    makeRow('agui', `GET /agui/{id}/connect, a finished run p99`, 'ms', replay.ms.p99, floor.p99),
    makeRow(
      'agui',
      'projection to AG-UI SSE, durable events/s',
      'events/s',
      projected,
      floorRate,
      undefined,
      'in process, a recorded run; floor: JSON.parse + JSON.stringify of the same frames',
    ),
  ];
  ctx.report('AG-UI: a run replayed, and the projection alone', rows);
}

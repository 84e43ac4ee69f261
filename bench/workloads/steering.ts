/**
 * Workload 10, steering a live run (issue 15, v2 "Steering"): what the person's instruction
 * costs on the way in, beside the commands it is most like, on the same sockets.
 *
 * Sessions each with a run going (the offline model at 200 ms a token: the runs stay
 * EXECUTING throughout). Each socket sends, one after another:
 *  1. `run.steer` → its ack (the gateway reads the session, then one script stores the
 *     instruction on the run with its user.message), beside `ping` → pong (the gateway's
 *     bare answer on the same sockets).
 *  2. A `message` the Clarifier reads as an instruction → its chat.response (the Clarifier's
 *     decision, then one script storing the instruction with the answer), beside a `message`
 *     read as a question → its chat.response (the v1 path: the same decision, one append).
 * The instructions are applied by the workers at their next step boundary (a replan step
 * each), which is the model's time, not timed here.
 */
import type { SteerLatencyArgs } from '../children/client';
import { Ctx } from '../lib/context';
import { openSockets } from '../lib/sockets';
import { makeRow, type Row } from '../lib/table';
import { sleep, summarize, type Summary } from '../lib/util';
import { QUERY } from '../../test/support/scenario';

const MAWS_ENV = {
  OFFLINE_TOKEN_DELAY_MS: '200',
  MAX_ACTIVE_RUNS_PER_USER: '100000',
  MAX_RUNS_PER_MINUTE_PER_USER: '100000',
};
const SESSIONS = { full: 40, quick: 20, smoke: 4 } as const;
/** Each kind per session; steers and instructions together stay under MAX_STEERS_PER_RUN (20). */
const PER_SESSION = { full: 8, quick: 6, smoke: 3 } as const;

export async function steeringWorkload(ctx: Ctx): Promise<void> {
  const details: Record<string, unknown> = {};
  ctx.details.steering = details;
  await ctx.flushRedis();
  const gateway = await ctx.startMaws('gateway', MAWS_ENV);
  const worker = await ctx.startMaws('worker', MAWS_ENV);
  const client = await ctx.fork('steering-client', 'client.js');
  const results: Record<SteerLatencyArgs['kind'], { lat: Summary; answers: Record<string, number> }> = {} as never;
  try {
    await openSockets(client, gateway.proc.wsUrl!, 'steer', SESSIONS[ctx.opts.mode]);
    await client.call('streamStart', { group: 'steer', text: QUERY });
    await sleep(1_000);
    const texts = {
      ping: '',
      steer: 'Keep the report short',
      instruction: 'Skip Google',
      question: 'What is the current status?',
    };
    // The first round of questions warms the Clarifier's path; the second is kept.
    for (const kind of ['ping', 'steer', 'question', 'question', 'instruction'] as const) {
      const r = await client.call<{ latMs: number[]; answers: Record<string, number> }>(
        'steerLatency',
        {
          group: 'steer',
          kind,
          text: texts[kind],
          perSession: PER_SESSION[ctx.opts.mode],
          pauseMs: 50,
          timeoutMs: 15_000,
        } satisfies SteerLatencyArgs,
        300_000,
      );
      results[kind] = { lat: summarize(r.latMs), answers: r.answers };
      ctx.log(`steering: ${kind}: ${JSON.stringify(r.answers)}`);
    }
    await client.call('cancelAll', { group: 'steer' });
    await sleep(500);
  } finally {
    await client.stop();
    await ctx.stopMaws(worker.proc);
    await ctx.stopMaws(gateway.proc);
  }
  Object.assign(details, results);
  const p = (s: Summary, k: 'p50' | 'p99'): number | null => (s.n ? s[k] : null);
  const { ping, steer, question, instruction } = results;
  const answered = (r: { answers: Record<string, number> }, ok: string): string =>
    `${r.answers[ok] ?? 0} of ${Object.values(r.answers).reduce((a, b) => a + b, 0)} answered with ${ok}`;
  const rows: Row[] = [
    makeRow(
      'steering',
      'run.steer → ack p50',
      'ms',
      p(steer.lat, 'p50'),
      p(ping.lat, 'p50'),
      undefined,
      `${SESSIONS[ctx.opts.mode]} runs going; ${answered(steer, 'ack')}; floor: ping → pong on the same sockets`,
    ),
    makeRow('steering', 'run.steer → ack p99', 'ms', p(steer.lat, 'p99'), p(ping.lat, 'p99')),
    makeRow(
      'steering',
      'message read as an instruction → chat.response p50',
      'ms',
      p(instruction.lat, 'p50'),
      p(question.lat, 'p50'),
      undefined,
      `${answered(instruction, 'chat.response')}; floor: a message read as a question → chat.response (v1)`,
    ),
    makeRow(
      'steering',
      'message read as an instruction → chat.response p99',
      'ms',
      p(instruction.lat, 'p99'),
      p(question.lat, 'p99'),
    ),
  ];
  ctx.report('Steering a live run: an instruction on its way in', rows);
}

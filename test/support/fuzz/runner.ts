/**
 * Fuzz support: running a fuzz round. Fuzz connections send generated frames in paced batches
 * and check each batch's answers with the oracle (a frame the contract closes the socket for is
 * sent alone, and the connection reopened); flooders send thousands of frames at once and must
 * be rate limited, then closed with 1008.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { signToken } from '../tokens';
import { TestClient } from '../ws-client';
import { FrameGenerator, type FuzzCtx } from './generator';
import { FLOOD_CLOSE_AFTER } from './limits';
import {
  answerKey,
  checkBatch,
  isAnswer,
  preview,
  type AnswerExpectation,
  type AnswerKey,
  type CloseExpectation,
  type FuzzFrame,
} from './oracle';
import type { Rng } from './rng';
import { bump, newStats, type Stats } from './stats';

export interface FuzzPlan {
  /** Fuzz connections, each on a session of its own user's. */
  connections: number;
  /** Users the connections belong to (connection i is user i % users). */
  users: number;
  /** Frames in flight at most on a connection. */
  batch: number;
  /** A connection starts a batch at most this often. */
  batchIntervalMs: number;
  /** How long a batch's answers may take. */
  answerTimeoutMs: number;
  /** Frames a flooder sends at once. */
  floodFrames: number;
}

/** The answers a flooder may get. */
const FLOOD_ANSWERS: readonly AnswerKey[] = ['pong', 'BAD_JSON', 'UNKNOWN_EVENT', 'VALIDATION_FAILED', 'RATE_LIMITED'];

/** Sends a frame as it is, in its fragments when it has more than one. */
function sendFrame(c: TestClient, frame: FuzzFrame): void {
  if (frame.fragments <= 1) {
    c.ws.send(frame.payload, { binary: frame.binary });
    return;
  }
  const buf = Buffer.isBuffer(frame.payload) ? frame.payload : Buffer.from(frame.payload);
  const size = Math.ceil(buf.length / frame.fragments);
  for (let i = 0; i < frame.fragments; i++) {
    const part = buf.subarray(i * size, Math.min(buf.length, (i + 1) * size));
    c.ws.send(part, { binary: frame.binary, fin: i === frame.fragments - 1 });
  }
}

/** The close code, or -1 when the socket is still open after `ms`. */
async function closeCode(c: TestClient, ms: number): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      c.closed.then((i) => i.code),
      new Promise<number>((r) => (timer = setTimeout(() => r(-1), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export class FuzzRunner {
  private readonly frames: FrameGenerator;
  private flooders = 0;

  /** `rng` draws every frame, and when a connection resumes or reconnects. */
  constructor(
    private readonly wsUrl: string,
    private readonly rng: Rng,
    private readonly plan: FuzzPlan,
  ) {
    this.frames = new FrameGenerator(rng);
  }

  /** About `total` frames over the fuzz connections, and a flooder started after each delay. */
  async round(total: number, floods: number[]): Promise<Stats> {
    const stats = newStats();
    const per = Math.ceil(total / this.plan.connections);
    await Promise.all([
      ...Array.from({ length: this.plan.connections }, (_, i) => this.fuzzWorker(i, per, stats)),
      ...floods.map(async (delay) => {
        await sleep(delay);
        await this.flooder(++this.flooders, stats);
      }),
    ]);
    return stats;
  }

  /**
   * Connects (sometimes resuming with ?lastSeq=), then pings: the pong comes after the snapshot
   * and any replay or RESUME_UNAVAILABLE of the upgrade, none of which is then taken for an
   * answer to a fuzz frame.
   */
  private async openFuzzConnection(conn: number, token: string, seq = 0): Promise<TestClient> {
    const rng = this.rng;
    const opts = rng.chance(0.2)
      ? { lastSeq: rng.chance(0.7) ? Math.max(0, seq - rng.int(5)) : seq + 1 + rng.int(50) }
      : {};
    const c = await TestClient.connect(this.wsUrl, `fuzz-${conn}`, token, opts);
    await c.waitForEvent('session.snapshot', undefined, 15_000);
    c.send('ping');
    await c.waitForEvent('pong', undefined, 15_000);
    return c;
  }

  /** One fuzz connection's life loop: sends `quota` frames, reconnecting after each close. */
  private async fuzzWorker(conn: number, quota: number, stats: Stats): Promise<void> {
    const { users, batch: batchSize, batchIntervalMs, answerTimeoutMs } = this.plan;
    const sub = `fuzz-user-${conn % users}`;
    const token = signToken(sub);
    let idn = 0;
    const ctx: FuzzCtx = {
      seq: 0,
      token,
      otherToken: signToken(`fuzz-user-${(conn + 1) % users}`),
      conn,
      nextId: () => `c${conn}-${++idn}`,
    };
    let c = await this.openFuzzConnection(conn, token);
    let sent = 0;
    let pending: FuzzFrame | undefined;
    while (sent < quota) {
      const started = Date.now();
      ctx.seq = Math.max(ctx.seq, c.lastSeq());
      const batch: FuzzFrame[] = [];
      let terminal: FuzzFrame | undefined;
      while (batch.length < batchSize && sent + batch.length < quota) {
        const f = pending ?? this.frames.next(ctx);
        pending = undefined;
        if (f.expect.kind === 'close') {
          if (batch.length === 0) terminal = f;
          else pending = f; // sent alone, once this batch is answered
          break;
        }
        batch.push(f);
      }
      if (terminal) {
        sendFrame(c, terminal);
        sent += 1;
        stats.framesSent += 1;
        bump(stats.byLabel, terminal.label);
        const code = await closeCode(c, 15_000);
        bump(stats.closes, String(code));
        const want = (terminal.expect as CloseExpectation).code;
        if (code !== want)
          stats.mismatches.push(
            `conn ${conn}: ${terminal.label} closed with ${code}, expected ${want}; frame ${preview(terminal)}`,
          );
        if (c.isOpen) await c.terminate();
        stats.reconnects += 1;
        c = await this.openFuzzConnection(conn, token, ctx.seq);
        continue;
      }
      const since = c.frames.length;
      const count = (): number => c.frames.slice(since).filter(isAnswer).length;
      // Frames that can only be answered with their id: the batch is not done before those came.
      const mustKey = new Set(
        batch
          .map((f) => f.expect as AnswerExpectation)
          .filter((e) => e.id !== undefined && e.keyed.length > 0 && e.unkeyed.length === 0)
          .map((e) => e.id!),
      );
      const done = (): boolean => {
        if (count() < batch.length) return false;
        const keyed = new Set(
          c.frames
            .slice(since)
            .filter(isAnswer)
            .map((f) => f.data?.replyTo),
        );
        for (const id of mustKey) if (!keyed.has(id)) return false;
        return true;
      };
      for (const f of batch) {
        sendFrame(c, f);
        bump(stats.byLabel, f.label);
      }
      sent += batch.length;
      stats.framesSent += batch.length;
      try {
        await c.waitFor(done, answerTimeoutMs, since);
      } catch (err) {
        stats.mismatches.push(`conn ${conn}: ${count()}/${batch.length} answers, then ${String(err).slice(0, 300)}`);
      }
      const answers = c.frames.slice(since).filter(isAnswer);
      for (const a of answers) bump(stats.answers, answerKey(a));
      stats.mismatches.push(...checkBatch(batch, answers, `conn ${conn}`));
      if (!c.isOpen) {
        bump(stats.closes, `unexpected ${c.closeResult?.code}`);
        stats.mismatches.push(
          `conn ${conn}: closed unexpectedly with ${c.closeResult?.code} after a batch of ${batch.map((f) => f.label).join(', ')}`,
        );
        c = await this.openFuzzConnection(conn, token, ctx.seq);
        continue;
      }
      if (this.rng.chance(0.01)) {
        await c.close();
        stats.voluntaryReconnects += 1;
        c = await this.openFuzzConnection(conn, token, ctx.seq);
      }
      const wait = batchIntervalMs - (Date.now() - started);
      if (wait > 0) await sleep(wait);
    }
    // Anything that arrives after the last batch was answered is an extra answer.
    const settled = c.frames.filter(isAnswer).length;
    await sleep(200);
    const extra = c.frames.filter(isAnswer).slice(settled);
    if (extra.length)
      stats.mismatches.push(
        `conn ${conn}: ${extra.length} answer(s) after the end: ${JSON.stringify(extra.slice(0, 3))}`,
      );
    await c.close();
  }

  /** A connection that sends `floodFrames` at once: RATE_LIMITED, then closed with 1008. */
  private async flooder(n: number, stats: Stats): Promise<void> {
    const sub = `fuzz-flood-${n}`;
    const c = await TestClient.connect(this.wsUrl, `flood-${n}`, signToken(sub));
    await c.waitForEvent('session.snapshot', undefined, 15_000);
    let idn = 0;
    for (let i = 0; i < this.plan.floodFrames && c.isOpen; i++) {
      const r = i % 4;
      const frame =
        r === 0
          ? `{"event":"ping","id":"f${n}-${++idn}"}`
          : r === 1
            ? 'not json'
            : r === 2
              ? `{"event":"nope","id":"f${n}-${++idn}"}`
              : `{"event":"resume","data":{"afterSeq":"x"},"id":"f${n}-${++idn}"}`;
      c.ws.send(frame);
      stats.floodFrames += 1;
    }
    const code = await closeCode(c, 15_000);
    bump(stats.closes, String(code));
    const limited = c.frames.filter((f) => f.event === 'error' && f.data?.code === 'RATE_LIMITED').length;
    stats.floodRateLimited += limited;
    const bad = c.frames.filter((f) => isAnswer(f) && !FLOOD_ANSWERS.includes(answerKey(f)));
    if (code !== 1008) stats.mismatches.push(`flooder ${n}: closed with ${code}, expected 1008`);
    if (limited < FLOOD_CLOSE_AFTER - 1)
      stats.mismatches.push(`flooder ${n}: only ${limited} RATE_LIMITED before the close`);
    if (bad.length) stats.mismatches.push(`flooder ${n}: unexpected answers ${JSON.stringify(bad.slice(0, 3))}`);
    if (c.isOpen) await c.terminate();
  }
}

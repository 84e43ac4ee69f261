/**
 * Workload 12, @maws/client (issue 16): what the client package costs per frame, in this
 * process, fed a recorded run's frames through a socket stand-in (no network: the package's
 * own work only).
 *
 *  1. The client handling frames: parse, the seq check, the typed listeners, the events()
 *     iterator; beside the floor of JSON.parse alone on the same frames.
 *  2. reduce() folding the same frames into the session's view; beside the floor of a fold
 *     that makes a new view object per frame (the least an immutable reducer does).
 */
import { createMawsClient, initialView, reduce, type SocketLike } from '../../packages/client/src';
import type { AnyDurableFrame } from '../../src/contract';
import { signToken } from '../../test/support/tokens';
import { Ctx } from '../lib/context';
import { recordRun } from '../lib/recorded-run';
import { makeRow, type Row } from '../lib/table';
import { hrUs, passRate } from '../lib/util';

const ROUNDS = { full: 400, quick: 100, smoke: 10 } as const;

/** A socket that opens at once and lets the bench deliver frames to the client. */
class FedSocket implements SocketLike {
  static last: FedSocket | undefined;
  readyState = 1;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  constructor() {
    FedSocket.last = this;
    queueMicrotask(() => this.onopen?.({}));
  }
  send(): void {}
  close(): void {
    this.readyState = 3;
  }
}

export async function clientWorkload(ctx: Ctx): Promise<void> {
  const details: Record<string, unknown> = {};
  ctx.details.client = details;
  await ctx.flushRedis();
  const all = await ctx.startMaws('all', { OFFLINE_TOKEN_DELAY_MS: '0' });
  let frames: string[];
  try {
    // A recorded run: the seed's question at zero delay, as a client receives it.
    frames = await recordRun(all.proc.wsUrl!, 'bench-client-rec', signToken('bench-client'));
  } finally {
    await ctx.stopMaws(all.proc);
  }
  const rounds = ROUNDS[ctx.opts.mode];
  // Each round is a session's history again: the seqs are renumbered so the client takes them.
  const parsed = frames.map((f) => JSON.parse(f) as AnyDurableFrame);
  const renumbered = (round: number): string[] =>
    parsed.map((f, i) => JSON.stringify({ ...f, seq: round * parsed.length + i + 1 }));
  const batches = Array.from({ length: rounds }, (_, r) => renumbered(r));
  const flat = batches.flat();

  // Both are warmed first (the JIT), then timed: the parse floor on the whole set, the client
  // on its second half (its seqs must keep rising, so it sees each frame once).
  passRate(flat, 1, (text) => JSON.parse(text));
  const floorParse = passRate(flat, 1, (text) => JSON.parse(text));
  const half = Math.floor(rounds / 2) * parsed.length;
  const client = createMawsClient({
    url: 'ws://bench.invalid',
    sessionId: 'bench',
    getToken: () => 'token',
    WebSocket: FedSocket,
  });
  while (client.status !== 'open') await new Promise((r) => setTimeout(r, 1));
  let deltas = 0;
  client.on('agent.delta', (d) => {
    deltas += d.text.length > 0 ? 1 : 0;
  });
  const iterator = client.events();
  const drained = (async () => {
    for await (const _frame of iterator) {
      /* consumed */
    }
  })();
  const socket = FedSocket.last!;
  passRate(flat.slice(0, half), 1, (text) => socket.onmessage?.({ data: text }));
  const clientRate = passRate(flat.slice(half), 1, (text) => socket.onmessage?.({ data: text }));
  client.close();
  await drained;

  // Each round folds one session's run from the empty view, as a page that loads it does.
  // Floor: the least an immutable fold does, a new view object per frame with the seq.
  const total = parsed.length * rounds;
  let last = 0;
  const copyFold = (): number => {
    const t0 = hrUs();
    for (let r = 0; r < rounds; r++) {
      let v = initialView;
      for (const f of parsed) v = { ...v, lastSeq: f.seq };
      last = v.lastSeq;
    }
    return Math.round(total / ((hrUs() - t0) / 1e6));
  };
  let view = initialView;
  const reduceFold = (): number => {
    const t0 = hrUs();
    for (let r = 0; r < rounds; r++) {
      view = initialView;
      for (const f of parsed) view = reduce(view, f);
    }
    return Math.round(total / ((hrUs() - t0) / 1e6));
  };
  copyFold();
  reduceFold();
  const floorFold = copyFold();
  const reduceRate = reduceFold();
  ctx.log(
    `client: ${frames.length} frames a run × ${rounds}; client ${clientRate}/s (parse ${floorParse}/s); reduce ${reduceRate}/s; ${view.runs.length} runs, last seq ${last}, deltas ${deltas}`,
  );
  Object.assign(details, { framesPerRun: frames.length, rounds, clientRate, floorParse, reduceRate, floorFold });
  const rows: Row[] = [
    makeRow(
      'client',
      '@maws/client: frames handled per second',
      'frames/s',
      clientRate,
      floorParse,
      undefined,
      `${frames.length} frames of a recorded run × ${rounds} (half to warm up), through a socket stand-in; floor: JSON.parse alone`,
    ),
    makeRow(
      'client',
      'reduce(): frames folded into the view per second',
      'frames/s',
      reduceRate,
      floorFold,
      undefined,
      'the same frames, parsed, each run from the empty view; floor: a fold that makes a new view object per frame',
    ),
  ];
  ctx.report('@maws/client: its work per frame', rows);
}

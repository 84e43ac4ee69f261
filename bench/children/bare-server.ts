/**
 * The floors' servers, as plain as they come.
 *   relay: a `ws` server plus one ioredis subscriber; a socket on /ws/{sessionId} gets every
 *          message SPUBLISHed to that session's channel (sharded pub/sub, as MAWS uses), forwarded as it came (the bare relay
 *          the issue measures MAWS against). It sends {"event":"ready"} once subscribed.
 *   idle:  a `ws` server that only holds its sockets (the idle-connection memory floor).
 *   refuse: a `ws` server that answers each frame after one Redis `SET` (refused while Redis
 *          is full: an `error` UNAVAILABLE frame with the frame's id as replyTo), and, over IPC,
 *          times refused writes alone and retries one write with MAWS's probe backoff (the
 *          store-full workload's floors).
 * argv: mode port [redisUrl]
 */
import { createServer } from 'node:http';
import Redis from 'ioredis';
import { WebSocketServer, type WebSocket } from 'ws';
import { serve, type Handlers } from '../lib/ipc';
import { bareChannel } from '../lib/names';
import { hrUs, sleep } from '../lib/util';

/** The write the floors make: as small as a write gets (Redis refuses it before running it). */
const REFUSED_KEY = 'bench:refused';
/** MAWS's store probe backoff (src/store/store-writes.ts): 100 ms, doubling, at most 2 s. */
const PROBE_FIRST_MS = 100;
const PROBE_MAX_MS = 2_000;

const [mode, portArg, redisUrl] = process.argv.slice(2);
const http = createServer((_req, res) => res.writeHead(404).end());
const wss = new WebSocketServer({ server: http });
const sockets = new Set<WebSocket>();
let handlers: Handlers = {};

if (mode === 'relay') {
  const sub = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const rooms = new Map<string, Set<WebSocket>>();
  sub.on('smessageBuffer', (channel: Buffer, payload: Buffer) => {
    const room = rooms.get(channel.toString());
    if (room) for (const ws of room) ws.send(payload, { binary: false });
  });
  wss.on('connection', (ws, req) => {
    const channel = bareChannel(decodeURIComponent((req.url ?? '').split('?')[0].slice('/ws/'.length)));
    let room = rooms.get(channel);
    if (!room) rooms.set(channel, (room = new Set()));
    room.add(ws);
    ws.on('close', () => {
      room.delete(ws);
      if (room.size === 0) {
        rooms.delete(channel);
        void sub.sunsubscribe(channel).catch(() => undefined);
      }
    });
    sub.ssubscribe(channel).then(
      () => ws.send('{"event":"ready"}'),
      () => ws.close(1011),
    );
  });
} else if (mode === 'refuse') {
  handlers = refuseMode(redisUrl);
} else {
  wss.on('connection', (ws) => {
    sockets.add(ws);
    ws.on('close', () => sockets.delete(ws));
  });
}

function refuseMode(url: string): Handlers {
  const redis = new Redis(url, { maxRetriesPerRequest: 3 });
  redis.on('error', () => undefined);
  wss.on('connection', (ws) => {
    ws.on('message', (data: Buffer) => {
      let id: string | undefined;
      try {
        id = (JSON.parse(data.toString('utf8')) as { id?: string }).id;
      } catch {
        return;
      }
      redis.set(REFUSED_KEY, '1').then(
        () => ws.send(JSON.stringify({ event: 'ack', data: { replyTo: id } })),
        (err: Error) =>
          ws.send(JSON.stringify({ event: 'error', data: { code: 'UNAVAILABLE', message: err.message, replyTo: id } })),
      );
    });
  });
  let retry: { succeededUs?: number; attempts: number; stop: boolean } | null = null;
  return {
    /** `n` refused writes one after another (`pauseMs` apart): each one's round trip, in ms. */
    refusedWrites: async (args: { n: number; pauseMs: number }) => {
      const latMs: number[] = [];
      let taken = 0;
      for (let i = 0; i < args.n; i++) {
        const t0 = hrUs();
        try {
          await redis.set(REFUSED_KEY, '1');
          taken++;
        } catch {
          latMs.push((hrUs() - t0) / 1000);
        }
        await sleep(args.pauseMs);
      }
      return { latMs, taken };
    },
    /** Starts writing now, and again after each refusal with MAWS's probe backoff, until taken. */
    retryStart: () => {
      if (retry) retry.stop = true;
      const state = { attempts: 0, stop: false } as { succeededUs?: number; attempts: number; stop: boolean };
      retry = state;
      void (async () => {
        for (let delay = PROBE_FIRST_MS; !state.stop; delay = Math.min(delay * 2, PROBE_MAX_MS)) {
          state.attempts++;
          try {
            await redis.set(REFUSED_KEY, '1', 'PX', 60_000);
            state.succeededUs = hrUs();
            return;
          } catch {
            await sleep(delay);
          }
        }
      })();
      return {};
    },
    /** When the retried write was taken (µs, CLOCK_MONOTONIC), once it was; waits up to timeoutMs. */
    retryResult: async (args: { timeoutMs: number }) => {
      const deadline = Date.now() + args.timeoutMs;
      while (retry && retry.succeededUs === undefined && Date.now() < deadline) await sleep(5);
      const result = { succeededUs: retry?.succeededUs ?? null, attempts: retry?.attempts ?? 0 };
      if (retry) retry.stop = true;
      return result;
    },
  };
}

http.listen(Number(portArg), '127.0.0.1');
serve({ sockets: () => ({ sockets: sockets.size || wss.clients.size }), ...handlers });

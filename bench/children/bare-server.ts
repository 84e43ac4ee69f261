/**
 * The floors' servers, as plain as they come.
 *   relay: a `ws` server plus one ioredis subscriber; a socket on /ws/{sessionId} gets every
 *          message PUBLISHed to that session's channel, forwarded as it came (the bare relay
 *          the issue measures MAWS against). It sends {"event":"ready"} once subscribed.
 *   idle:  a `ws` server that only holds its sockets (the idle-connection memory floor).
 * argv: mode port [redisUrl]
 */
import { createServer } from 'node:http';
import Redis from 'ioredis';
import { WebSocketServer, type WebSocket } from 'ws';
import { serve } from '../lib/ipc';
import { bareChannel } from '../lib/names';

const [mode, portArg, redisUrl] = process.argv.slice(2);
const http = createServer((_req, res) => res.writeHead(404).end());
const wss = new WebSocketServer({ server: http });
const sockets = new Set<WebSocket>();

if (mode === 'relay') {
  const sub = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const rooms = new Map<string, Set<WebSocket>>();
  sub.on('messageBuffer', (channel: Buffer, payload: Buffer) => {
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
        void sub.unsubscribe(channel).catch(() => undefined);
      }
    });
    sub.subscribe(channel).then(
      () => ws.send('{"event":"ready"}'),
      () => ws.close(1011),
    );
  });
} else {
  wss.on('connection', (ws) => {
    sockets.add(ws);
    ws.on('close', () => sockets.delete(ws));
  });
}

http.listen(Number(portArg), '127.0.0.1');
serve({ sockets: () => ({ sockets: sockets.size || wss.clients.size }) });

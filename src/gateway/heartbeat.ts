import { WebSocket } from 'ws';

/**
 * What the heartbeat keeps on a socket's record. SessionHub's own record of a socket has these
 * fields, so the heartbeat costs no second object per socket.
 */
export interface HeartbeatState {
  readonly ws: WebSocket;
  /** When the last ping went out, and whether its pong is still owed. */
  pingSentAt: number;
  awaitingPong: boolean;
  /** When the socket's token expires (ms); it is closed with 4401 then unless refreshed. */
  expiresAt?: number;
}

/**
 * The sockets' heartbeat: one shared timer pings every socket each `intervalMs`, terminates
 * one whose pong is `timeoutMs` late (a half-open TCP connection would otherwise hold its slot
 * forever) and closes one whose token has expired with 4401. It sweeps the records of the map
 * it is given, which stays its owner's: a socket is in the heartbeat while it is in the map.
 */
export class Heartbeat {
  private timer?: NodeJS.Timeout;
  private intervalMs = 0;

  constructor(private readonly sockets: ReadonlyMap<WebSocket, HeartbeatState>) {}

  /** One listener for every socket (`this` is the socket): no closure per connection. */
  private readonly onPong = ((heartbeat: Heartbeat) =>
    function (this: WebSocket): void {
      const state = heartbeat.sockets.get(this);
      if (state) state.awaitingPong = false;
    })(this);

  start(intervalMs: number, timeoutMs: number): void {
    // The same sweep closes sockets whose token has expired. It runs at least four times a second, so
    // that with first pings spread (see firstPingSentAt) each sweep pings a small share of the sockets.
    const tick = Math.max(50, Math.min(250, Math.floor(Math.min(intervalMs, timeoutMs) / 2)));
    this.intervalMs = intervalMs;
    this.timer = setInterval(() => {
      const now = Date.now();
      for (const state of this.sockets.values()) {
        if (state.expiresAt !== undefined && now >= state.expiresAt) {
          state.expiresAt = undefined;
          state.ws.close(4401, 'token expired: reconnect with a fresh token');
        } else if (state.awaitingPong) {
          if (now - state.pingSentAt >= timeoutMs) state.ws.terminate();
        } else if (now - state.pingSentAt >= intervalMs && state.ws.readyState === WebSocket.OPEN) {
          state.awaitingPong = true;
          state.pingSentAt = now;
          try {
            state.ws.ping();
          } catch {
            state.ws.terminate();
          }
        }
      }
    }, tick);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /**
   * The `pingSentAt` a new socket's record starts with. The first ping comes at a random point
   * of the first interval: sockets that connected together (clients coming back after a
   * restart) are then not all pinged in one sweep, which would hold up every session's events
   * while it ran.
   */
  firstPingSentAt(): number {
    return Date.now() - Math.floor(Math.random() * this.intervalMs);
  }

  /** Listens for the socket's pongs; its record is in the map (or will be before a pong can come). */
  watch(ws: WebSocket): void {
    ws.on('pong', this.onPong);
  }

  /** `auth.refresh`: a fresh token for the same user moves the socket's expiry. */
  refreshExpiry(ws: WebSocket, expiresAt: number | undefined): void {
    const state = this.sockets.get(ws);
    if (state) state.expiresAt = expiresAt;
  }
}

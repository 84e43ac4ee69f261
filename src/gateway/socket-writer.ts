import type { Socket } from 'node:net';
import { WebSocket } from 'ws';

const TEXT_FRAME = { binary: false };
/** A socket being filled waits this long at most for its buffer to drain. */
const DRAIN_TIMEOUT_MS = 30_000;
const SLOW_CONSUMER = 'slow consumer: reconnect with lastSeq';

/**
 * Writes frames to sockets. Frames sent to one socket in the same tick leave in one write
 * (corked); a socket whose peer leaves more than `maxBufferedBytes` untaken is closed with 1013
 * (a slow consumer) rather than grow this process's memory; a replay waits for a socket to drain.
 */
export class SocketWriter {
  private readonly corked = new Set<Socket>();
  /** A replay waits for the client past this many unsent bytes... */
  private readonly replayPauseBytes: number;
  /** ...until they are down to this many. */
  private readonly replayResumeBytes: number;

  constructor(private readonly maxBufferedBytes: number) {
    this.replayPauseBytes = maxBufferedBytes / 2;
    this.replayResumeBytes = maxBufferedBytes / 4;
  }

  /** Never throws: a closing socket just misses the frame (it resumes by seq). */
  send(ws: WebSocket, frame: Buffer | string): boolean {
    if (ws.readyState !== WebSocket.OPEN) return false;
    if (this.overBufferLimit(ws, this.maxBufferedBytes)) {
      // A slow consumer is cut off rather than grow this process's memory; it resumes by seq.
      ws.close(1013, SLOW_CONSUMER);
      return false;
    }
    this.cork(ws);
    try {
      ws.send(frame, TEXT_FRAME);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Whether a replay to this socket should wait for it to drain (see drained) before its next
   * frame: a replay waits for the client to read, rather than cut off a client that is merely
   * catching up (1013 is for one that does not drain at all).
   */
  replayShouldWait(ws: WebSocket): boolean {
    return this.overBufferLimit(ws, this.replayPauseBytes);
  }

  /** Resolves true once the socket's unsent bytes are low again; closes it (1013) if they never are. */
  async drained(ws: WebSocket): Promise<boolean> {
    const deadline = Date.now() + DRAIN_TIMEOUT_MS;
    while (ws.readyState === WebSocket.OPEN && ws.bufferedAmount > this.replayResumeBytes) {
      if (Date.now() > deadline) {
        ws.close(1013, SLOW_CONSUMER);
        return false;
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return ws.readyState === WebSocket.OPEN;
  }

  /**
   * Frames sent to one socket in the same tick (a batch of published events, a replay)
   * leave in one write: the socket is corked at its first send and uncorked on the next
   * tick. One syscall per frame was most of the relay's CPU.
   */
  private cork(ws: WebSocket): void {
    const socket = (ws as unknown as { _socket?: Socket })._socket;
    if (!socket || this.corked.has(socket)) return;
    socket.cork();
    this.corked.add(socket);
    if (this.corked.size === 1) process.nextTick(this.uncorkAll);
  }

  /**
   * Whether the peer has left more than `limit` bytes untaken. Corked bytes count in
   * bufferedAmount but are ours, so only a figure over the limit is checked again after a
   * flush: flushing at every send would undo the corking.
   */
  private overBufferLimit(ws: WebSocket, limit: number): boolean {
    if (ws.bufferedAmount <= limit) return false;
    const socket = (ws as unknown as { _socket?: Socket })._socket;
    if (socket && this.corked.delete(socket)) socket.uncork();
    return ws.bufferedAmount > limit;
  }

  private readonly uncorkAll = (): void => {
    for (const socket of this.corked) socket.uncork();
    this.corked.clear();
  };
}

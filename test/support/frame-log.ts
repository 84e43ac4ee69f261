/**
 * Test support: what a test client received, in arrival order, and waiting for a frame. Shared
 * by the raw wire client (TestClient) and the @maws/client-backed one (SdkTestClient).
 */
import type { AnyDurableFrame, FrameOf, ServerEventName, ServerFrame } from '../../src/contract';
import { isDurable, isEvent } from './frames';

interface Waiter {
  predicate: (f: ServerFrame) => boolean;
  resolve: (f: ServerFrame) => void;
  reject: (e: Error) => void;
  since: number;
}

export function describeFrames(frames: readonly ServerFrame[], n = 20): string {
  const tail = frames.slice(-n);
  if (tail.length === 0) return '  (no frames received)';
  const offset = frames.length - tail.length;
  return tail
    .map((f, i) => {
      // Parsed JSON (or the record of text that was not): it always stringifies.
      let s = JSON.stringify(f);
      if (s.length > 400) s = `${s.slice(0, 400)}…`;
      return `  [${offset + i}] ${s}`;
    })
    .join('\n');
}

export class FrameLog {
  /**
   * Every received frame, parsed, in arrival order. Text that is not JSON (which a server
   * keeping the contract never sends) is recorded as `{__raw, __parseError: true}`, so that
   * indices stay those of `raw`; it matches no event.
   */
  readonly frames: ServerFrame[] = [];
  /** Every received frame as raw text, in arrival order (same indices as `frames`). */
  readonly raw: string[] = [];
  private waiters: Waiter[] = [];
  /** Why no more frames can come, once none can. */
  private endedBy: string | undefined;

  /** Records a frame and settles the waits it matches. */
  protected record(text: string, frame: ServerFrame): void {
    this.raw.push(text);
    this.frames.push(frame);
    const index = this.frames.length - 1;
    for (const w of [...this.waiters]) {
      if (index < w.since) continue;
      let match = false;
      try {
        match = w.predicate(frame);
      } catch {
        match = false;
      }
      if (match) {
        this.waiters = this.waiters.filter((x) => x !== w);
        w.resolve(frame);
      }
    }
  }

  /** No more frames will come (`why`, e.g. "socket closed (code 1000)"): every wait rejects. */
  protected end(why: string): void {
    this.endedBy = why;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) {
      w.reject(new Error(`${why} before a matching frame arrived. Last frames:\n${describeFrames(this.frames)}`));
    }
  }

  /**
   * First frame at index >= `since` (already received or still to come) matching `predicate`.
   * Rejects on timeout or when no more frames can come, listing the last 20 frames.
   */
  waitFor<F extends ServerFrame>(predicate: (f: ServerFrame) => f is F, timeoutMs?: number, since?: number): Promise<F>;
  waitFor(predicate: (f: ServerFrame) => boolean, timeoutMs?: number, since?: number): Promise<ServerFrame>;
  waitFor(predicate: (f: ServerFrame) => boolean, timeoutMs = 15_000, since = 0): Promise<ServerFrame> {
    for (let i = since; i < this.frames.length; i++) {
      try {
        if (predicate(this.frames[i])) return Promise.resolve(this.frames[i]);
      } catch {
        /* treat a throwing predicate as no match */
      }
    }
    if (this.endedBy) {
      return Promise.reject(
        new Error(`${this.endedBy} and no matching frame was received. Last frames:\n${describeFrames(this.frames)}`),
      );
    }
    return new Promise<ServerFrame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== waiter);
        reject(
          new Error(
            `no matching frame within ${timeoutMs} ms (${this.frames.length} received). ` +
              `Last frames:\n${describeFrames(this.frames)}`,
          ),
        );
      }, timeoutMs);
      const waiter: Waiter = {
        predicate,
        since,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** First frame of `event` (or of one of several events), matching `pred` if given. */
  waitForEvent<E extends ServerEventName>(
    event: E | readonly E[],
    pred?: (f: FrameOf<E>) => boolean,
    timeoutMs = 15_000,
    since = 0,
  ): Promise<FrameOf<E>> {
    return this.waitFor((f): f is FrameOf<E> => isEvent(f, event) && (pred ? pred(f) : true), timeoutMs, since);
  }

  /** Frames with a numeric `seq` (the session's durable history as seen by this client). */
  durable(): AnyDurableFrame[] {
    return this.frames.filter(isDurable);
  }

  /** The raw text of the durable frames received at index >= `since`, in arrival order. */
  rawDurable(since = 0): string[] {
    return this.raw.filter((_, i) => i >= since && isDurable(this.frames[i]));
  }

  /** Received frames of `event` (or of one of several events). */
  events<E extends ServerEventName>(event: E | readonly E[]): FrameOf<E>[] {
    return this.frames.filter((f): f is FrameOf<E> => isEvent(f, event));
  }

  /** Highest durable seq received so far (0 when none). */
  lastSeq(): number {
    return this.durable().reduce((m, f) => Math.max(m, f.seq), 0);
  }
}

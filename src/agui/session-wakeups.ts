import type { RedisClient } from '../store/redis-connection';
import { SESSION_DELETED } from '../events/event-log';

/** Called when something was published on the session's channel; `deleted` when the session was deleted. */
export type Wakeup = (deleted: boolean) => void;

/**
 * Tells AG-UI streams that their session has news. The log stays the one source of what to
 * send (a stream reads it after each wakeup), so a wakeup carries nothing and a missed one
 * costs only latency, never an event. Its own subscriber connection, opened for the first
 * AG-UI stream: the WebSocket relay's subscriptions and hot path are not touched.
 */
export class SessionWakeups {
  private subscriber?: RedisClient;
  private readonly listeners = new Map<string, Set<Wakeup>>();

  constructor(private readonly openSubscriber: () => RedisClient) {}

  /** Subscribes (once per channel) and calls `wake` for each message; resolves once subscribed. */
  async watch(channel: string, wake: Wakeup): Promise<() => Promise<void>> {
    const sub = this.connection();
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
    }
    set.add(wake);
    // A second watcher waits for the same SSUBSCRIBE's reply: ioredis answers them in order.
    await sub.ssubscribe(channel);
    return async () => {
      const current = this.listeners.get(channel);
      current?.delete(wake);
      if (current && current.size === 0) {
        this.listeners.delete(channel);
        await sub.sunsubscribe(channel).catch(() => undefined);
      }
    };
  }

  async close(): Promise<void> {
    this.listeners.clear();
    const sub = this.subscriber;
    this.subscriber = undefined;
    if (sub) await sub.quit().catch(() => sub.disconnect());
  }

  private connection(): RedisClient {
    if (!this.subscriber) {
      const sub = this.openSubscriber();
      sub.on('smessageBuffer', (channel: Buffer, payload: Buffer) => {
        const set = this.listeners.get(channel.toString());
        if (!set) return;
        const deleted = payload.length === SESSION_DELETED.length && payload.toString() === SESSION_DELETED;
        for (const wake of set) wake(deleted);
      });
      this.subscriber = sub;
    }
    return this.subscriber;
  }
}

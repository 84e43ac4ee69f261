/**
 * Fuzz support: a normal user's session on the gateway being fuzzed, to show the fuzz does not
 * starve it: it runs tasks one after another (a task, then refinements) and pings, until stopped.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { signToken } from '../tokens';
import { TestClient } from '../ws-client';

export interface NormalSessionResult {
  /** Runs completed. */
  completed: number;
  /** The slowest ping → pong. */
  maxPingMs: number;
  pings: number;
}

/** Starts the session; `stop()` lets the run under way finish, then `done` resolves. */
export function normalSession(wsUrl: string): { stop: () => void; done: Promise<NormalSessionResult> } {
  let stopping = false;
  const done = (async () => {
    const c = await TestClient.connect(wsUrl, 'normal', signToken('fuzz-normal-user'));
    await c.waitForEvent('session.snapshot', undefined, 15_000);
    let completed = 0;
    let maxPingMs = 0;
    let pings = 0;
    let run: Promise<void> | undefined;
    let failure: Error | undefined;
    const startRun = async (): Promise<void> => {
      const event = completed === 0 ? 'task.start' : 'task.refine';
      const ack = await c.request(event, {
        text: completed === 0 ? 'Compare the tides of Brest and Cadiz.' : 'Shorter, please.',
      });
      if (ack.event !== 'ack') throw new Error(`normal session: ${event} answered ${JSON.stringify(ack)}`);
      await c.waitForEvent('run.completed', (f) => f.data.runId === ack.data.runId, 60_000);
      completed += 1;
    };
    while (!stopping || run) {
      if (!run && !stopping) {
        run = startRun()
          .catch((err: unknown) => void (failure = err instanceof Error ? err : new Error(String(err))))
          .finally(() => (run = undefined));
      }
      if (failure) throw failure;
      const since = c.frames.length;
      const t0 = Date.now();
      c.send('ping');
      await c.waitForEvent('pong', undefined, 15_000, since);
      maxPingMs = Math.max(maxPingMs, Date.now() - t0);
      pings += 1;
      await sleep(200);
    }
    await c.close();
    return { completed, maxPingMs, pings };
  })();
  return { stop: () => (stopping = true), done };
}

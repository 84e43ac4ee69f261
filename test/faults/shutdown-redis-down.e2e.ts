/**
 * Shutdown is bounded: SIGTERM ends every role within SHUTDOWN_GRACE_MS plus a few seconds
 * whatever Redis does. With Redis gone, an idle process exits 0 (nothing to hand back); a
 * worker that still holds a run it cannot hand back exits non-zero and says so (another worker
 * takes the run over once its lock expires, as after a crash). The same while Redis refuses
 * writes.
 */
import { startMaws, type MawsProcess } from '../support/maws-process';
import { adminRedis } from '../support/redis-admin';
import { expectOneWriter, startRun, waitForRunEnd } from '../support/runs';
import { QUERY } from '../support/scenario';
import { newSession } from '../support/session';
import { setUpSuite, startStack } from '../support/suite';

jest.setTimeout(90_000);

setUpSuite();

const GRACE_MS = 2_000;
/** main.ts gives what is still closing 5 s past the grace; the rest is the test's slack. */
const BOUND_MS = GRACE_MS + 5_000 + 3_000;

/** SIGTERM, and how the process ended and how long it took. */
async function terminate(proc: MawsProcess): Promise<{ code: number | null; ms: number }> {
  const t0 = Date.now();
  const exit = await proc.stop('SIGTERM', 30_000);
  return { code: exit.code, ms: Date.now() - t0 };
}

describe('SIGTERM with Redis gone', () => {
  it('every role exits in time, 0 when it held no run', async () => {
    const { redis, procs } = await startStack(['all', 'gateway', 'worker'], { SHUTDOWN_GRACE_MS: String(GRACE_MS) });
    await redis.stop();
    const exits = await Promise.all(procs.map(terminate));
    for (const [i, exit] of exits.entries()) {
      expect({ role: procs[i].role, code: exit.code }).toEqual({ role: procs[i].role, code: 0 });
      expect({ role: procs[i].role, inTime: exit.ms <= BOUND_MS }).toEqual({ role: procs[i].role, inTime: true });
    }
  });

  it('the same with Redis stalled (SIGSTOP): every role exits in time, 0 when it held no run', async () => {
    const { redis, procs } = await startStack(['all', 'gateway', 'worker'], { SHUTDOWN_GRACE_MS: String(GRACE_MS) });
    redis.kill('SIGSTOP');
    try {
      const exits = await Promise.all(procs.map(terminate));
      for (const [i, exit] of exits.entries()) {
        expect({ role: procs[i].role, code: exit.code }).toEqual({ role: procs[i].role, code: 0 });
        expect({ role: procs[i].role, inTime: exit.ms <= BOUND_MS }).toEqual({ role: procs[i].role, inTime: true });
      }
    } finally {
      redis.kill('SIGCONT');
    }
  });

  it('a worker holding a run exits in time, non-zero, and says which runs it could not hand back', async () => {
    const {
      redis,
      procs: [gateway, worker],
    } = await startStack(['gateway', 'worker'], { SHUTDOWN_GRACE_MS: String(GRACE_MS), OFFLINE_TOKEN_DELAY_MS: '30' });
    const { client } = await newSession(gateway, 'gone');
    const { runId } = await startRun(client, 'task.start', QUERY);
    await client.waitForEvent('agent.delta', (f) => f.data.runId === runId, 30_000);
    await redis.stop();
    const exit = await terminate(worker);
    expect(exit.code).toBe(1);
    expect(exit.ms).toBeLessThanOrEqual(BOUND_MS);
    expect(worker.output()).toMatch(/1 run\(s\) could not be handed back/);
  });
});

describe('SIGTERM while Redis refuses writes (out of memory)', () => {
  it('every role exits in time; the run a worker held is taken over and ends once memory is freed', async () => {
    const env = {
      SHUTDOWN_GRACE_MS: String(GRACE_MS),
      OFFLINE_TOKEN_DELAY_MS: '30',
      WORKER_LOCK_MS: '3000',
      LOG_LEVEL: 'log',
    };
    const {
      redis,
      env: stackEnv,
      procs: [gateway, worker, all],
    } = await startStack(['gateway', 'worker', 'all'], env);
    const { client } = await newSession(gateway, 'full');
    const { runId } = await startRun(client, 'task.start', QUERY);
    await client.waitForEvent('agent.delta', (f) => f.data.runId === runId, 30_000);
    const admin = adminRedis(redis);
    await admin.config('SET', 'maxmemory', '1');
    await client.waitForEvent('store.status', (f) => f.data.runId === runId && !f.data.writable, 10_000);
    const exits = await Promise.all([worker, all].map(terminate));
    for (const [i, proc] of [worker, all].entries()) {
      expect({ role: proc.role, inTime: exits[i].ms <= BOUND_MS }).toEqual({ role: proc.role, inTime: true });
      // The holder hands its run back (BullMQ's move back to the queue is taken, as it frees
      // memory first) and exits 0; had that been refused too, it exits 1 and says so.
      if (exits[i].code === 0) expect(proc.output()).toMatch(/every run handed back/);
      else
        expect({ code: exits[i].code, said: /1 run\(s\) could not be handed back/.test(proc.output()) }).toEqual({
          code: 1,
          said: true,
        });
    }
    await admin.config('SET', 'maxmemory', '0');
    await startMaws('worker', stackEnv);
    const end = await waitForRunEnd(client, runId, 90_000);
    expect(end.terminal.event).toBe('run.completed');
    await client.flush();
    expectOneWriter(client.frames, runId);
    const gatewayExit = await terminate(gateway);
    expect(gatewayExit.code).toBe(0);
  });
});

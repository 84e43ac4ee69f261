/**
 * Fault tolerance (issue 3): graceful shutdown of a gateway. SIGTERM mid-run closes its
 * sockets with 1001 and exits 0; the clients resume on another gateway with no gap.
 * (shutdown-worker.e2e.ts: SIGTERM on a worker.)
 */
import { range, seqs, TERMINAL } from '../support/frames';
import { startRun } from '../support/runs';
import { QUERY, unique } from '../support/scenario';
import { connect, newSession } from '../support/session';
import { setUpSuite, startStack } from '../support/suite';
import { signToken } from '../support/tokens';

jest.setTimeout(60_000);

setUpSuite();

describe('graceful shutdown of a gateway', () => {
  it('SIGTERM mid-run: its sockets are closed with 1001, exit 0; clients resume elsewhere', async () => {
    const {
      procs: [gatewayA, gatewayB],
    } = await startStack(['gateway', 'gateway', 'worker'], { OFFLINE_TOKEN_DELAY_MS: '10' });
    const sessionId = unique('bye');
    const token = signToken(unique('gil'));
    const { client: one } = await connect(gatewayA, sessionId, token);
    const { client: two } = await newSession(gatewayA, 'bye-other');
    const { runId } = await startRun(one, 'task.start', QUERY);
    await one.waitForEvent('agent.delta', (f) => f.data.runId === runId, 30_000);

    const exit = await gatewayA.stop('SIGTERM', 15_000);
    expect(exit).toEqual({ code: 0, signal: null });
    expect((await one.closed).code).toBe(1001);
    expect((await two.closed).code).toBe(1001);

    const n = one.lastSeq();
    expect(seqs(one.frames)).toEqual(range(1, n));
    const { client: back } = await connect(gatewayB, sessionId, token, { lastSeq: n });
    const end = await back.waitForEvent(TERMINAL, (f) => f.data.runId === runId, 45_000);
    expect(end.event).toBe('run.completed');
    await back.flush();
    expect(seqs(back.frames)).toEqual(range(n + 1, back.lastSeq()));
  });
});

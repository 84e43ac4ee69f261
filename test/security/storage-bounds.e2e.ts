/**
 * Storage bounded by count, not only by time (issue 18): a session keeps the records of its
 * newest RUN_RECORDS_KEPT runs (and always the last completed one, which a refinement builds
 * on); a user has at most MAX_SESSIONS_PER_USER sessions stored, and a run in one more is
 * answered RATE_LIMITED until one is deleted. Runs in the stored sessions go on.
 */
import type Redis from 'ioredis';
import { expectEvent } from '../support/frames';
import { httpJson } from '../support/http';
import type { MawsProcess } from '../support/maws-process';
import { adminRedis, sessionKey } from '../support/redis-admin';
import { startRun, waitForRunEnd } from '../support/runs';
import { QUERY, REFINE, unique } from '../support/scenario';
import { connect } from '../support/session';
import { setUpSuite, startStack } from '../support/suite';
import { eventually } from '../support/timing';
import { signToken } from '../support/tokens';

jest.setTimeout(90_000);

let maws: MawsProcess;
let admin: Redis;

setUpSuite(async () => {
  const stack = await startStack(['all'], {
    OFFLINE_TOKEN_DELAY_MS: '0',
    RUN_RECORDS_KEPT: '2',
    MAX_SESSIONS_PER_USER: '2',
  });
  [maws] = stack.procs;
  admin = adminRedis(stack.redis);
});

/** The run records stored for a session: the run ids of its `run:<id>` hashes. */
async function storedRuns(sessionId: string): Promise<string[]> {
  const state = await sessionKey(admin, sessionId, 'state');
  const prefix = state.replace(/:state$/, ':run:');
  const keys = await admin.keys(`${prefix}*`);
  return keys
    .filter((k) => !k.endsWith(':trace'))
    .map((k) => k.slice(prefix.length))
    .sort();
}

/** The session's run records become `expected` (pruning follows a run's start, off its ack's path). */
async function expectStoredRuns(sessionId: string, expected: string[]): Promise<void> {
  let stored: string[] = [];
  await eventually(
    async () => {
      stored = await storedRuns(sessionId);
      return JSON.stringify(stored) === JSON.stringify([...expected].sort());
    },
    5_000,
    'the pruned run records',
  ).catch(() => undefined);
  expect(stored).toEqual([...expected].sort());
}

describe('storage bounds', () => {
  it('a session keeps its newest run records and the one a refinement builds on; refinements still work', async () => {
    const sessionId = unique('records');
    const { client } = await connect(maws, sessionId, signToken(unique('records-user')));
    const runIds: string[] = [];
    for (const [i, [command, text]] of [
      ['task.start', QUERY],
      ['task.refine', REFINE],
      ['task.refine', 'Now make it shorter.'],
      ['task.refine', 'Add a one-line conclusion.'],
    ].entries()) {
      const { runId } = await startRun(client, command as 'task.start' | 'task.refine', text);
      const { terminal } = await waitForRunEnd(client, runId, 60_000);
      expect({ i, event: terminal.event }).toEqual({ i, event: 'run.completed' });
      runIds.push(runId);
    }
    // Pruned as each run began: the two newest are left (the newest is also the last completed).
    await expectStoredRuns(sessionId, [runIds[2], runIds[3]]);
    // A fifth run refines the fourth's report, from its stored record.
    const fifth = await startRun(client, 'task.refine', 'One more pass, please.');
    const { terminal } = await waitForRunEnd(client, fifth.runId, 60_000);
    expect(terminal.event).toBe('run.completed');
    expect(expectEvent(terminal, 'run.completed').data.report).toMatch(/^# Refined report/);
    await expectStoredRuns(sessionId, [runIds[3], fifth.runId]);
    // Two refinements cancelled while they wait for the person: the last completed run is
    // older than the two newest now, and is kept, since the next refinement builds on it.
    const cancelled: string[] = [];
    for (let i = 0; i < 2; i++) {
      const { runId } = await startRun(client, 'task.refine', 'ask me "Which year?" and keep it short');
      await client.waitForEvent('run.input_requested', (f) => f.data.runId === runId, 30_000);
      await client.request('task.cancel', {});
      expect((await waitForRunEnd(client, runId, 30_000)).terminal.event).toBe('run.cancelled');
      cancelled.push(runId);
    }
    await expectStoredRuns(sessionId, [fifth.runId, ...cancelled]);
    const last = await startRun(client, 'task.refine', 'Now the final version.');
    await expectStoredRuns(sessionId, [fifth.runId, cancelled[1], last.runId]);
    const ended = await waitForRunEnd(client, last.runId, 60_000);
    expect(expectEvent(ended.terminal, 'run.completed').data.report).toMatch(
      /^# Refined report: Now the final version/,
    );
    await client.close();
  });

  it('a user with MAX_SESSIONS_PER_USER sessions stored gets RATE_LIMITED for a run in another; the stored ones go on; a delete frees a place', async () => {
    const token = signToken(unique('sessions-user'));
    const ids = [unique('first'), unique('second'), unique('third')];
    const clients = [];
    for (const id of ids) clients.push((await connect(maws, id, token)).client);
    for (const client of clients.slice(0, 2)) {
      const { runId } = await startRun(client, 'task.start', QUERY);
      await waitForRunEnd(client, runId, 60_000);
    }
    const refused = await clients[2].request('task.start', { text: QUERY });
    expect(refused.event).toBe('error');
    expect(refused.data).toMatchObject({
      code: 'RATE_LIMITED',
      message: 'you have 2 sessions stored: delete one (DELETE /sessions/{id}) or continue one of them',
    });
    // Nothing of the refused run was stored: the third session is still empty and IDLE.
    const third = await connect(maws, ids[2], token);
    expect(third.snapshot.data).toMatchObject({ state: 'IDLE', lastSeq: 0 });
    await third.client.close();
    // A stored session goes on.
    const refined = await startRun(clients[0], 'task.refine', REFINE);
    expect((await waitForRunEnd(clients[0], refined.runId, 60_000)).terminal.event).toBe('run.completed');
    // Deleting one frees its place.
    const removed = await httpJson('DELETE', `${maws.url}/sessions/${ids[1]}`, undefined, {
      authorization: `Bearer ${token}`,
    });
    expect(removed.status).toBe(204);
    const started = await startRun(clients[2], 'task.start', QUERY);
    expect((await waitForRunEnd(clients[2], started.runId, 60_000)).terminal.event).toBe('run.completed');
    for (const client of clients) await client.close();
  });
});

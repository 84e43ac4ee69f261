import type { RedisClient } from './redis-connection';
import type { SessionState } from '../contract';
import { SessionKeys } from './redis-keys';
import { decodeRunRecord, RunRecord } from './run-record';
import { SessionField } from './session-record';

/** What a Clarifier or a sweeper needs of a session's state hash. */
export interface SessionView {
  exists: boolean;
  state: SessionState;
  runId?: string;
  lastRunId?: string;
  report?: string;
}

/** Reads runs' checkpoints from Redis. Writes happen in the event log's scripts. */
export class RunStore {
  constructor(private readonly redis: RedisClient) {}

  async get(sessionKey: string, runId: string): Promise<RunRecord | null> {
    return decodeRunRecord(runId, await this.redis.hgetall(new SessionKeys(sessionKey).run(runId)));
  }

  /** The session's state hash fields a Clarifier needs. */
  async sessionView(sessionKey: string): Promise<SessionView> {
    const [state, runId, lastRunId, report] = await this.redis.hmget(
      new SessionKeys(sessionKey).state,
      SessionField.state,
      SessionField.runId,
      SessionField.lastRunId,
      SessionField.report,
    );
    return {
      exists: state !== null,
      state: (state ?? 'IDLE') as SessionState,
      runId: runId ?? undefined,
      lastRunId: lastRunId ?? undefined,
      report: report ?? undefined,
    };
  }
}

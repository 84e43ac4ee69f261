import type Redis from 'ioredis';
import type { PlanItem, RunMode } from '../events/event-types';
import type { PriorFinding } from '../llm/model-provider';
import { SessionKeys } from './session-key';

/** A run's stored checkpoint: everything a worker needs to resume it or refine it. */
export interface RunRecord {
  runId: string;
  mode: RunMode;
  input: string;
  parentRunId?: string;
  status: string;
  started: boolean;
  query?: string;
  plan?: PlanItem[];
  outputs: Record<string, unknown>;
  attempts: Record<string, number>;
  current?: { stepId: string; title: string; agent: string };
  report?: string;
  /** Every finding this run knew at its end: its context's and its own. */
  knowledge?: PriorFinding[];
}

/** Reads runs' checkpoints from Redis. Writes happen in the event log's scripts. */
export class RunStore {
  constructor(private readonly redis: Redis) {}

  async get(sessionKey: string, runId: string): Promise<RunRecord | null> {
    const hash = await this.redis.hgetall(new SessionKeys(sessionKey).run(runId));
    if (!hash.mode) return null;
    const outputs: Record<string, unknown> = {};
    const attempts: Record<string, number> = {};
    for (const [field, value] of Object.entries(hash)) {
      if (field.startsWith('out:')) outputs[field.slice(4)] = JSON.parse(value);
      if (field.startsWith('attempt:')) attempts[field.slice(8)] = Number(value);
    }
    return {
      runId,
      mode: hash.mode as RunMode,
      input: hash.input,
      parentRunId: hash.parentRunId || undefined,
      status: hash.status,
      started: hash.started === '1',
      query: hash.query || undefined,
      plan: hash.plan ? (JSON.parse(hash.plan) as PlanItem[]) : undefined,
      outputs,
      attempts,
      current: hash.current
        ? { stepId: hash.current, title: hash.currentTitle ?? '', agent: hash.currentAgent ?? '' }
        : undefined,
      report: hash.report || undefined,
      knowledge: hash.knowledge ? (JSON.parse(hash.knowledge) as PriorFinding[]) : undefined,
    };
  }

  /** The session's state hash fields a Clarifier needs. */
  async sessionView(
    sessionKey: string,
  ): Promise<{ exists: boolean; state: string; runId?: string; lastRunId?: string; report?: string }> {
    const [state, runId, lastRunId, report] = await this.redis.hmget(
      new SessionKeys(sessionKey).state,
      'state',
      'runId',
      'lastRunId',
      'report',
    );
    return {
      exists: state !== null,
      state: state ?? 'IDLE',
      runId: runId ?? undefined,
      lastRunId: lastRunId ?? undefined,
      report: report ?? undefined,
    };
  }
}

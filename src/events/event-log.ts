import type Redis from 'ioredis';
import type { AppConfig } from '../config/config';
import type { RunMode, RunOutcome, SessionState } from '../contract';
import {
  PENDING_RUNS_KEY,
  RUN_DURATION_BUCKETS,
  STATS_KEY,
  SessionKeys,
  UserKeys,
  pendingRunMember,
  userKeyOf,
} from '../store/redis-keys';
import { SessionField } from '../store/session-record';
import type { RunFields } from '../store/run-record';
import { PendingEvent, frameTail } from './frames';
import {
  APPEND_EVENTS,
  AppendSentinel,
  BEGIN_RUN,
  FINISH_NOT_RUNNING,
  FINISH_RUN,
  READ_AFTER,
  SNAPSHOT,
} from './lua-scripts';

export interface EventLogOptions {
  /** Stream entries kept per session (trimmed approximately, never below this). */
  maxEvents: number;
  /** Seconds an idle session's keys live after its last event. */
  ttlSeconds: number;
}

/** An event log's options as the deployment's config sets them (every role builds its log so). */
export function eventLogOptions(
  config: Pick<AppConfig, 'HISTORY_MAX_EVENTS' | 'HISTORY_TTL_SECONDS'>,
): EventLogOptions {
  return { maxEvents: config.HISTORY_MAX_EVENTS, ttlSeconds: config.HISTORY_TTL_SECONDS };
}

export interface SessionSnapshot {
  state: SessionState;
  runId?: string;
  report?: string;
  lastSeq: number;
}

export type BeginRunResult =
  | { started: true; seq: number; mode: RunMode }
  | { started: false; state: SessionState }
  | { started: false; limit: string };

export interface RunLimits {
  maxActivePerUser: number;
  maxPerMinutePerUser: number;
}

export interface ReadResult {
  frames: string[];
  /** False when events after `afterSeq` were already trimmed away. */
  complete: boolean;
}

export interface AppendOptions {
  guardRunId?: string;
  checkpoint?: RunFields;
  once?: string;
}

function bindScripts(redis: Redis) {
  return {
    append: APPEND_EVENTS.bind(redis),
    begin: BEGIN_RUN.bind(redis),
    finish: FINISH_RUN.bind(redis),
    snapshot: SNAPSHOT.bind(redis),
    readAfter: READ_AFTER.bind(redis),
  };
}

/**
 * The session event log: every durable event is appended here, numbered, stored in the
 * session's stream and published on its channel in one atomic script.
 */
export class EventLog {
  private readonly scripts: ReturnType<typeof bindScripts>;

  constructor(
    private readonly redis: Redis,
    private readonly options: EventLogOptions,
  ) {
    this.scripts = bindScripts(redis);
  }

  private sessionKeys(k: SessionKeys): { stateKey: string; seqKey: string; logKey: string; channel: string } {
    return { stateKey: k.state, seqKey: k.seq, logKey: k.log, channel: k.channel };
  }

  private get history(): { maxlen: number; ttl: number } {
    return { maxlen: this.options.maxEvents, ttl: this.options.ttlSeconds };
  }

  /**
   * Appends events in order. With `guardRunId`, only while that run is still the running
   * one; `checkpoint` fields are stored on the run in the same step; with `once`, only if
   * the run has no such field yet. Returns the last seq (0 when `once` skipped it), or null
   * when the guard refused.
   */
  async append(sessionKey: string, events: PendingEvent[], opts: AppendOptions = {}): Promise<number | null> {
    const now = new Date();
    return this.runAppend(
      sessionKey,
      '',
      events.map((e) => frameTail(e, now)),
      opts,
    );
  }

  /**
   * Appends the one event of `variants` named by the guarded run's `field` (its mode, say),
   * with append's guard, checkpoint and once. Returns as append does; 0 also when the run's
   * field names none of them (no record).
   */
  async appendPicked(
    sessionKey: string,
    field: string,
    variants: Record<string, PendingEvent>,
    opts: AppendOptions & { guardRunId: string },
  ): Promise<number | null> {
    const now = new Date();
    return this.runAppend(
      sessionKey,
      field,
      Object.entries(variants).flatMap(([value, e]) => [value, frameTail(e, now)]),
      opts,
    );
  }

  private async runAppend(
    sessionKey: string,
    pick: string,
    tailArgs: string[],
    opts: AppendOptions,
  ): Promise<number | null> {
    const k = new SessionKeys(sessionKey);
    const fields = Object.entries(opts.checkpoint ?? {}).flat();
    const seq = (await this.scripts.append(
      { ...this.sessionKeys(k), runKey: opts.guardRunId ? k.run(opts.guardRunId) : k.state },
      {
        ...this.history,
        guard: opts.guardRunId ?? '',
        once: opts.once ?? '',
        nTails: pick ? tailArgs.length / 2 : tailArgs.length,
        pick,
      },
      [...tailArgs, ...fields],
    )) as number;
    if (seq === AppendSentinel.alreadyWritten || seq === AppendSentinel.noVariant) return 0;
    return seq === AppendSentinel.notRunning ? null : seq;
  }

  /** Moves the session to EXECUTING for a new run, if its state is one of `allowed`. */
  async beginRun(
    sessionKey: string,
    run: { runId: string; mode: RunMode | 'auto'; input: string },
    allowed: SessionState[],
    announce: Partial<Record<RunMode, { userMessage: PendingEvent; queued: PendingEvent }>>,
    limits: RunLimits = { maxActivePerUser: 1e9, maxPerMinutePerUser: 1e9 },
  ): Promise<BeginRunResult> {
    const k = new SessionKeys(sessionKey);
    const user = new UserKeys(userKeyOf(sessionKey));
    const now = new Date();
    const tails = (mode: RunMode): [string, string] => {
      const events = announce[mode];
      return events ? [frameTail(events.userMessage, now), frameTail(events.queued, now)] : ['', ''];
    };
    const [taskUserTail, taskQueuedTail] = tails('task');
    const [refinementUserTail, refinementQueuedTail] = tails('refinement');
    const [ok, value, detail] = (await this.scripts.begin(
      {
        ...this.sessionKeys(k),
        runKey: k.run(run.runId),
        activeRuns: user.activeRuns,
        runsThisMinute: user.runsThisMinute(now.getTime()),
        pendingRuns: PENDING_RUNS_KEY,
      },
      {
        ...this.history,
        allowed: allowed.join(','),
        runId: run.runId,
        mode: run.mode,
        input: run.input,
        now: now.getTime(),
        ts: now.toISOString(),
        taskUserTail,
        taskQueuedTail,
        refinementUserTail,
        refinementQueuedTail,
        maxActive: limits.maxActivePerUser,
        maxPerMinute: limits.maxPerMinutePerUser,
        pendingMember: pendingRunMember(sessionKey, run.runId),
        runKeyPrefix: k.run(''),
      },
    )) as [number, string | number, string?];
    if (ok === 1) return { started: true, seq: Number(value), mode: detail as RunMode };
    return value === 'LIMIT'
      ? { started: false, limit: detail ?? 'run limit reached' }
      : { started: false, state: value as SessionState };
  }

  /** Ends the running run with its terminal event, exactly once; false if it had ended. */
  async finishRun(
    sessionKey: string,
    runId: string,
    outcome: RunOutcome,
    terminal: PendingEvent,
    report = '',
  ): Promise<boolean> {
    const k = new SessionKeys(sessionKey);
    const now = new Date();
    const seq = (await this.scripts.finish(
      {
        ...this.sessionKeys(k),
        runKey: k.run(runId),
        statsKey: STATS_KEY,
        activeRuns: new UserKeys(userKeyOf(sessionKey)).activeRuns,
        pendingRuns: PENDING_RUNS_KEY,
      },
      {
        ...this.history,
        runId,
        outcome,
        now: now.getTime(),
        ts: now.toISOString(),
        terminalTail: frameTail(terminal, now),
        report,
        durationBuckets: RUN_DURATION_BUCKETS.join(','),
        pendingMember: pendingRunMember(sessionKey, runId),
      },
    )) as number;
    return seq !== FINISH_NOT_RUNNING;
  }

  /** Just the state, for routing a command (the snapshot would also read the report). */
  async stateOf(sessionKey: string): Promise<SessionState> {
    const state = await this.redis.hget(new SessionKeys(sessionKey).state, SessionField.state);
    return (state ?? 'IDLE') as SessionState;
  }

  async snapshot(sessionKey: string): Promise<SessionSnapshot> {
    const k = new SessionKeys(sessionKey);
    const [state, runId, report, seq] = (await this.scripts.snapshot(
      { stateKey: k.state, seqKey: k.seq },
      {},
    )) as string[];
    return {
      state: state as SessionState,
      lastSeq: Number(seq),
      ...(runId ? { runId } : {}),
      ...(report ? { report } : {}),
    };
  }

  /** Stored frames with seq > afterSeq, oldest first, up to `limit`. */
  async readAfter(sessionKey: string, afterSeq: number, limit = 1000): Promise<ReadResult> {
    const k = new SessionKeys(sessionKey);
    const [complete, ...frames] = (await this.scripts.readAfter(
      { logKey: k.log, seqKey: k.seq },
      { afterSeq, limit },
    )) as [number, ...string[]];
    return { frames, complete: complete === 1 };
  }

  channel(sessionKey: string): string {
    return new SessionKeys(sessionKey).channel;
  }
}

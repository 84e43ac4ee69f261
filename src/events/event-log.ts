import type { AppConfig } from '../config/config';
import type Redis from 'ioredis';
import { SessionKeys, UserKeys, userKeyOf } from '../session/session-key';
import type { RunMode, RunOutcome, SessionState } from './event-types';
import { PendingEvent, frameTail } from './event-types';
import { APPEND_EVENTS, BEGIN_RUN, FINISH_RUN, READ_AFTER, SNAPSHOT } from './lua-scripts';

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

const STATS_KEY = 'maws:stats';
/** Runs begun and not yet ended, across the deployment: "sessionKey|runId" → begin time. */
export const PENDING_RUNS_KEY = 'maws:runs:pending';
export const RUN_DURATION_BUCKETS = [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

type ScriptFn = (...args: (string | number)[]) => Promise<unknown>;

export interface AppendOptions {
  guardRunId?: string;
  checkpoint?: Record<string, string>;
  once?: string;
}

/**
 * The session event log: every durable event is appended here, numbered, stored in the
 * session's stream and published on its channel in one atomic script.
 */
export class EventLog {
  private readonly scripts: Record<'append' | 'begin' | 'finish' | 'snapshot' | 'readAfter', ScriptFn>;

  constructor(
    private readonly redis: Redis,
    private readonly options: EventLogOptions,
  ) {
    const define = (name: string, lua: string, keys: number): ScriptFn => {
      const command = `maws_${name}`;
      if (!(command in redis)) redis.defineCommand(command, { numberOfKeys: keys, lua });
      const fn = (redis as unknown as Record<string, ScriptFn>)[command];
      return fn.bind(redis);
    };
    this.scripts = {
      append: define('append', APPEND_EVENTS, 5),
      begin: define('begin', BEGIN_RUN, 8),
      finish: define('finish', FINISH_RUN, 8),
      snapshot: define('snapshot', SNAPSHOT, 2),
      readAfter: define('read_after', READ_AFTER, 2),
    };
  }

  private sessionKeys(k: SessionKeys): string[] {
    return [k.state, k.seq, k.log, k.channel];
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
    const runKey = opts.guardRunId ? k.run(opts.guardRunId) : k.state;
    const fields = Object.entries(opts.checkpoint ?? {}).flat();
    const seq = (await this.scripts.append(
      ...this.sessionKeys(k),
      runKey,
      this.options.maxEvents,
      this.options.ttlSeconds,
      opts.guardRunId ?? '',
      opts.once ?? '',
      pick ? tailArgs.length / 2 : tailArgs.length,
      pick,
      ...tailArgs,
      ...fields,
    )) as number;
    if (seq === -2 || seq === -3) return 0; // written before (`once`), or no variant matched
    return seq < 0 ? null : seq;
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
    const [taskUser, taskQueued] = tails('task');
    const [refineUser, refineQueued] = tails('refinement');
    const [ok, value, detail] = (await this.scripts.begin(
      ...this.sessionKeys(k),
      k.run(run.runId),
      user.activeRuns,
      user.runsThisMinute(now.getTime()),
      PENDING_RUNS_KEY,
      this.options.maxEvents,
      this.options.ttlSeconds,
      allowed.join(','),
      run.runId,
      run.mode,
      run.input,
      now.getTime(),
      now.toISOString(),
      taskUser,
      taskQueued,
      limits.maxActivePerUser,
      limits.maxPerMinutePerUser,
      `${sessionKey}|${run.runId}`,
      refineUser,
      refineQueued,
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
      ...this.sessionKeys(k),
      k.run(runId),
      STATS_KEY,
      new UserKeys(userKeyOf(sessionKey)).activeRuns,
      PENDING_RUNS_KEY,
      this.options.maxEvents,
      this.options.ttlSeconds,
      runId,
      outcome,
      now.getTime(),
      now.toISOString(),
      frameTail(terminal, now),
      report,
      RUN_DURATION_BUCKETS.join(','),
      `${sessionKey}|${runId}`,
    )) as number;
    return seq >= 0;
  }

  /** Just the state, for routing a command (the snapshot would also read the report). */
  async stateOf(sessionKey: string): Promise<SessionState> {
    return ((await this.redis.hget(new SessionKeys(sessionKey).state, 'state')) ?? 'IDLE') as SessionState;
  }

  async snapshot(sessionKey: string): Promise<SessionSnapshot> {
    const k = new SessionKeys(sessionKey);
    const [state, runId, report, seq] = (await this.scripts.snapshot(k.state, k.seq)) as string[];
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
    const [complete, ...frames] = (await this.scripts.readAfter(k.log, k.seq, afterSeq, limit)) as [
      number,
      ...string[],
    ];
    return { frames, complete: complete === 1 };
  }

  channel(sessionKey: string): string {
    return new SessionKeys(sessionKey).channel;
  }

  static statsKey(): string {
    return STATS_KEY;
  }
}

import { ThrottledErrorLog } from '../common/error-log';
import { scanKeys } from '../store/scan-keys';
import type { RedisClient } from '../store/redis-connection';
import type { AppConfig } from '../config/config';
import type { InputRequest, ReplyEventMap, ReplyEventName, RunMode, RunOutcome, SessionState } from '../contract';
import {
  PENDING_RUNS_KEY,
  RUN_DURATION_BUCKETS,
  STATS_KEY,
  SessionKeys,
  UserKeys,
  pendingRunMember,
  sessionIdOf,
  userKeyOf,
} from '../store/redis-keys';
import { SessionField, TITLE_CHARS } from '../store/session-record';
import { decodeRunRecord, RunField, STEER_PREFIX, type RunFields, type RunRecord } from '../store/run-record';
import { PendingEvent, frameTail, replyFrame } from './frames';
import {
  ACTIVATE_RUN,
  ADMIT_RUN,
  COUNT_RUN,
  ALREADY_WRITTEN,
  APPEND_EVENTS,
  APPEND_ONCE,
  ActivateSentinel,
  BEGIN_RUN,
  FINISH_RUN,
  NO_SUCH_REQUEST,
  READ_AFTER,
  RESOLVE_INPUT,
  STEER_RUN,
  SteerSentinel,
  WriteSentinel,
  SNAPSHOT,
} from './lua-scripts';

/** What a session's channel carries when the session was deleted: a NUL byte, never the start of a frame. */
export const SESSION_DELETED = '\u0000deleted';

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
  /** v2: the running run's open input request. */
  pendingInput?: InputRequest;
}

/** An input request to close with the run's end (a cancel, an expiry), and the event that says so. */
export interface ClosingRequest {
  requestId: string;
  resolved: PendingEvent;
}

export type BeginRunResult =
  | { started: true; seq: number; mode: RunMode }
  | { started: false; state: SessionState }
  | { started: false; limit: string };

/** How a run start is sent (SessionCommands.begin picks it from what the gateway last saw). */
export interface BeginHow {
  /**
   * Send the user's admission together with the read of the session's state, saving a round
   * trip, where the start is most likely a run (the session was not last seen with one going);
   * if the state says otherwise, the admission is taken back.
   */
  admitEarly?: boolean;
  /** Called once the session's start has been sent (the job may follow it on the connection). */
  onBeginSent?: () => void;
}

export interface RunLimits {
  maxActivePerUser: number;
  /** Sessions one user may have stored; a run in another one is refused (RATE_LIMITED). */
  maxSessionsPerUser?: number;
  maxPerMinutePerUser: number;
}

export interface ReadResult {
  frames: string[];
  /** False when events after `afterSeq` were already trimmed away. */
  complete: boolean;
}

export interface AppendOptions {
  /** Append only while this run is the session's running one. */
  guardRunId?: string;
  /** With guardRunId: only while this is the run's current activation (its fencing token). */
  fence?: number;
  /** Fields stored on the guarded run's record in the same step. */
  checkpoint?: RunFields;
}

/** What an append came to: its last seq, or why nothing was written. */
export type AppendResult = number | 'not-running' | 'superseded';

/**
 * A worker's claim on a run: its fencing token and the run's record, read in the same step;
 * or why there is none (`hasRecord`: a run that ended, rather than a start that was refused).
 */
export type ActivateResult =
  | { status: 'activated'; fence: number; run: RunRecord }
  | { status: 'not-running'; hasRecord: boolean }
  | { status: 'no-record' };

/** How storing a steer came out (see EventLog.steer). */
export type SteerResult = 'steered' | 'not-running' | 'already-written' | 'too-many';

/** A person's instruction as the run's worker reads it: its number (from 1) and text. */
export interface NewSteer {
  n: number;
  text: string;
}

/** How ending a run came out. */
export type FinishResult = 'finished' | 'not-running' | 'superseded';

function bindScripts(redis: RedisClient) {
  return {
    append: APPEND_EVENTS.bind(redis),
    appendOnce: APPEND_ONCE.bind(redis),
    activate: ACTIVATE_RUN.bind(redis),
    begin: BEGIN_RUN.bind(redis),
    finish: FINISH_RUN.bind(redis),
    admit: ADMIT_RUN.bind(redis),
    countRun: COUNT_RUN.bind(redis),
    snapshot: SNAPSHOT.bind(redis),
    readAfter: READ_AFTER.bind(redis),
    resolveInput: RESOLVE_INPUT.bind(redis),
    steer: STEER_RUN.bind(redis),
  };
}

/**
 * The session event log: every durable event is appended here, numbered, stored in the
 * session's stream and published on its channel in one atomic script.
 */
export class EventLog {
  private readonly scripts: ReturnType<typeof bindScripts>;
  private readonly bookkeepingErrors = new ThrottledErrorLog('EventLog', "counting a run's end");
  private readonly takeBackErrors = new ThrottledErrorLog('EventLog', "taking back a run's admission");

  constructor(
    private readonly redis: RedisClient,
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
   * one, and with `fence` as well, only while that is the run's current activation;
   * `checkpoint` fields are stored on the run in the same step.
   */
  async append(sessionKey: string, events: PendingEvent[], opts: AppendOptions = {}): Promise<AppendResult> {
    const k = new SessionKeys(sessionKey);
    const now = new Date();
    const tails = events.map((e) => frameTail(e, now));
    const fields = Object.entries(opts.checkpoint ?? {}).flat();
    const seq = (await this.scripts.append(
      { ...this.sessionKeys(k), runKey: opts.guardRunId ? k.run(opts.guardRunId) : k.state },
      { ...this.history, guard: opts.guardRunId ?? '', fence: opts.fence ?? '', nTails: tails.length },
      [...tails, ...fields],
    )) as number;
    if (seq === WriteSentinel.notRunning) return 'not-running';
    if (seq === WriteSentinel.superseded) return 'superseded';
    return seq;
  }

  /**
   * Appends events that must be written once for `writeId` (a chat job's answer), whoever
   * tries: 'already-written' when a write with that id was made before.
   */
  async appendOnce(sessionKey: string, writeId: string, events: PendingEvent[]): Promise<number | 'already-written'> {
    const k = new SessionKeys(sessionKey);
    const now = new Date();
    const seq = (await this.scripts.appendOnce(
      { ...this.sessionKeys(k), writtenKey: k.written },
      { ...this.history, writeId },
      events.map((e) => frameTail(e, now)),
    )) as number;
    return seq === ALREADY_WRITTEN ? 'already-written' : seq;
  }

  /**
   * A worker takes the session's running run: raises its fencing token (only writes with the
   * returned token are taken from now on), reads its record in the same step and, the first
   * time, appends the `run.started` of `announce` that matches the mode the record holds.
   */
  async activateRun(
    sessionKey: string,
    runId: string,
    announce: Record<RunMode, PendingEvent>,
  ): Promise<ActivateResult> {
    const k = new SessionKeys(sessionKey);
    const now = new Date();
    const [fence, detail] = (await this.scripts.activate(
      { ...this.sessionKeys(k), runKey: k.run(runId) },
      {
        ...this.history,
        runId,
        taskTail: frameTail(announce.task, now),
        refinementTail: frameTail(announce.refinement, now),
      },
    )) as [number, (number | string[])?];
    if (fence === ActivateSentinel.notRunning) return { status: 'not-running', hasRecord: detail === 1 };
    const run = Array.isArray(detail) ? decodeRunRecord(runId, pairsOf(detail)) : null;
    if (fence === ActivateSentinel.noRecord || !run) return { status: 'no-record' };
    return { status: 'activated', fence, run };
  }

  /**
   * Deletes the session's run records older than its newest `keep` (with their trace
   * context), except the one a refinement would build on (the last completed run). Returns
   * how many went. Every key is the session's, so it is one slot's transaction.
   */
  async pruneRuns(sessionKey: string, keep: number): Promise<number> {
    const k = new SessionKeys(sessionKey);
    const replies = await this.redis
      .multi()
      .zrange(k.runs, 0, -(keep + 1))
      .hget(k.state, SessionField.lastRunId)
      .exec();
    const failed = replies?.find(([err]) => err);
    if (!replies || failed) throw failed?.[0] ?? new Error('the transaction was discarded');
    const older = replies[0][1] as string[];
    const last = replies[1][1] as string | null;
    const gone = older.filter((runId) => runId !== last);
    if (gone.length === 0) return 0;
    await this.redis
      .multi()
      .del(...gone.flatMap((runId) => [k.run(runId), k.runTrace(runId)]))
      .zrem(k.runs, ...gone)
      .exec();
    return gone.length;
  }

  /**
   * Moves the session to EXECUTING for a new run, if its state is one of `allowed` and the
   * user's limits admit it. Three steps, since the user's keys, the session's and the
   * deployment's pending runs live on different cluster slots (v2 "Redis Cluster"): the
   * session's state is read (a refusal, such as a `message` that is chat, writes nothing);
   * the run is counted as pending and admitted under the user's limits; then the session
   * starts it, atomically, or refuses, and the admission is taken back. Should this process
   * die between the steps, the LostRunRequeuer forgets the pending run and its admission.
   * `onBeginSent` is called in the same tick as the session's step is sent (a job sent then,
   * on the same connection, reaches Redis after it).
   */
  async beginRun(
    sessionKey: string,
    run: { runId: string; mode: RunMode | 'auto'; input: string; review?: 'plan' },
    allowed: SessionState[],
    announce: Partial<Record<RunMode, { userMessage: PendingEvent; queued: PendingEvent }>>,
    limits: RunLimits = { maxActivePerUser: 1e9, maxPerMinutePerUser: 1e9 },
    how: BeginHow = {},
  ): Promise<BeginRunResult> {
    const k = new SessionKeys(sessionKey);
    const user = new UserKeys(userKeyOf(sessionKey));
    const now = new Date();
    const member = pendingRunMember(sessionKey, run.runId);
    const admission = { activeRuns: user.activeRuns, runsThisMinute: user.runsThisMinute(now.getTime()) };
    const admit = (): Promise<[number, string | number]> =>
      Promise.all([
        this.redis.zadd(PENDING_RUNS_KEY, now.getTime(), member),
        this.scripts.admit(
          { ...admission, userSessions: user.sessions },
          {
            ttl: this.options.ttlSeconds,
            now: now.getTime(),
            runId: run.runId,
            sessionId: sessionIdOf(sessionKey),
            maxActive: limits.maxActivePerUser,
            maxPerMinute: limits.maxPerMinutePerUser,
            maxSessions: limits.maxSessionsPerUser ?? 1e9,
          },
        ) as Promise<[number, string | number]>,
      ]).then(([, admitted]) => admitted);
    /** An admission that will not be used is taken back (and the session's place in the user's list, if it put it there). */
    const takeBack = async (admitted: [number, string | number]): Promise<void> => {
      const undo = this.redis.multi();
      if (admitted[0] === 1) {
        undo.zrem(user.activeRuns, run.runId).decr(admission.runsThisMinute);
        if (admitted[1] === 1) undo.zrem(user.sessions, sessionIdOf(sessionKey));
      }
      await Promise.all([undo.exec(), this.redis.zrem(PENDING_RUNS_KEY, member)]);
    };
    // The session's state is read first (a `message` that is chat writes nothing); where it is
    // most likely a run (see BeginHow.admitEarly) the admission goes out with the read.
    const reading = this.redis.hmget(k.state, SessionField.state, SessionField.lastRunId);
    const admittingEarly = how.admitEarly ? admit() : undefined;
    // Both settle before anything is decided, so an early admission is always used or taken back.
    const [read, admittedEarly] = await Promise.allSettled([reading, admittingEarly]);
    const early = admittedEarly.status === 'fulfilled' ? admittedEarly.value : undefined;
    if (read.status === 'rejected' || admittedEarly.status === 'rejected') {
      // The read's failure is what the caller hears; a failed take-back is logged (the lost-run sweep heals it).
      if (early) await takeBack(early).catch(this.takeBackErrors.report);
      throw read.status === 'rejected' ? read.reason : (admittedEarly as PromiseRejectedResult).reason;
    }
    const [state, lastRunId] = read.value;
    const current = (state ?? 'IDLE') as SessionState;
    if (!allowed.includes(current)) {
      if (early) await takeBack(early);
      return { started: false, state: current };
    }
    const admitted = early ?? (await admit());
    if (admitted[0] !== 1) {
      await this.redis.zrem(PENDING_RUNS_KEY, member);
      return { started: false, limit: String(admitted[1]) };
    }

    const tails = (mode: RunMode): [string, string] => {
      const events = announce[mode];
      return events ? [frameTail(events.userMessage, now), frameTail(events.queued, now)] : ['', ''];
    };
    const [taskUserTail, taskQueuedTail] = tails('task');
    const [refinementUserTail, refinementQueuedTail] = tails('refinement');
    const began = this.scripts.begin(
      {
        ...this.sessionKeys(k),
        runKey: k.run(run.runId),
        runIndex: k.runs,
        parentRunKey: k.run(lastRunId ?? ''),
      },
      {
        ...this.history,
        allowed: allowed.join(','),
        runId: run.runId,
        mode: run.mode,
        input: run.input,
        review: run.review ?? '',
        now: now.getTime(),
        ts: now.toISOString(),
        taskUserTail,
        taskQueuedTail,
        refinementUserTail,
        refinementQueuedTail,
        expectedParent: lastRunId ?? '',
        title: [...run.input].slice(0, TITLE_CHARS).join(''),
      },
    ) as Promise<[number, string | number, string?]>;
    how.onBeginSent?.();
    const [ok, value, mode] = await began;
    if (ok === 1) return { started: true, seq: Number(value), mode: mode as RunMode };
    // Refused: the admission is taken back.
    await takeBack(admitted);
    // RETRY: another run completed between the read and the start (so the state changed too).
    const refusedIn = value === 'RETRY' ? (await this.stateAndRun(sessionKey)).state : (value as SessionState);
    return { started: false, state: refusedIn };
  }

  /**
   * Ends the running run with its terminal event, exactly once. A worker passes its fencing
   * token (`fence`), so that one whose run was taken over cannot end it; a cancel passes none.
   * Then, on other slots, the run leaves the user's running runs and the deployment's pending
   * ones and is counted in the stats; should that fail (or this process die first), the
   * LostRunRequeuer clears the first two.
   */
  async finishRun(
    sessionKey: string,
    runId: string,
    outcome: RunOutcome,
    terminal: PendingEvent,
    { report = '', fence, closing }: { report?: string; fence?: number; closing?: ClosingRequest } = {},
  ): Promise<FinishResult> {
    const k = new SessionKeys(sessionKey);
    const now = new Date();
    const reply = (await this.scripts.finish(
      { ...this.sessionKeys(k), runKey: k.run(runId) },
      {
        ...this.history,
        runId,
        fence: fence ?? '',
        outcome,
        now: now.getTime(),
        ts: now.toISOString(),
        terminalTail: frameTail(terminal, now),
        report,
        requestId: closing?.requestId ?? '',
        resolvedTail: closing ? frameTail(closing.resolved, now) : '',
      },
    )) as number | [number, string];
    if (reply === WriteSentinel.notRunning) return 'not-running';
    if (reply === WriteSentinel.superseded) return 'superseded';
    const [, seconds] = reply as [number, string];
    await Promise.all([
      this.redis.zrem(new UserKeys(userKeyOf(sessionKey)).activeRuns, runId),
      this.redis.zrem(PENDING_RUNS_KEY, pendingRunMember(sessionKey, runId)),
      this.scripts.countRun(
        { statsKey: STATS_KEY },
        { outcome, seconds, durationBuckets: RUN_DURATION_BUCKETS.join(',') },
      ),
    ]).catch(this.bookkeepingErrors.report);
    return 'finished';
  }

  /**
   * Stores a person's answer to the run's open request `requestId` and announces it
   * (`message`, then `resolved`), in one step. 'no-such-request' when the run is not the
   * session's running one or has no open request of that id (answered already, ended, never).
   */
  async resolveInput(
    sessionKey: string,
    runId: string,
    requestId: string,
    answer: unknown,
    events: { message: PendingEvent; resolved: PendingEvent },
  ): Promise<'resolved' | 'no-such-request'> {
    const k = new SessionKeys(sessionKey);
    const now = new Date();
    const seq = (await this.scripts.resolveInput(
      { ...this.sessionKeys(k), runKey: k.run(runId) },
      {
        ...this.history,
        runId,
        requestId,
        answer: JSON.stringify(answer),
        messageTail: frameTail(events.message, now),
        resolvedTail: frameTail(events.resolved, now),
      },
    )) as number;
    return seq === NO_SUCH_REQUEST ? 'no-such-request' : 'resolved';
  }

  /**
   * Stores a person's instruction on the running run `runId` (v2 "Steering") and announces
   * it with `events`, in one step; with `writeId`, once only. Refused when the run is not the
   * session's running one, or already holds `maxSteers` instructions.
   */
  async steer(
    sessionKey: string,
    runId: string,
    text: string,
    events: PendingEvent[],
    opts: { maxSteers: number; writeId?: string },
  ): Promise<SteerResult> {
    const k = new SessionKeys(sessionKey);
    const now = new Date();
    const seq = (await this.scripts.steer(
      { ...this.sessionKeys(k), runKey: k.run(runId), writtenKey: k.written },
      {
        ...this.history,
        runId,
        writeId: opts.writeId ?? '',
        steer: JSON.stringify({ text }),
        maxSteers: opts.maxSteers,
      },
      events.map((e) => frameTail(e, now)),
    )) as number;
    if (seq === SteerSentinel.notRunning) return 'not-running';
    if (seq === SteerSentinel.alreadyWritten) return 'already-written';
    if (seq === SteerSentinel.tooMany) return 'too-many';
    return 'steered';
  }

  /**
   * The run's instructions after the first `applied` (read at each step boundary): one HGET
   * of the count, and one HMGET of the new ones when there are any.
   */
  async steersAfter(sessionKey: string, runId: string, applied: number): Promise<NewSteer[]> {
    const runKey = new SessionKeys(sessionKey).run(runId);
    const count = Number((await this.redis.hget(runKey, RunField.steers)) ?? 0);
    if (count <= applied) return [];
    const numbers = Array.from({ length: count - applied }, (_, i) => applied + i + 1);
    const values = await this.redis.hmget(runKey, ...numbers.map((n) => STEER_PREFIX + n));
    return numbers.flatMap((n, i) => {
      const value = values[i];
      return value ? [{ n, text: (JSON.parse(value) as { text: string }).text }] : [];
    });
  }

  /**
   * Keeps a waiting run's session and record until `untilMs` and then the history's usual
   * time: a run's own events leave the keys' TTL alone, so without this a request open as
   * long as INPUT_TTL_SECONDS could outlive its session (24 h each by default).
   */
  async holdUntil(sessionKey: string, runId: string, untilMs: number): Promise<void> {
    const k = new SessionKeys(sessionKey);
    const seconds = Math.ceil(Math.max(0, untilMs - Date.now()) / 1000) + this.options.ttlSeconds;
    const keys = [k.state, k.seq, k.log, k.run(runId), k.runTrace(runId)];
    await this.redis.pipeline(keys.map((key) => ['expire', key, seconds])).exec();
  }

  /** The run's open input request, if it has one. */
  async pendingInput(sessionKey: string, runId: string): Promise<InputRequest | undefined> {
    const raw = await this.redis.hget(new SessionKeys(sessionKey).run(runId), RunField.pendingInput);
    return raw ? (JSON.parse(raw) as InputRequest) : undefined;
  }

  /** The state and the running run, in one read (the snapshot would also read the report and the open request). */
  async stateAndRun(sessionKey: string): Promise<{ state: SessionState; runId?: string }> {
    const [state, runId] = await this.redis.hmget(
      new SessionKeys(sessionKey).state,
      SessionField.state,
      SessionField.runId,
    );
    return { state: (state ?? 'IDLE') as SessionState, ...(runId ? { runId } : {}) };
  }

  async snapshot(sessionKey: string): Promise<SessionSnapshot> {
    const k = new SessionKeys(sessionKey);
    const [state, runId, report, seq] = (await this.scripts.snapshot(
      { stateKey: k.state, seqKey: k.seq },
      {},
    )) as string[];
    // A waiting run's request (read after: a request opened in between also comes as its event).
    const pendingInput = state === 'EXECUTING' && runId ? await this.pendingInput(sessionKey, runId) : undefined;
    return {
      state: state as SessionState,
      lastSeq: Number(seq),
      ...(runId ? { runId } : {}),
      ...(report ? { report } : {}),
      ...(pendingInput ? { pendingInput } : {}),
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

  /**
   * A notice to the session's sockets on every gateway: no seq, not stored, so it is lost on
   * a socket that is away. SPUBLISH is no write, so it goes out also while Redis refuses writes.
   */
  async notify<E extends ReplyEventName>(sessionKey: string, event: E, data: ReplyEventMap[E]): Promise<void> {
    await this.redis.spublish(this.channel(sessionKey), replyFrame(event, data));
  }

  /**
   * v2 "Sessions over HTTP": tells every gateway that the session was deleted (a message on
   * its channel that is no frame: SESSION_DELETED), so they close its sockets.
   */
  /**
   * Removes the session's keys (with its run records, found by the run index) and leaves a
   * marker saying it was deleted, in one transaction: a worker still ending one of its runs
   * must not take the missing keys for lost state and write the session back.
   */
  async deleteSession(sessionKey: string): Promise<void> {
    const k = new SessionKeys(sessionKey);
    const [runIds, unindexed, seq] = await Promise.all([
      this.redis.zrange(k.runs, 0, -1),
      this.redis.hget(k.state, SessionField.unindexedRuns),
      this.redis.exists(k.seq),
    ]);
    const runKeys = runIds.flatMap((runId) => [k.run(runId), k.runTrace(runId)]);
    // Records written before the run index existed are found the slow way, once.
    if (unindexed || (runIds.length === 0 && seq === 1)) runKeys.push(...(await scanKeys(this.redis, k.run('*'))));
    await this.redis
      .multi()
      .del(k.state, k.seq, k.log, k.written, k.runs, ...runKeys)
      .set(k.deleted, String(Date.now()), 'EX', this.options.ttlSeconds)
      .exec();
  }

  /** Whether the session was deleted on purpose (within its history's TTL). */
  async wasDeleted(sessionKey: string): Promise<boolean> {
    return (await this.redis.exists(new SessionKeys(sessionKey).deleted)) === 1;
  }

  async announceDeleted(sessionKey: string): Promise<void> {
    await this.redis.spublish(this.channel(sessionKey), SESSION_DELETED);
  }

  channel(sessionKey: string): string {
    return new SessionKeys(sessionKey).channel;
  }
}

/** A flat HGETALL reply as field → value. */
function pairsOf(flat: string[]): Record<string, string> {
  const hash: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) hash[flat[i]] = flat[i + 1];
  return hash;
}

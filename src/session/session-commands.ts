import { randomBytes } from 'node:crypto';
import { isCluster, type RedisClient } from '../store/redis-connection';
import { ClientError } from '../common/client-error';
import { ThrottledErrorLog } from '../common/error-log';
import type { EventLog, RunLimits } from '../events/event-log';
import {
  MAX_STEERS_PER_RUN,
  type ControlMessage,
  type InputRequest,
  type RunMode,
  type SessionState,
} from '../contract';
import { answerFromText, checkedAnswer, type AnswerLimits, type InputAnswer } from './input-answers';
import { durable } from '../events/frames';
import type { JobProducer } from '../jobs/job-producer';
import { BusySessions } from './busy-sessions';
import { CONTROL_CHANNEL } from '../store/redis-keys';
import type { StoreWrites } from '../store/store-writes';
import type { RunTraces } from '../tracing/run-traces';
import { workCounters } from '../ops/work-counters';

export interface CommandResult {
  runId?: string;
}

const START_FROM: SessionState[] = ['IDLE', 'REFINEMENT_READY'];
const REFINE_FROM: SessionState[] = ['REFINEMENT_READY'];
/** Sessions remembered as busy (see BusySessions); past this the oldest are forgotten. */
const BUSY_SESSIONS_KEPT = 10_000;

/**
 * What a person can ask of a session. State changes are atomic in Redis, so two tabs
 * that start a task at the same moment get one run and one INVALID_STATE.
 */
export class SessionCommands {
  private readonly busy = new BusySessions(BUSY_SESSIONS_KEPT);
  private readonly dropErrors = new ThrottledErrorLog('SessionCommands', "removing a refused run's job failed");
  private readonly pruneErrors = new ThrottledErrorLog('SessionCommands', "pruning a session's old run records failed");
  private readonly lateQueueErrors = new ThrottledErrorLog(
    'SessionCommands',
    'queueing a job once Redis had room failed',
  );

  constructor(
    private readonly log: EventLog,
    private readonly jobs: JobProducer,
    private readonly publisher: RedisClient,
    private readonly limits: RunLimits,
    private readonly writes: StoreWrites,
    private readonly traces: RunTraces,
    private readonly answerLimits: AnswerLimits = { maxSubtasks: 50, maxInputChars: 16_000 },
    /** Run records a session keeps (RUN_RECORDS_KEPT): older ones are pruned as runs begin. */
    private readonly runRecordsKept = 20,
  ) {}

  /**
   * `message`: one box, routed by state as a person would expect. Starting a task or a
   * refinement is decided in the same atomic step that starts it; a running session
   * gets the text as chat.
   */
  async message(sessionKey: string, text: string, replyTo?: string): Promise<CommandResult> {
    const started = await this.begin(sessionKey, text, 'auto', START_FROM);
    if (started) return started;
    // A run waiting on the person: the message is the answer (v2 "People in the loop").
    const waiting = await this.openRequest(sessionKey);
    if (waiting)
      return this.answer(sessionKey, waiting.runId, waiting.request, answerFromText(waiting.request, text), text);
    // Otherwise the Clarifier reads it: a question, or an instruction for the run (v2 "Steering").
    return this.chat(sessionKey, text, replyTo, true);
  }

  async startTask(sessionKey: string, text: string, review?: 'plan'): Promise<CommandResult> {
    return (await this.begin(sessionKey, text, 'task', START_FROM, review)) ?? this.refused('EXECUTING');
  }

  /**
   * `run.respond`: answers the running run's open request. A request that is not open (answered
   * already, expired, cancelled, of another run or session) is INVALID_STATE, naming nothing
   * of it; an answer of the wrong shape is VALIDATION_FAILED, and the request stays open.
   */
  async respond(sessionKey: string, requestId: string, answer: unknown): Promise<CommandResult> {
    const waiting = await this.openRequest(sessionKey);
    if (!waiting || waiting.request.requestId !== requestId) {
      throw new ClientError('INVALID_STATE', 'no input request of that id is open in this session');
    }
    const checked = checkedAnswer(waiting.request, answer, this.answerLimits);
    return this.answer(sessionKey, waiting.runId, waiting.request, checked, describeAnswer(waiting.request, checked));
  }

  private async openRequest(sessionKey: string): Promise<{ runId: string; request: InputRequest } | undefined> {
    // The snapshot carries the running run's open request (read once, not again here).
    const { state, runId, pendingInput } = await this.log.snapshot(sessionKey);
    return state === 'EXECUTING' && runId && pendingInput ? { runId, request: pendingInput } : undefined;
  }

  /** Stores the answer with its announcement, then wakes the run's parked job. */
  private async answer(
    sessionKey: string,
    runId: string,
    request: InputRequest,
    answer: unknown,
    text: string,
  ): Promise<CommandResult> {
    const { requestId } = request;
    const resolved = await this.log.resolveInput(sessionKey, runId, requestId, answer, {
      message: durable('user.message', { text, kind: 'answer' }),
      resolved: durable('run.input_resolved', { runId, requestId, status: 'answered', answer }),
    });
    if (resolved === 'no-such-request') {
      throw new ClientError('INVALID_STATE', 'no input request of that id is open in this session');
    }
    workCounters().inputResolved(request.kind, 'answered', request.expiresAt);
    // The run's next activation is traced under this command (v2 "Observability").
    await this.traces.wokenBy(sessionKey, runId);
    // A job not parked yet is woken by its worker, which looks again once it has parked.
    await this.jobs.wakeRun(runId);
    return { runId };
  }

  /**
   * `run.steer` (v2 "Steering"): an instruction for the running run, stored on it with its
   * user.message in one step; the run's worker applies it at the next step boundary. A run
   * waiting on the person keeps it until it goes on.
   */
  async steer(sessionKey: string, text: string): Promise<CommandResult> {
    const { state, runId } = await this.log.stateAndRun(sessionKey);
    if (state !== 'EXECUTING' || !runId) {
      throw new ClientError('INVALID_STATE', `no run is going to steer (state ${state}); start a task first`);
    }
    const steered = await this.log.steer(sessionKey, runId, text, [durable('user.message', { text, kind: 'steer' })], {
      maxSteers: MAX_STEERS_PER_RUN,
    });
    if (steered === 'not-running') throw new ClientError('INVALID_STATE', 'the run had already ended');
    if (steered === 'too-many') {
      throw new ClientError('RATE_LIMITED', `a run takes at most ${MAX_STEERS_PER_RUN} steering instructions`);
    }
    return { runId };
  }

  async refine(sessionKey: string, text: string): Promise<CommandResult> {
    return (await this.begin(sessionKey, text, 'refinement', REFINE_FROM)) ?? this.refused('EXECUTING');
  }

  /** Chat: the Clarifier answers; `steerable` lets it read the text as an instruction for the running run. */
  async chat(sessionKey: string, text: string, replyTo?: string, steerable = false): Promise<CommandResult> {
    // One round trip: both go out on one connection, the question first (see JobProducer).
    const payload = {
      sessionKey,
      text,
      ...(replyTo !== undefined ? { replyTo } : {}),
      ...(steerable ? { steerable } : {}),
    };
    const [logged, queued] = await Promise.allSettled([
      this.log.append(sessionKey, [durable('user.message', { text, kind: 'chat' })]),
      this.jobs.enqueueChat(payload),
    ]);
    if (logged.status === 'rejected') throw logged.reason;
    if (queued.status === 'rejected' && !this.queueWhenRoom(queued.reason, () => this.jobs.enqueueChat(payload))) {
      throw queued.reason;
    }
    return {};
  }

  async cancel(sessionKey: string): Promise<CommandResult> {
    const { state, runId, pendingInput } = await this.log.snapshot(sessionKey);
    if (state !== 'EXECUTING' || !runId) throw new ClientError('INVALID_STATE', 'no run is going');
    // A request the run waits on ends with it.
    const closing = pendingInput && {
      requestId: pendingInput.requestId,
      resolved: durable('run.input_resolved', { runId, requestId: pendingInput.requestId, status: 'cancelled' }),
    };
    const ended = await this.log.finishRun(sessionKey, runId, 'cancelled', durable('run.cancelled', { runId }), {
      ...(closing ? { closing } : {}),
    });
    if (ended !== 'finished') throw new ClientError('INVALID_STATE', 'the run had already ended');
    if (pendingInput) workCounters().inputResolved(pendingInput.kind, 'cancelled', pendingInput.expiresAt);
    // The terminal event is written; now stop the work wherever it is.
    const message: ControlMessage = { type: 'cancel', runId };
    await this.publisher.publish(CONTROL_CHANNEL, JSON.stringify(message));
    await this.jobs.removeQueuedRun(runId);
    return { runId };
  }

  /** Starts a run; undefined when the session is EXECUTING (for `message` that means chat). */
  private async begin(
    sessionKey: string,
    text: string,
    mode: RunMode | 'auto',
    allowed: SessionState[],
    review?: 'plan',
  ): Promise<CommandResult | undefined> {
    const runId = `r_${randomBytes(12).toString('base64url')}`;
    const announce = (m: RunMode) => ({
      userMessage: durable('user.message', { text, kind: m }),
      queued: durable('run.queued', { runId, mode: m, input: text }),
    });
    const enqueue = () => this.jobs.enqueueRun({ sessionKey, runId, ...(mode !== 'auto' ? { mode } : {}) });
    const queue = () =>
      enqueue().then(
        () => undefined,
        (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
      );
    // Mostly the job goes out right behind the session's step, on the same connection (see
    // JobProducer), so Redis has decided the run before its job exists: one round trip
    // instead of two. Where a run was last seen going, this is most likely chat or a refusal,
    // and the job waits for the answer instead of being queued and removed again. On a
    // cluster the job's queue lives on another master, which keeps no order with the
    // session's: there the job always waits for the answer.
    const pipelined = !isCluster(this.publisher) && !this.busy.has(sessionKey);
    let queuedEarly: Promise<Error | undefined> | undefined;
    const began = this.log.beginRun(
      sessionKey,
      { runId, mode, input: text, ...(review ? { review } : {}) },
      allowed,
      mode === 'auto' ? { task: announce('task'), refinement: announce('refinement') } : { [mode]: announce(mode) },
      this.limits,
      {
        admitEarly: !this.busy.has(sessionKey),
        onBeginSent: pipelined
          ? () => {
              queuedEarly = queue();
            }
          : undefined,
      },
    );
    const dropJob = (): void => {
      // The job went out for a run Redis refused. Were it left, its worker would find no run
      // and end at once, so a failure to remove it is logged, not acted on.
      void queuedEarly?.then(() => this.jobs.removeQueuedRun(runId)).catch(this.dropErrors.report);
    };
    let result: Awaited<typeof began>;
    try {
      result = await began;
    } catch (err) {
      dropJob();
      throw err;
    }
    if (!result.started) {
      dropJob();
      if ('limit' in result) throw new ClientError('RATE_LIMITED', result.limit);
      if (result.state === 'EXECUTING') {
        this.busy.add(sessionKey);
        return undefined;
      }
      this.busy.delete(sessionKey);
      this.refused(result.state);
    }
    this.busy.add(sessionKey);
    // Bounded by count, not only by time: the session keeps its newest run records (off the ack's path).
    void this.log.pruneRuns(sessionKey, this.runRecordsKept).catch(this.pruneErrors.report);
    const queueError = await (queuedEarly ?? queue());
    // Begun and announced: when Redis refused only the job, the run keeps its place.
    if (queueError && this.queueWhenRoom(queueError, enqueue)) return { runId };
    if (queueError) {
      await this.log.finishRun(
        sessionKey,
        runId,
        'failed',
        durable('run.failed', { runId, error: { code: 'INTERNAL', message: 'the run could not be queued' } }),
      );
      throw queueError;
    }
    return { runId };
  }

  /**
   * What was recorded stands, so its job must follow: when Redis refused the job (out of
   * memory, read-only), it is queued again once Redis takes writes. Should this gateway die
   * meanwhile, the LostRunRequeuer queues a run's job. False for any other error: the caller's to handle.
   */
  private queueWhenRoom(err: unknown, enqueue: () => Promise<unknown>): boolean {
    if (!this.writes.noteError(err)) return false;
    void this.writes.write(enqueue).catch(this.lateQueueErrors.report);
    return true;
  }

  private refused(state: SessionState): never {
    const why = state === 'EXECUTING' ? 'a run is already going in this session' : 'there is no report to refine yet';
    throw new ClientError('INVALID_STATE', `${why} (state ${state})`);
  }
}

/** An answer as the person's message in the history says it. */
function describeAnswer(request: InputRequest, answer: InputAnswer): string {
  if ('text' in answer) return answer.text;
  const tool = request.toolCall?.tool ?? 'the tool';
  if (request.kind === 'tool_approval') return answer.approve ? `Allowed ${tool}.` : `Denied ${tool}.`;
  if ('feedback' in answer) return answer.feedback;
  return 'plan' in answer && answer.plan
    ? `Approved the plan, edited: ${answer.plan.map((p) => p.title).join('; ')}`
    : 'Approved the plan.';
}

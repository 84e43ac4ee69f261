import { DelayedError, Job, UnrecoverableError, WaitingError, Worker } from 'bullmq';
import { PlanInvalidError } from '../../agents/plan-parser';
import { Logger } from '@nestjs/common';
import { HandBackError, RunActivation, RunNotFoundError, RunResolver } from '../../agents/run-resolver';
import { logErrorsOf } from '../../common/error-log';
import type { EventLog } from '../../events/event-log';
import { ControlMessage, JobName, QueueName, RunError } from '../../contract';
import { durable } from '../../events/frames';
import { RunNotCurrentError, RunTakenOverError } from '../../events/run-event-writer';
import { PermanentModelError } from '../../llm/model-provider';
import { ReplanExhaustedError } from '../../agents/replanning/replan-exhausted-error';
import { stepFailureOf } from '../../agents/step-failure';
import { ParkRunError } from '../../agents/review/park-run-error';
import type { RunStore } from '../../store/run-store';
import { bullConnection, closeBullConnection, type RedisClient, type RedisTarget } from '../../store/redis-connection';
import type { StoreWrites } from '../../store/store-writes';
import { withLogContext } from '../../logging/log-context';
import { CONTROL_CHANNEL, queuePrefixOf } from '../../store/redis-keys';
import { SpanKind } from '@opentelemetry/api';
import { queueTelemetry } from '../../tracing/queue-telemetry';
import type { RunTraces } from '../../tracing/run-traces';
import { inSpan, pastSpan } from '../../tracing/spans';
import { assertPayload } from '../job-payloads';
import { RunLockLostError } from '../run-lock-lost-error';

export interface ResolverWorkerOptions {
  redis: RedisTarget;
  concurrency: number;
  /** How long a run held by a worker may go without its lock being renewed. */
  lockMs: number;
  stalledIntervalMs: number;
  /** On SIGTERM: how long running steps may take to finish before they are handed back. */
  shutdownGraceMs: number;
}

interface ActiveRun {
  cancel: AbortController;
  handBack: AbortController;
}

/**
 * Runs resolver jobs (one per run). Cancels arrive on a broadcast channel, because only
 * the worker process holding a run can abort its model call.
 */
export class ResolverProcessor {
  private readonly logger = new Logger('ResolverWorker');
  private worker?: Worker;
  /** BullMQ's connection options (on a cluster, the Cluster, closed at stop). */
  private connection?: ReturnType<typeof bullConnection>;
  private readonly active = new Map<string, ActiveRun>();
  private handBacksFailed = 0;

  constructor(
    private readonly resolver: RunResolver,
    private readonly log: EventLog,
    private readonly runs: RunStore,
    private readonly control: RedisClient,
    private readonly writes: StoreWrites,
    private readonly options: ResolverWorkerOptions,
    private readonly traces: RunTraces,
  ) {}

  async start(): Promise<void> {
    this.control.on('message', (channel: string, message: string) => {
      if (channel === CONTROL_CHANNEL) this.onControl(message);
    });
    await this.control.subscribe(CONTROL_CHANNEL);
    this.worker = new Worker(
      QueueName.Resolver,
      // Every line logged while the run is worked on carries its run and session.
      (job, token, signal) => withLogContext(runContextOf(job.data), () => this.process(job, token, signal)),
      {
        connection: (this.connection = bullConnection(this.options.redis, 'worker-resolver')),
        prefix: queuePrefixOf('resolver'),
        concurrency: this.options.concurrency,
        lockDuration: this.options.lockMs,
        stalledInterval: this.options.stalledIntervalMs,
        maxStalledCount: 5,
        ...queueTelemetry(),
      },
    );
    // Lock renewals refused while Redis refuses writes go into that one condition's log lines.
    logErrorsOf(this.worker, 'ResolverWorker', 'resolver queue worker', (err) => !!this.writes.noteError(err));
    // A lock that could not be renewed, or a job of ours found stalled, means another worker
    // may take (or has taken) the run: stop its model call now rather than at the next write.
    this.worker.on('lockRenewalFailed', (jobIds: string[]) => {
      for (const id of jobIds) this.active.get(id)?.cancel.abort(new RunLockLostError(id, 'its renewal failed'));
    });
    this.worker.on('stalled', (jobId: string) => {
      this.active.get(jobId)?.cancel.abort(new RunLockLostError(jobId, 'the job was found stalled'));
    });
    await this.worker.waitUntilReady();
  }

  /**
   * Runs this worker still holds, or could not hand back (the hand-back itself failed: Redis
   * refused it): another worker takes those over once their locks expire.
   */
  get runsHeld(): number {
    return this.active.size + this.handBacksFailed;
  }

  /**
   * Graceful stop: take no new runs; runs in progress stop after their current step (or
   * when the grace period ends, mid-step) and go back to the queue for another worker.
   */
  async stop(): Promise<void> {
    const closing = this.worker?.close();
    for (const run of this.active.values()) run.handBack.abort();
    const grace = setTimeout(() => {
      for (const run of this.active.values()) run.cancel.abort(new HandBackError());
    }, this.options.shutdownGraceMs);
    try {
      await closing;
    } finally {
      clearTimeout(grace);
      // The connection is dropped next either way; an unsubscribe that fails changes nothing.
      await this.control.unsubscribe(CONTROL_CHANNEL).catch(() => undefined);
      this.control.disconnect();
      if (this.connection) closeBullConnection(this.connection);
    }
  }

  private onControl(message: string): void {
    let parsed: ControlMessage;
    try {
      parsed = JSON.parse(message) as ControlMessage;
    } catch {
      return;
    }
    if (parsed.type === 'cancel') this.active.get(parsed.runId)?.cancel.abort(new Error('cancelled'));
  }

  /**
   * One activation of a run, as the `maws.run` span of its trace (v2 "Observability"): under
   * the command that asked for it, after its wait in the queue.
   */
  private async process(job: Job, token?: string, bullSignal?: AbortSignal): Promise<void> {
    const { sessionKey, runId } = assertPayload(JobName.ResolveRun, job.data);
    const traced = await this.traces.activationOf(sessionKey, runId);
    const attributes = { 'maws.run_id': runId, 'maws.session': sessionKey, 'maws.job.attempts_made': job.attemptsMade };
    return inSpan(
      'maws.run',
      {
        kind: SpanKind.INTERNAL,
        attributes,
        ...(traced ? { parent: traced.parent, root: traced.root, links: traced.links } : {}),
        // Parked to wait for the person, or handed back: not failures.
        expected: (err) => err instanceof DelayedError || err instanceof WaitingError,
      },
      async (span) => {
        if (span && traced) {
          const queuedSince = traced.queuedSince ?? (traced.stored ? undefined : job.timestamp);
          if (queuedSince !== undefined && !traced.root) {
            pastSpan('maws.queue.wait', queuedSince, { parent: traced.parent, attributes });
          }
          // Not awaited: it never fails, and Redis keeps one connection's commands in order.
          void this.traces.activated(sessionKey, runId, span, traced);
        }
        return this.activateAndResolve(job, sessionKey, runId, token, bullSignal, span?.spanContext().traceId);
      },
    );
  }

  private async activateAndResolve(
    job: Job,
    sessionKey: string,
    runId: string,
    token: string | undefined,
    bullSignal: AbortSignal | undefined,
    traceId: string | undefined,
  ): Promise<void> {
    const run: ActiveRun = { cancel: new AbortController(), handBack: new AbortController() };
    this.active.set(runId, run);
    const signal = bullSignal ? AbortSignal.any([run.cancel.signal, bullSignal]) : run.cancel.signal;
    let activation: RunActivation | null = null;
    const startedAt = Date.now();
    try {
      activation = await this.resolver.activate(sessionKey, runId, signal, traceId);
      if (!activation) return;
      this.logger.log(`run activated (${activation.run.mode}), ${job.attemptsMade} earlier attempts of its job`);
      await this.resolver.resolve(activation, signal, run.handBack.signal);
      this.logger.log(`run ended here after ${Date.now() - startedAt} ms`);
    } catch (err) {
      if (err instanceof ParkRunError) return await this.park(job, token, sessionKey, runId, err);
      const lost = [err, run.cancel.signal.reason].find(
        (e): e is Error => e instanceof RunTakenOverError || e instanceof RunLockLostError,
      );
      if (lost) {
        // Not ours any more: nothing further is written, and the job is left to its new holder.
        this.logger.warn(`${lost.message}: stopped it without writing more`);
        return;
      }
      if (err instanceof HandBackError || run.cancel.signal.reason instanceof HandBackError) {
        // Not a failure: the job waits for another worker, which resumes at the checkpoint.
        await job.moveToWait(token).catch((moveErr: unknown) => {
          this.handBacksFailed++;
          throw moveErr;
        });
        throw new WaitingError();
      }
      if (err instanceof RunNotCurrentError) return this.endedElsewhere(sessionKey, runId);
      if (run.cancel.signal.aborted) return; // Cancelled: run.cancelled is already written.
      await this.failIfFinal(job, sessionKey, runId, activation?.run.fence, err);
      throw err;
    } finally {
      // The same run may be this worker's again by now (taken back after a stall): keep that one.
      if (this.active.get(runId) === run) this.active.delete(runId);
    }
  }

  /**
   * The run waits on the person: its job goes to the delayed set until the request expires
   * (an answer promotes it sooner), so it holds no worker slot and no model connection, and
   * any worker takes it up when it wakes, after any restart. An answer that came while the job
   * was still active found nothing to wake: the request is read again once the job is parked.
   */
  private async park(
    job: Job,
    token: string | undefined,
    sessionKey: string,
    runId: string,
    parked: ParkRunError,
  ): Promise<never> {
    await this.traces.parked(sessionKey, runId);
    await job.moveToDelayed(parked.until, token);
    await this.log.holdUntil(sessionKey, runId, parked.until);
    const open = await this.log.pendingInput(sessionKey, runId);
    if (open?.requestId !== parked.requestId) {
      const { state, runId: current } = await this.log.stateAndRun(sessionKey);
      if (state === 'EXECUTING' && current === runId) {
        this.logger.log(`run ${runId}: request ${parked.requestId} was resolved before its job was parked: woke it`);
        await job.promote().catch(() => undefined);
      } else {
        // Cancelled (or deleted) meanwhile: its job has nothing left to do; the gateway may have removed it first.
        this.logger.log(`run ${runId}: ended before its job was parked: removed the job`);
        await job.remove().catch(() => undefined);
      }
    }
    throw new DelayedError();
  }

  /**
   * Cancelled or ended elsewhere; or the session deleted; or Redis lost the session
   * (restarted without persistence), which is the only case to say so in.
   */
  private async endedElsewhere(sessionKey: string, runId: string): Promise<void> {
    const view = await this.runs.sessionView(sessionKey);
    if (view.exists || (await this.log.wasDeleted(sessionKey))) return;
    const error: RunError = {
      code: 'STATE_LOST',
      message: "Redis lost this session's state (restarted without persistence?): start the task again.",
    };
    await this.log.append(sessionKey, [
      durable('run.failed', { runId, error }),
      durable('session.state', { state: 'IDLE' }),
    ]);
  }

  private async failIfFinal(
    job: Job,
    sessionKey: string,
    runId: string,
    fence: number | undefined,
    err: unknown,
  ): Promise<void> {
    const permanent =
      err instanceof PlanInvalidError ||
      err instanceof RunNotFoundError ||
      err instanceof PermanentModelError ||
      err instanceof ReplanExhaustedError;
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    if (!permanent && !lastAttempt) return;
    const error = runErrorOf(err);
    const ended = await this.log.finishRun(sessionKey, runId, 'failed', durable('run.failed', { runId, error }), {
      fence,
    });
    if (ended === 'superseded') {
      // Another worker holds the run now: its outcome is the run's, not this failure.
      this.logger.warn(`run ${runId} was taken over by another worker while this one failed it: wrote nothing`);
      return;
    }
    throw new UnrecoverableError(`${error.code}: ${error.message}`);
  }
}

function runErrorOf(err: unknown): RunError {
  if (err instanceof PlanInvalidError) {
    return { code: err.code, message: `The planner's plan was invalid, also after one repair: ${err.message}` };
  }
  if (err instanceof RunNotFoundError) return { code: 'RUN_NOT_FOUND', message: err.message };
  if (err instanceof ReplanExhaustedError) return { code: err.code, message: err.message };
  const failure = stepFailureOf(err);
  if (failure) return failure;
  return { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

/** A resolver job's run and session, for its log lines (whatever the payload holds). */
function runContextOf(data: unknown): { runId?: string; session?: string } {
  const { runId, sessionKey } = (data ?? {}) as { runId?: unknown; sessionKey?: unknown };
  return {
    ...(typeof runId === 'string' ? { runId } : {}),
    ...(typeof sessionKey === 'string' ? { session: sessionKey } : {}),
  };
}

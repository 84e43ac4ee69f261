import { Job, UnrecoverableError, Worker } from 'bullmq';
import type Redis from 'ioredis';
import { PlanInvalidError } from '../../agents/plan-parser';
import { RunNotFoundError, RunResolver } from '../../agents/run-resolver';
import type { EventLog } from '../../events/event-log';
import { durable, RunError } from '../../events/event-types';
import { RunNotCurrentError } from '../../events/run-event-writer';
import { PermanentModelError } from '../../llm/model-provider';
import { CONTROL_CHANNEL, ControlMessage, JobName, QUEUE_PREFIX, QueueName, assertPayload } from '../job-types';
import { bullConnection } from '../redis-connection';

export interface ResolverWorkerOptions {
  redisUrl: string;
  concurrency: number;
}

/**
 * Runs resolver jobs (one per run). Cancels arrive on a broadcast channel, because only
 * the worker process holding a run can abort its model call.
 */
export class ResolverProcessor {
  private worker?: Worker;
  private readonly active = new Map<string, AbortController>();

  constructor(
    private readonly resolver: RunResolver,
    private readonly log: EventLog,
    private readonly control: Redis,
    private readonly options: ResolverWorkerOptions,
  ) {}

  async start(): Promise<void> {
    this.control.on('message', (channel: string, message: string) => {
      if (channel === CONTROL_CHANNEL) this.onControl(message);
    });
    await this.control.subscribe(CONTROL_CHANNEL);
    this.worker = new Worker(QueueName.Resolver, (job, _token, signal) => this.process(job, signal), {
      connection: bullConnection(this.options.redisUrl),
      prefix: QUEUE_PREFIX,
      concurrency: this.options.concurrency,
      maxStalledCount: 5,
    });
    this.worker.on('error', () => undefined);
    await this.worker.waitUntilReady();
  }

  async stop(): Promise<void> {
    await this.worker?.close();
    await this.control.unsubscribe(CONTROL_CHANNEL).catch(() => undefined);
  }

  private onControl(message: string): void {
    let parsed: ControlMessage;
    try {
      parsed = JSON.parse(message) as ControlMessage;
    } catch {
      return;
    }
    if (parsed.type === 'cancel') this.active.get(parsed.runId)?.abort(new Error('cancelled'));
  }

  private async process(job: Job, bullSignal?: AbortSignal): Promise<void> {
    const { sessionKey, runId } = assertPayload(JobName.ResolveRun, job.data);
    const controller = new AbortController();
    this.active.set(runId, controller);
    const signal = bullSignal ? AbortSignal.any([controller.signal, bullSignal]) : controller.signal;
    try {
      await this.resolver.resolve(sessionKey, runId, signal);
    } catch (err) {
      // Cancelled, or ended elsewhere: the terminal event is already written.
      if (err instanceof RunNotCurrentError || controller.signal.aborted) return;
      const permanent =
        err instanceof PlanInvalidError || err instanceof RunNotFoundError || err instanceof PermanentModelError;
      const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      if (permanent || lastAttempt) {
        const error = runErrorOf(err);
        await this.log.finishRun(sessionKey, runId, 'failed', durable('run.failed', { runId, error }));
        throw new UnrecoverableError(`${error.code}: ${error.message}`);
      }
      throw err;
    } finally {
      this.active.delete(runId);
    }
  }
}

function runErrorOf(err: unknown): RunError {
  if (err instanceof PlanInvalidError) return { code: err.code, message: `The planner's plan was invalid: ${err.message}` };
  if (err instanceof RunNotFoundError) return { code: 'RUN_NOT_FOUND', message: err.message };
  if (err instanceof PermanentModelError) return { code: err.code, message: err.message };
  if (err instanceof Error && err.name === 'TimeoutError') {
    return { code: 'MODEL_TIMEOUT', message: 'The model did not answer in time (MODEL_TIMEOUT_MS).' };
  }
  return { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

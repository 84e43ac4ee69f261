import { Queue, type RedisOptions as BullRedisOptions } from 'bullmq';
import { logErrorsOf } from '../common/error-log';
import type { QueueJobCounts } from '../common/tokens';
import { JobName, JobPayloads, QUEUE_OF, QueueName } from '../contract';
import { bullConnection, closeBullConnection, type RedisClient, type RedisTarget } from '../store/redis-connection';
import { queuePrefixOf } from '../store/redis-keys';
import { queueTelemetry } from '../tracing/queue-telemetry';

/** Enqueues jobs; the gateway's only way of asking workers for anything. */
export class JobProducer {
  readonly queues: Record<QueueName, Queue>;
  /** Connections made here (a cluster's), closed with the queues. */
  private readonly owned: ReturnType<typeof bullConnection>[] = [];

  /**
   * `eventConnection`, when given, is the connection the event log writes on: the queues
   * share it, so a script and the job it is for go out together, and Redis, taking one
   * connection's commands in order, has run begun or the chat question logged before the
   * job exists (see SessionCommands).
   */
  constructor(target: RedisTarget, eventConnection?: RedisClient) {
    const make = (name: QueueName, connection: BullRedisOptions | RedisClient): Queue => {
      const queue = new Queue(name, { connection, prefix: queuePrefixOf(name), ...queueTelemetry() });
      return logErrorsOf(queue, 'Queue', `queue "${name}"`);
    };
    this.queues = {
      [QueueName.Resolver]: make(
        QueueName.Resolver,
        eventConnection ?? this.own(bullConnection(target, 'queue-resolver')),
      ),
      [QueueName.Clarifier]: make(
        QueueName.Clarifier,
        eventConnection ?? this.own(bullConnection(target, 'queue-clarifier')),
      ),
    };
  }

  private own(connection: ReturnType<typeof bullConnection>): ReturnType<typeof bullConnection> {
    this.owned.push(connection);
    return connection;
  }

  /** A run is one job whose id is the run id; retries resume from the run's checkpoint. */
  async enqueueRun(data: JobPayloads[JobName.ResolveRun]): Promise<void> {
    await this.queues[QUEUE_OF[JobName.ResolveRun]].add(JobName.ResolveRun, data, {
      jobId: data.runId,
      attempts: 3,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: { age: 3600, count: 1000 },
      removeOnFail: { age: 24 * 3600 },
    });
  }

  /** The state of a run's job: BullMQ's name for it, or 'missing'. */
  async runJobState(runId: string): Promise<string> {
    const job = await this.queues[QueueName.Resolver].getJob(runId);
    return job ? await job.getState() : 'missing';
  }

  async enqueueChat(data: JobPayloads[JobName.AnswerChat]): Promise<void> {
    await this.queues[QUEUE_OF[JobName.AnswerChat]].add(JobName.AnswerChat, data, {
      attempts: 2,
      backoff: { type: 'fixed', delay: 200 },
      removeOnComplete: { age: 600, count: 1000 },
      removeOnFail: { age: 24 * 3600 },
    });
  }

  /** Removes a run's job if no worker has taken it yet. */
  async removeQueuedRun(runId: string): Promise<void> {
    const job = await this.queues[QueueName.Resolver].getJob(runId);
    if (job && ((await job.isWaiting()) || (await job.isDelayed()))) {
      // A worker took it meanwhile (BullMQ refuses to remove a locked job): the cancel on the
      // control channel stops it there, so there is nothing to report.
      await job.remove().catch(() => undefined);
    }
  }

  /**
   * Wakes a run parked while it waits on the person (its job in the delayed set). A job not
   * parked (yet) is left alone: its worker looks at the request again once it has parked.
   */
  async wakeRun(runId: string): Promise<void> {
    const job = await this.queues[QueueName.Resolver].getJob(runId);
    if (job && (await job.isDelayed())) await job.promote().catch(() => undefined);
  }

  /** Every queue's jobs by state (a parked run is `delayed`), for /metrics. */
  async jobCounts(): Promise<QueueJobCounts> {
    const entries = await Promise.all(
      Object.entries(this.queues).map(
        async ([name, queue]) =>
          [name, await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed')] as const,
      ),
    );
    return Object.fromEntries(entries);
  }

  async close(): Promise<void> {
    await Promise.all(Object.values(this.queues).map((q) => q.close()));
    this.owned.forEach(closeBullConnection);
  }
}

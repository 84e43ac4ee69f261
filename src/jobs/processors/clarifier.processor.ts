import { Job, Worker } from 'bullmq';
import { answerWriteId, type Clarifier } from '../../agents/clarifier';
import { logErrorsOf } from '../../common/error-log';
import type { EventLog } from '../../events/event-log';
import { JobName, QueueName } from '../../contract';
import { durable } from '../../events/frames';
import { bullConnection, closeBullConnection, type RedisTarget } from '../../store/redis-connection';
import type { StoreWrites } from '../../store/store-writes';
import { queuePrefixOf } from '../../store/redis-keys';
import { withLogContext } from '../../logging/log-context';
import { assertPayload } from '../job-payloads';

/** Runs chat jobs on their own queue, with high concurrency: answers never wait for runs. */
export class ClarifierProcessor {
  private worker?: Worker;
  /** BullMQ's connection options (on a cluster, the Cluster, closed at stop). */
  private connection?: ReturnType<typeof bullConnection>;

  constructor(
    private readonly clarifier: Clarifier,
    private readonly log: EventLog,
    private readonly writes: StoreWrites,
    private readonly options: {
      redis: RedisTarget;
      concurrency: number;
      /** How long a chat job held by a worker may go without its lock being renewed. */
      lockMs: number;
      stalledIntervalMs: number;
      /** Something for the operator (the thread has no logger of its own). */
      warn: (message: string) => void;
    },
  ) {}

  async start(): Promise<void> {
    this.worker = new Worker(QueueName.Clarifier, (job, _token, signal) => this.process(job, signal), {
      connection: (this.connection = bullConnection(this.options.redis, 'worker-clarifier')),
      prefix: queuePrefixOf('clarifier'),
      concurrency: this.options.concurrency,
      lockDuration: this.options.lockMs,
      stalledInterval: this.options.stalledIntervalMs,
    });
    logErrorsOf(this.worker, 'ClarifierWorker', 'clarifier queue worker', (err) => !!this.writes.noteError(err));
    await this.worker.waitUntilReady();
  }

  async stop(): Promise<void> {
    await this.worker?.close();
    if (this.connection) closeBullConnection(this.connection);
  }

  private async process(job: Job, signal?: AbortSignal): Promise<void> {
    const { sessionKey, text, replyTo, steerable } = assertPayload(JobName.AnswerChat, job.data);
    return withLogContext({ session: sessionKey, agent: 'clarifier' }, () =>
      this.answer(job, sessionKey, text, replyTo, steerable, signal),
    );
  }

  private async answer(
    job: Job,
    sessionKey: string,
    text: string,
    replyTo: string | undefined,
    steerable: boolean | undefined,
    signal?: AbortSignal,
  ): Promise<void> {
    const answerId = String(job.id);
    try {
      const written = await this.clarifier.answer(
        sessionKey,
        text,
        replyTo,
        answerId,
        signal ?? new AbortController().signal,
        steerable === true,
      );
      if (!written) {
        this.options.warn(
          `chat job ${answerId} was answered already (another worker took it over while this one stalled): ` +
            'this answer was not written',
        );
      }
    } catch (err) {
      // The person asked: on the last attempt they get an answer saying so, not silence
      // (unless an answer was written after all, by a worker that took the job over).
      if (job.attemptsMade + 1 >= (job.opts.attempts ?? 1)) {
        const why = err instanceof Error ? err.message : String(err);
        await this.log.appendOnce(sessionKey, answerWriteId(answerId), [
          durable('chat.response', {
            text: `Sorry, the Clarifier could not answer just now (${why}). Please ask again.`,
            ...(replyTo ? { replyTo } : {}),
          }),
        ]);
      }
      throw err;
    }
  }
}

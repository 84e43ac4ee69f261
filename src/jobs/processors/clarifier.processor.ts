import { Job, Worker } from 'bullmq';
import type { Clarifier } from '../../agents/clarifier';
import { logErrorsOf } from '../../common/error-log';
import type { EventLog } from '../../events/event-log';
import { JobName, QueueName } from '../../contract';
import { durable } from '../../events/frames';
import { bullConnection } from '../../store/redis-connection';
import { QUEUE_PREFIX } from '../../store/redis-keys';
import { assertPayload } from '../job-payloads';

/** Runs chat jobs on their own queue, with high concurrency: answers never wait for runs. */
export class ClarifierProcessor {
  private worker?: Worker;

  constructor(
    private readonly clarifier: Clarifier,
    private readonly log: EventLog,
    private readonly options: { redisUrl: string; concurrency: number },
  ) {}

  async start(): Promise<void> {
    this.worker = new Worker(QueueName.Clarifier, (job, _token, signal) => this.process(job, signal), {
      connection: bullConnection(this.options.redisUrl),
      prefix: QUEUE_PREFIX,
      concurrency: this.options.concurrency,
    });
    logErrorsOf(this.worker, 'ClarifierWorker', 'clarifier queue worker');
    await this.worker.waitUntilReady();
  }

  async stop(): Promise<void> {
    await this.worker?.close();
  }

  private async process(job: Job, signal?: AbortSignal): Promise<void> {
    const { sessionKey, text, replyTo } = assertPayload(JobName.AnswerChat, job.data);
    try {
      await this.clarifier.answer(sessionKey, text, replyTo, signal ?? new AbortController().signal);
    } catch (err) {
      // The person asked: on the last attempt they get an answer saying so, not silence.
      if (job.attemptsMade + 1 >= (job.opts.attempts ?? 1)) {
        const why = err instanceof Error ? err.message : String(err);
        await this.log.append(sessionKey, [
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

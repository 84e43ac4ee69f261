import { Job, Worker } from 'bullmq';
import type { Clarifier } from '../../agents/clarifier';
import { JobName, QUEUE_PREFIX, QueueName, assertPayload } from '../job-types';
import { bullConnection } from '../redis-connection';

/** Runs chat jobs on their own queue, with high concurrency: answers never wait for runs. */
export class ClarifierProcessor {
  private worker?: Worker;

  constructor(
    private readonly clarifier: Clarifier,
    private readonly options: { redisUrl: string; concurrency: number },
  ) {}

  async start(): Promise<void> {
    this.worker = new Worker(QueueName.Clarifier, (job, _token, signal) => this.process(job, signal), {
      connection: bullConnection(this.options.redisUrl),
      prefix: QUEUE_PREFIX,
      concurrency: this.options.concurrency,
    });
    this.worker.on('error', () => undefined);
    await this.worker.waitUntilReady();
  }

  async stop(): Promise<void> {
    await this.worker?.close();
  }

  private async process(job: Job, signal?: AbortSignal): Promise<void> {
    const { sessionKey, text, replyTo } = assertPayload(JobName.AnswerChat, job.data);
    await this.clarifier.answer(sessionKey, text, replyTo, signal ?? new AbortController().signal);
  }
}

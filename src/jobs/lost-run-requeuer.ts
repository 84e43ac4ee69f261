import { Logger } from '@nestjs/common';
import type { RedisClient } from '../store/redis-connection';
import { ThrottledErrorLog } from '../common/error-log';
import type { RunError } from '../contract';
import type { EventLog } from '../events/event-log';
import { durable } from '../events/frames';
import { PENDING_RUNS_KEY, UserKeys, parsePendingRunMember, userKeyOf } from '../store/redis-keys';
import type { RunStore } from '../store/run-store';
import type { JobProducer } from './job-producer';

/**
 * A gateway that dies between starting a run (in Redis) and queueing its job would leave
 * the session EXECUTING forever, and so would a job BullMQ gave up on (its workers kept
 * dying). Workers look for runs begun a while ago that have not ended: a missing job is
 * queued again (the job id is the run id, so this is idempotent); a run whose job failed
 * for good is ended with run.failed.
 */
export class LostRunRequeuer {
  private readonly log = new Logger('LostRunRequeuer');
  private timer?: NodeJS.Timeout;
  /** A sweep that fails (Redis away) is tried again at the next interval; the logs say so. */
  private readonly sweepErrors = new ThrottledErrorLog('LostRunRequeuer', 'looking for lost runs failed');

  constructor(
    private readonly redis: RedisClient,
    private readonly runs: RunStore,
    private readonly jobs: JobProducer,
    private readonly events: EventLog,
    private readonly options: { intervalMs: number; graceMs: number },
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.sweep().catch(this.sweepErrors.report), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  async close(): Promise<void> {
    await this.jobs.close();
  }

  /** Returns how many runs were queued again. */
  async sweep(): Promise<number> {
    const members = await this.redis.zrangebyscore(
      PENDING_RUNS_KEY,
      '-inf',
      Date.now() - this.options.graceMs,
      'LIMIT',
      0,
      100,
    );
    let requeued = 0;
    for (const member of members) {
      const { sessionKey, runId } = parsePendingRunMember(member);
      const view = await this.runs.sessionView(sessionKey);
      if (view.state !== 'EXECUTING' || view.runId !== runId) {
        // Ended, never begun, or its session is gone: nothing to do but forget it, and take it
        // off the user's running runs (its end may not have got that far).
        await Promise.all([
          this.redis.zrem(PENDING_RUNS_KEY, member),
          this.redis.zrem(new UserKeys(userKeyOf(sessionKey)).activeRuns, runId),
        ]);
        continue;
      }
      const state = await this.jobs.runJobState(runId);
      if (state === 'missing') {
        await this.jobs.enqueueRun({ sessionKey, runId });
        requeued++;
        this.log.warn(`run ${runId} had no job (a gateway died while starting it?): queued it again`);
      } else if (state === 'failed') {
        const error: RunError = {
          code: 'INTERNAL',
          message: 'the run was abandoned: the workers running it kept failing',
        };
        await this.events.finishRun(sessionKey, runId, 'failed', durable('run.failed', { runId, error }));
      }
    }
    return requeued;
  }
}

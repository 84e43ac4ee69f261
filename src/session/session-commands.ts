import { randomBytes } from 'node:crypto';
import type Redis from 'ioredis';
import { ClientError } from '../common/client-error';
import type { EventLog, RunLimits } from '../events/event-log';
import { durable, RunMode, SessionState } from '../events/event-types';
import type { JobProducer } from '../jobs/job-producer';
import { CONTROL_CHANNEL, ControlMessage } from '../jobs/job-types';

export interface CommandResult {
  runId?: string;
}

const START_FROM: SessionState[] = ['IDLE', 'REFINEMENT_READY'];
const REFINE_FROM: SessionState[] = ['REFINEMENT_READY'];

/**
 * What a person can ask of a session. State changes are atomic in Redis, so two tabs
 * that start a task at the same moment get one run and one INVALID_STATE.
 */
export class SessionCommands {
  constructor(
    private readonly log: EventLog,
    private readonly jobs: JobProducer,
    private readonly publisher: Redis,
    private readonly limits: RunLimits,
  ) {}

  /** `message`: one box, routed by state as a person would expect. */
  async message(sessionKey: string, text: string, replyTo?: string): Promise<CommandResult> {
    for (let tries = 0; ; tries++) {
      const state = await this.log.stateOf(sessionKey);
      try {
        switch (state) {
          case 'IDLE':
            return await this.startTask(sessionKey, text);
          case 'EXECUTING':
            return await this.chat(sessionKey, text, replyTo);
          case 'REFINEMENT_READY':
            return await this.refine(sessionKey, text);
        }
      } catch (err) {
        // The state moved between reading it and acting on it: route again, once.
        if (err instanceof ClientError && err.code === 'INVALID_STATE' && tries === 0) continue;
        throw err;
      }
    }
  }

  startTask(sessionKey: string, text: string): Promise<CommandResult> {
    return this.begin(sessionKey, text, 'task', START_FROM);
  }

  refine(sessionKey: string, text: string): Promise<CommandResult> {
    return this.begin(sessionKey, text, 'refinement', REFINE_FROM);
  }

  async chat(sessionKey: string, text: string, replyTo?: string): Promise<CommandResult> {
    await this.log.append(sessionKey, [durable('user.message', { text, kind: 'chat' })]);
    await this.jobs.enqueueChat({ sessionKey, text, ...(replyTo !== undefined ? { replyTo } : {}) });
    return {};
  }

  async cancel(sessionKey: string): Promise<CommandResult> {
    const { state, runId } = await this.log.snapshot(sessionKey);
    if (state !== 'EXECUTING' || !runId) throw new ClientError('INVALID_STATE', 'no run is going');
    const ended = await this.log.finishRun(sessionKey, runId, 'cancelled', durable('run.cancelled', { runId }));
    if (!ended) throw new ClientError('INVALID_STATE', 'the run had already ended');
    // The terminal event is written; now stop the work wherever it is.
    const message: ControlMessage = { type: 'cancel', runId };
    await this.publisher.publish(CONTROL_CHANNEL, JSON.stringify(message));
    await this.jobs.removeQueuedRun(runId);
    return { runId };
  }

  private async begin(
    sessionKey: string,
    text: string,
    mode: RunMode,
    allowed: SessionState[],
  ): Promise<CommandResult> {
    const runId = `r_${randomBytes(12).toString('base64url')}`;
    const result = await this.log.beginRun(
      sessionKey,
      { runId, mode, input: text },
      allowed,
      {
        userMessage: durable('user.message', { text, kind: mode }),
        queued: durable('run.queued', { runId, mode, input: text }),
      },
      this.limits,
    );
    if (!result.started && 'limit' in result) throw new ClientError('RATE_LIMITED', result.limit);
    if (!result.started) {
      const why =
        result.state === 'EXECUTING' ? 'a run is already going in this session' : 'there is no report to refine yet';
      throw new ClientError('INVALID_STATE', `${why} (state ${result.state})`);
    }
    try {
      await this.jobs.enqueueRun({ sessionKey, runId });
    } catch (err) {
      await this.log.finishRun(
        sessionKey,
        runId,
        'failed',
        durable('run.failed', { runId, error: { code: 'INTERNAL', message: 'the run could not be queued' } }),
      );
      throw err;
    }
    return { runId };
  }
}

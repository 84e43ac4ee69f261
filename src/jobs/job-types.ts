import type { RunMode } from '../events/event-types';

/** Queue and job names, and job payloads: defined once, compiled against by producer and processor. */
export enum QueueName {
  Resolver = 'resolver',
  Clarifier = 'clarifier',
}

export enum JobName {
  ResolveRun = 'run.resolve',
  AnswerChat = 'chat.answer',
}

export interface JobPayloads {
  /** `mode`, when the gateway knew it, is for people reading Bull Board: the worker takes the run's from its record. */
  [JobName.ResolveRun]: { sessionKey: string; runId: string; mode?: RunMode };
  [JobName.AnswerChat]: { sessionKey: string; text: string; replyTo?: string };
}

export const QUEUE_OF: { [J in JobName]: QueueName } = {
  [JobName.ResolveRun]: QueueName.Resolver,
  [JobName.AnswerChat]: QueueName.Clarifier,
};

/** BullMQ's key prefix: every queue key starts with it. */
export const QUEUE_PREFIX = 'maws:q';

/** Pub/sub channel on which cancels reach whichever worker holds the run. */
export const CONTROL_CHANNEL = 'maws:control';

export interface ControlMessage {
  type: 'cancel';
  runId: string;
}

/** Job payload checks at the boundary: a malformed job fails at once, never half-runs. */
export function assertPayload<J extends JobName>(name: J, data: unknown): JobPayloads[J] {
  const d = data as Record<string, unknown> | null;
  const ok =
    typeof d === 'object' &&
    d !== null &&
    typeof d.sessionKey === 'string' &&
    (name === JobName.ResolveRun
      ? typeof d.runId === 'string' && (d.mode === undefined || d.mode === 'task' || d.mode === 'refinement')
      : typeof d.text === 'string' && (d.replyTo === undefined || typeof d.replyTo === 'string'));
  if (!ok) throw new Error(`malformed ${name} job payload`);
  return d as unknown as JobPayloads[J];
}

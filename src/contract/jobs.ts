/**
 * The process contract between gateway and workers: queue and job names, and each job's
 * payload, compiled against by producer and processor alike (immich's JobItem/JobOf).
 */
import type { RunMode } from './events';

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
  /**
   * `steerable` (v2 "Steering"): the text came as a `message` while a run went, and the
   * Clarifier decides whether it is a question or an instruction for the run.
   */
  [JobName.AnswerChat]: { sessionKey: string; text: string; replyTo?: string; steerable?: boolean };
}

/** The queue each job goes to. */
export const QUEUE_OF: { readonly [J in JobName]: QueueName } = {
  [JobName.ResolveRun]: QueueName.Resolver,
  [JobName.AnswerChat]: QueueName.Clarifier,
};

/** A message on the control channel, which reaches every worker (a cancel must reach the one holding the run). */
export interface ControlMessage {
  type: 'cancel';
  runId: string;
}

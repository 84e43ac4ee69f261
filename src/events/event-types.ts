/** The contract's vocabulary, defined once for gateway, workers and clients of this code. */
export type SessionState = 'IDLE' | 'EXECUTING' | 'REFINEMENT_READY';
export type RunMode = 'task' | 'refinement';
export type AgentName = 'planner' | 'executor' | 'aggregator' | 'clarifier';
export type UserMessageKind = 'task' | 'refinement' | 'chat';
export type RunOutcome = 'completed' | 'failed' | 'cancelled';

export const ERROR_CODES = [
  'BAD_JSON',
  'BAD_FRAME',
  'UNKNOWN_EVENT',
  'VALIDATION_FAILED',
  'INVALID_STATE',
  'RATE_LIMITED',
  'RESUME_UNAVAILABLE',
  'INTERNAL',
] as const;
export type ClientErrorCode = (typeof ERROR_CODES)[number];

export interface PlanItem {
  title: string;
  description: string;
}

export interface RunError {
  code: string;
  message: string;
}

/** Durable events: name → data. Every one of these gets a seq. */
export interface DurableEventMap {
  'user.message': { text: string; kind: UserMessageKind };
  'session.state': { state: SessionState; runId?: string };
  'run.queued': { runId: string; mode: RunMode; input: string };
  'run.started': { runId: string; mode: RunMode };
  'agent.started': {
    runId: string;
    agent: AgentName;
    stepId: string;
    attempt: number;
    title?: string;
  };
  'agent.delta': { runId: string; agent: AgentName; stepId: string; text: string };
  'agent.finished': {
    runId: string;
    agent: AgentName;
    stepId: string;
    output: unknown;
    usage?: { inputTokens: number; outputTokens: number };
  };
  'run.completed': { runId: string; report: string; usage?: { inputTokens: number; outputTokens: number } };
  'run.failed': { runId: string; error: RunError };
  'run.cancelled': { runId: string };
  'chat.response': { text: string; replyTo?: string };
}
export type DurableEventName = keyof DurableEventMap;

/** Replies: never numbered, never stored. */
export interface ReplyEventMap {
  'session.snapshot': { state: SessionState; lastSeq: number; runId?: string; report?: string };
  ack: { replyTo?: string; runId?: string };
  error: { code: ClientErrorCode; message: string; replyTo?: string };
  pong: Record<string, never>;
}
export type ReplyEventName = keyof ReplyEventMap;

export interface PendingEvent<E extends DurableEventName = DurableEventName> {
  event: E;
  data: DurableEventMap[E];
}

export function durable<E extends DurableEventName>(event: E, data: DurableEventMap[E]): PendingEvent<E> {
  return { event, data };
}

/**
 * The tail of a durable frame, everything after `{"seq":N,`. The seq is only known inside
 * Redis, where the append script puts it in front, so the final bytes are built once and
 * the gateway forwards them untouched.
 */
export function frameTail(e: PendingEvent, ts = new Date()): string {
  return `"event":${JSON.stringify(e.event)},"data":${JSON.stringify(e.data)},"ts":"${ts.toISOString()}"}`;
}

export function replyFrame<E extends ReplyEventName>(event: E, data: ReplyEventMap[E]): string {
  return JSON.stringify({ event, data, ts: new Date().toISOString() });
}

/**
 * Reads N from a frame built by the append script, which always starts `{"seq":N,`,
 * without parsing the frame: the relay only needs the number. Text and bytes alike.
 */
export function seqOfFrame(frame: string | Buffer): number {
  let n = 0;
  if (typeof frame === 'string') {
    for (let i = 7; i < frame.length; i++) {
      const c = frame.charCodeAt(i);
      if (c < 48 || c > 57) break;
      n = n * 10 + (c - 48);
    }
  } else {
    for (let i = 7; i < frame.length; i++) {
      const c = frame[i];
      if (c < 48 || c > 57) break;
      n = n * 10 + (c - 48);
    }
  }
  return n;
}

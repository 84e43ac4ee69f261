/**
 * The server's side of the wire contract (docs/protocol.md): every event a client can
 * receive, by name, with the shape of its data. Gateway, workers, the page, the tests, the
 * bench and the chaos run all compile against these maps, so an event name and its data
 * cannot drift apart anywhere.
 */
import type { ClientErrorCode, RunErrorCode, ToolErrorCode } from './errors';

export type SessionState = 'IDLE' | 'EXECUTING' | 'REFINEMENT_READY';
export type RunMode = 'task' | 'refinement';
export type AgentName = 'planner' | 'executor' | 'aggregator' | 'clarifier';
/**
 * `answer` (v2): a `message` that answered an open input request; `steer` (v2): a `run.steer`
 * instruction for the running task.
 */
export type UserMessageKind = 'task' | 'refinement' | 'chat' | 'answer' | 'steer';
export type RunOutcome = 'completed' | 'failed' | 'cancelled';

export interface PlanItem {
  title: string;
  description: string;
}

/** v2: a subtask of a plan version, with the step that runs it (`plan.updated` lists these). */
export interface PlanStep extends PlanItem {
  stepId: string;
}

/** v2 "People in the loop": what a run asks the person. */
export type InputKind = 'plan_review' | 'question' | 'tool_approval';

/** v2: an open input request, as `run.input_requested` and the snapshot's `pendingInput` carry it. */
export interface InputRequest {
  requestId: string;
  kind: InputKind;
  prompt: string;
  /** plan_review: the plan to approve, edit or reject. */
  plan?: PlanStep[];
  toolCall?: { tool: string; input: unknown };
  /** question and tool_approval (MAWS addition): the tool call that asks, or that waits for approval. */
  toolCallId?: string;
  /** ISO time after which the request expires and the run fails (INPUT_EXPIRED). */
  expiresAt: string;
}

/** v2: an answer to a `question` (ask_user). */
export interface QuestionAnswer {
  text: string;
}

/** v2: an answer to a `tool_approval`. */
export interface ToolApprovalAnswer {
  approve: boolean;
}

/** v2: an answer to a plan review: approve (the plan, edited or not), or reject with feedback. */
export type PlanReviewAnswer = { approve: true; plan?: PlanItem[] } | { approve: false; feedback: string };

/** v2: how an input request ended. */
export type InputResolution = 'answered' | 'expired' | 'cancelled';

/** v2: why a plan changed. */
export type PlanUpdateReason = 'step_failed' | 'steer' | 'review';

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
}

export interface ToolCallError {
  code: ToolErrorCode;
  message: string;
}

/** One tool call of an executor's step, as its `agent.finished` output lists it. */
export interface ToolCallSummary {
  tool: string;
  ok: boolean;
}

/** An executor's `agent.finished` output: its finding and (v2) the tool calls it made. */
export interface ExecutorOutput {
  text: string;
  toolCalls: ToolCallSummary[];
}

export interface RunError {
  code: RunErrorCode;
  message: string;
}

/** Durable events: name → data. Every one of these is numbered (`seq`) and kept in the history. */
export interface DurableEventMap {
  'user.message': { text: string; kind: UserMessageKind };
  'session.state': { state: SessionState; runId?: string };
  'run.queued': { runId: string; mode: RunMode; input: string };
  /** `traceId`: the OpenTelemetry trace of the run's first activation, when tracing is on (v2 "Observability"). */
  'run.started': { runId: string; mode: RunMode; traceId?: string };
  'agent.started': { runId: string; agent: AgentName; stepId: string; attempt: number; title?: string };
  /** `attempt` (v2): the attempt of the step it belongs to; a client keeps only the latest attempt's. */
  'agent.delta': { runId: string; agent: AgentName; stepId: string; attempt: number; text: string };
  'agent.finished': { runId: string; agent: AgentName; stepId: string; output: unknown; usage?: TokenUsage };
  /** v2: a tool call an agent's model asked for, stored before the tool runs. */
  'tool.called': { runId: string; stepId: string; attempt: number; toolCallId: string; tool: string; input: unknown };
  /**
   * v2: what the call gave. `truncated` (MAWS addition): the output was cut to
   * MAX_TOOL_OUTPUT_CHARS. `recorded` (MAWS addition): answered from the result this step
   * recorded before (the same tool with the same input), not run again.
   */
  'tool.result': {
    runId: string;
    stepId: string;
    attempt: number;
    toolCallId: string;
    tool: string;
    ok: boolean;
    output?: unknown;
    error?: ToolCallError;
    ms: number;
    truncated?: boolean;
    recorded?: boolean;
  };
  /** v2: a step that failed for good (its retries spent); the planner revises the rest of the plan. */
  'agent.failed': { runId: string; agent: AgentName; stepId: string; attempt: number; error: RunError };
  /**
   * v2: the plan's new version (the planner's own is version 1): `plan` is every step of it
   * (finished ones first, in order, then those still to run), `finished` and `dropped` name
   * steps of the earlier version; `failed` (MAWS addition) the steps that failed so far.
   */
  'plan.updated': {
    runId: string;
    version: number;
    reason: PlanUpdateReason;
    plan: PlanStep[];
    finished: string[];
    dropped: string[];
    failed: string[];
  };
  /** v2: the run asks the person and waits (holding no worker) until the answer, a cancel, or `expiresAt`. */
  'run.input_requested': InputRequest & { runId: string };
  /** v2: the request ended: answered (with the answer), expired, or cancelled. */
  'run.input_resolved': { runId: string; requestId: string; status: InputResolution; answer?: unknown };
  /**
   * v2 "Steering": the person's instruction taken into the run before the step `appliedBefore`
   * (the planner's `replan-N`, which decides whether the steps change); the prompts of every
   * later step carry it.
   */
  'run.steered': { runId: string; text: string; appliedBefore: string };
  /** v2: a step of an earlier plan version that the latest one dropped: it never runs. */
  'agent.skipped': { runId: string; stepId: string; reason: string };
  'run.completed': { runId: string; report: string; usage?: TokenUsage };
  'run.failed': { runId: string; error: RunError };
  'run.cancelled': { runId: string };
  'chat.response': { text: string; replyTo?: string };
}
export type DurableEventName = keyof DurableEventMap;

/**
 * Why Redis refuses writes for now: out of memory under `noeviction`, a failed save with
 * `stop-writes-on-bgsave-error` (MISCONF), or a read-only replica after a failover.
 */
export type StoreRefusal = 'OOM' | 'MISCONF' | 'READONLY';

/** Replies and notices: never numbered, never stored. */
export interface ReplyEventMap {
  'session.snapshot': {
    state: SessionState;
    lastSeq: number;
    runId?: string;
    report?: string;
    /** v2: the running run's open input request. */
    pendingInput?: InputRequest;
  };
  ack: { replyTo?: string; runId?: string };
  error: { code: ClientErrorCode; message: string; replyTo?: string };
  pong: Record<string, never>;
  /**
   * A notice (MAWS addition) to the sockets of a session whose run is waiting because Redis
   * refuses writes (`writable: false`), and again when it goes on (`writable: true`). The run
   * keeps its place meanwhile; nothing is lost.
   */
  'store.status': { writable: boolean; runId: string; reason?: StoreRefusal; message: string };
}
export type ReplyEventName = keyof ReplyEventMap;

export type ServerEventMap = DurableEventMap & ReplyEventMap;
export type ServerEventName = keyof ServerEventMap;

/** A durable event as it reaches a client: `{seq, event, data, ts}`. */
export interface DurableFrame<E extends DurableEventName = DurableEventName> {
  seq: number;
  event: E;
  data: DurableEventMap[E];
  ts: string;
}

/** A reply as it reaches a client: no seq. */
export interface ReplyFrame<E extends ReplyEventName = ReplyEventName> {
  event: E;
  data: ReplyEventMap[E];
  ts: string;
}

/** Any durable frame, narrowed by its `event`. */
export type AnyDurableFrame = { [E in DurableEventName]: DurableFrame<E> }[DurableEventName];
/** Any reply frame, narrowed by its `event`. */
export type AnyReplyFrame = { [E in ReplyEventName]: ReplyFrame<E> }[ReplyEventName];
/** Whatever a client can receive, narrowed by its `event`. */
export type ServerFrame = AnyDurableFrame | AnyReplyFrame;
/** The frame of one event name, durable or reply. */
export type FrameOf<E extends ServerEventName> = E extends DurableEventName
  ? DurableFrame<E>
  : E extends ReplyEventName
    ? ReplyFrame<E>
    : never;

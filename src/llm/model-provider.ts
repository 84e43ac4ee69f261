import type { AgentName, PlanItem, PlanStep, RunErrorCode } from '../contract';
import type { ToolDefinition, ToolError } from '../tools/tool';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/**
 * What an agent asks of a model. `messages` is the prompt every real provider sends;
 * `facts` carries the same inputs in structured form, which the built-in offline model
 * reads instead of parsing its own prompt.
 */
export interface ModelRequest {
  agent: AgentName;
  messages: ChatMessage[];
  /** The output must be one JSON value (the planner's plan). */
  json?: boolean;
  /** With `json`: the JSON Schema the value must match, sent to providers that enforce one. */
  schema?: Record<string, unknown>;
  facts: AgentFacts;
  /** Tools the model may call, in the AI SDK's loop (executors). */
  tools?: ModelTools;
}

/** A tool call the model asked for; `modelCallId` is the provider's id for it. */
export interface ModelToolCall {
  modelCallId: string;
  tool: string;
  input: unknown;
}

/**
 * The tools a model call offers, and who runs them: the caller announces, records and runs
 * each call, so the provider only moves calls and answers between the model and it.
 */
export interface ModelTools {
  offered: ToolDefinition[];
  /** Rounds of tool calls before the model must answer. */
  maxSteps: number;
  /** Runs one call: its output for the model, or a ToolError (which goes back to the model too). */
  call(call: ModelToolCall, signal: AbortSignal): Promise<unknown>;
  /** A call the loop refused before it could run (no such tool, input that is not JSON). */
  refused(call: ModelToolCall, error: ToolError): Promise<void>;
  /**
   * v2 "Steering": the person's instructions that came since the last round, taken into the
   * step before the model's next round (the provider adds them to the prompt from then on).
   */
  betweenRounds?(): Promise<string[]>;
}

export interface PriorFinding {
  title: string;
  text: string;
  /** What the step's tool calls gave, one line each (`calculator {"expression":"17*23"} → "391"`). */
  evidence?: string[];
}

export interface AgentFacts {
  query: string;
  /** For a refinement: the instruction; `query` then holds the original query. */
  refinement?: string;
  subtask?: PlanItem;
  plan?: PlanItem[];
  findings?: PriorFinding[];
  previousReport?: string;
  maxSubtasks?: number;
  /** The Clarifier's view of the live run. */
  progress?: string;
  /** Steps of the plan whose work is missing (v2 "Replanning"): the aggregator says so in the report. */
  gaps?: StepGap[];
  /** A planner call that revises the plan after a step failed (v2 "Replanning"). */
  revision?: PlanRevisionFacts;
  /** A planner call that revises `plan` as the person's review asked (v2 "People in the loop"). */
  reviewFeedback?: string;
  /**
   * v2 "Steering": the person's instructions for this run so far (for a refinement, those
   * given to the run it refines), in order: every later prompt carries them.
   */
  steers?: string[];
  /** v2: the person's answers to the run's questions (for a refinement, the refined run's). */
  answers?: PersonAnswer[];
  /**
   * The Clarifier, while a run goes and asks nothing: the message may be a question or an
   * instruction, and the answer says which (JSON `{kind, reply}`, see ClarifierDecision).
   */
  steerable?: boolean;
}

/** A question the run asked the person, and what they answered. */
export interface PersonAnswer {
  question: string;
  answer: string;
}

/** The Clarifier's reading of a message typed while a run goes (v2 "Steering"). */
export interface ClarifierDecision {
  kind: 'question' | 'instruction';
  /** The answer to a question; for an instruction, what will change. */
  reply: string;
}

/** A step whose work the report lacks: it failed for good, or a revised plan dropped it. */
export interface StepGap {
  stepId: string;
  title: string;
  status: 'failed' | 'dropped';
  /** Why: the failure's message, or what the revision said. */
  reason: string;
}

/** What the planner is told when it revises the plan: which step failed or what the person asked, what is done, what is left. */
export interface PlanRevisionFacts {
  /** The step that failed for good, when a failure is what the revision answers. */
  failed?: { stepId: string; title: string; error: string };
  /** v2 "Steering": the person's instructions the revision answers (applied since the last one). */
  steers?: string[];
  finished: (PlanStep & { finding: string })[];
  pending: PlanStep[];
}

export interface ModelUsage {
  inputTokens: number;
  outputTokens: number;
}

export interface ModelStream {
  /** Text chunks in order, as the model produces them. */
  chunks: AsyncIterable<string>;
  /** Resolves after the last chunk. */
  usage(): Promise<ModelUsage>;
}

/** The one interface every agent calls a model through. */
export interface ModelProvider {
  readonly name: string;
  /** The model an agent's calls go to (a label for metrics and logs). */
  modelFor?(agent: AgentName): string;
  stream(request: ModelRequest, signal: AbortSignal): ModelStream;
  /** At shutdown: hands on what it still holds (usage counts). */
  close?(): Promise<void>;
}

/**
 * A model call that cannot succeed by retrying (bad key, bad request). `code` is the
 * run.failed code: `MODEL_AUTH` (401/403: the key), `MODEL_REJECTED` (another 4xx: the model
 * name, base URL or request).
 */
export class PermanentModelError extends Error {
  override readonly name = 'PermanentModelError';

  constructor(
    readonly code: Extract<RunErrorCode, 'MODEL_AUTH' | 'MODEL_REJECTED'>,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The provider stayed unavailable (429, 5xx, no connection) through every retry of one
 * call. Transient: the run is retried as a whole, and fails with `MODEL_UNAVAILABLE` at last.
 */
export class ModelUnavailableError extends Error {
  override readonly name = 'ModelUnavailableError';
  readonly code = 'MODEL_UNAVAILABLE' satisfies RunErrorCode;
}

/**
 * The response stream broke off after it had started (connection lost mid-answer). The
 * step runner restarts the step (same stepId, attempt + 1) a bounded number of times; after
 * that it counts as the provider being unavailable.
 */
export class ModelStreamCutError extends Error {
  override readonly name = 'ModelStreamCutError';
  readonly code = 'MODEL_UNAVAILABLE' satisfies RunErrorCode;
}

import {
  executorStepId,
  type AgentName,
  type InputRequest,
  type PlanItem,
  type PlanStep,
  type RunError,
  type RunMode,
  type TokenUsage,
  type ToolCallError,
} from '../contract';

/** A finding kept for later runs: a subtask's title and what its executor found. */
export interface StoredFinding {
  title: string;
  text: string;
  /** What its tool calls gave, one line each: a refinement sees the first run's evidence. */
  evidence?: string[];
}

/** The step in progress, as the Clarifier describes it. */
export interface CurrentStep {
  stepId: string;
  title: string;
  agent: AgentName;
}

/** What a tool call gave, as stored beside its tool.result. */
export interface StoredToolOutcome {
  ok: boolean;
  output?: unknown;
  error?: ToolCallError;
  ms: number;
  truncated?: boolean;
  /** Its worker stopped before the call finished: the call has no result to reuse. */
  interrupted?: boolean;
}

/**
 * A tool call of a step, stored with its tool.called (no outcome yet) and again with its
 * tool.result. A restarted step answers a call of the same tool with the same input (`key`)
 * from the outcome stored here, and closes a call left without one.
 */
export interface StoredToolCall {
  toolCallId: string;
  stepId: string;
  attempt: number;
  tool: string;
  /** The tool and its input, hashed: what makes two calls the same call. */
  key: string;
  outcome?: StoredToolOutcome;
}

/** A step that failed for good (v2 "Replanning"), stored with its agent.failed. */
export interface StoredStepFailure {
  title: string;
  attempt: number;
  error: RunError;
}

/** An input request as the run keeps it: a tool's carries the call's key, to find its answer again on replay. */
export type StoredInputRequest = InputRequest & { callKey?: string; stepId?: string };

/** A plan version with its steps' ids (the planner's own is version 1). */
export interface PlanVersion {
  version: number;
  steps: PlanStep[];
}

/**
 * What a `replan-N` step decided, stored as its output: the plan's new version, the steps of
 * the earlier one it kept finished or dropped, every failed step so far, and the failure it
 * answers (`after`).
 */
export interface StoredReplan extends PlanVersion {
  finished: string[];
  dropped: string[];
  failed: string[];
  /** The failed step it answers ('' for a replan the person's steering asked for). */
  after: string;
  /** v2 "Steering": why the plan was revised (`step_failed` when absent: records before steering). */
  reason?: 'step_failed' | 'steer';
  /** v2 "Steering": the steers (by number, up to this one) it took into account. */
  steersAnswered?: number;
}

/** v2 "Steering": a person's instruction for the run, in the order it came. */
export interface StoredSteer {
  text: string;
  /** The step it was applied before; absent while it waits for the next step boundary. */
  appliedBefore?: string;
}

/** A run's stored checkpoint: everything a worker needs to resume it or refine it. */
export interface RunRecord {
  runId: string;
  mode: RunMode;
  input: string;
  parentRunId?: string;
  status: string;
  /** run.started was written (a run taken over does not announce itself again). */
  started: boolean;
  /** The current activation's fencing token (0 before any worker took the run). */
  fence: number;
  query?: string;
  plan?: PlanItem[];
  /** Finished steps' outputs by step id, each with the usage of its model calls. */
  outputs: Record<string, unknown>;
  /** How many times each step was started. */
  attempts: Record<string, number>;
  current?: CurrentStep;
  report?: string;
  /** Every finding this run knew at its end: its context's and its own. */
  knowledge?: StoredFinding[];
  /** Tool calls of the run's steps, in no particular order. */
  toolCalls: StoredToolCall[];
  /** Steps that failed for good, by step id. */
  failed: Record<string, StoredStepFailure>;
  /** The latest revision of the plan, once a replan changed it. */
  revisedPlan?: PlanVersion;
  /** v2: `plan` when the person reviews the plan before the executors run. */
  review?: 'plan';
  /** v2: the input request the run waits on, while it is open. */
  pendingInput?: InputRequest;
  /** v2: how many input requests the run has opened (their ids count up). */
  inputRequests: number;
  /** v2: the answers to its input requests, by request id. */
  answers: Record<string, unknown>;
  /** v2: every input request it opened, by request id (with the call key of a tool's). */
  requests: Record<string, StoredInputRequest>;
  /** v2: the person approved the plan (a review is over). */
  planApproved: boolean;
  /** v2: the plan as the person's review left it (edited, or revised on feedback). */
  reviewedPlan?: PlanVersion;
  /** v2 "Steering": every instruction the person gave the run, in order (the n-th is `steers[n - 1]`). */
  steers: StoredSteer[];
  /** v2 "Steering": how many of them the run has applied (the first this many). */
  steersApplied: number;
}

/** Hash fields to store on the run record, written in the same script as their event. */
export type RunFields = Record<string, string>;

/**
 * The run hash's fields (SessionKeys.run). The scripts and the store read and write them
 * through these names only: a misspelt field would make a resumed run miss its checkpoint
 * and repeat a step.
 */
export const RunField = {
  mode: 'mode',
  input: 'input',
  parentRunId: 'parentRunId',
  queuedAt: 'queuedAt',
  status: 'status',
  finishedAt: 'finishedAt',
  started: 'started',
  query: 'query',
  plan: 'plan',
  current: 'current',
  currentTitle: 'currentTitle',
  currentAgent: 'currentAgent',
  report: 'report',
  knowledge: 'knowledge',
  /** The latest plan version (v2 "Replanning"), once the plan was revised: for the Clarifier and the page. */
  revisedPlan: 'revisedPlan',
  /** v2 "People in the loop": `plan` when the plan is reviewed before the executors run. */
  review: 'review',
  /** The open input request (JSON), removed when it is answered, expires or is cancelled. */
  pendingInput: 'pendingInput',
  /** How many input requests the run opened. */
  inputRequests: 'inputRequests',
  /** `1` once the person approved the plan. */
  planApproved: 'planApproved',
  /** The plan version a review produced (an edit, or a revision on feedback). */
  reviewedPlan: 'reviewedPlan',
  /** v2 "Steering": how many instructions the person gave (written by the gateway's steer script). */
  steers: 'steers',
  /** v2 "Steering": how many of them the run has applied, in order. */
  steersApplied: 'steersApplied',
  /**
   * The fencing token: raised by one each time a worker takes the run (first or over). A
   * worker's writes carry the token it got, and the scripts refuse any but the current one.
   */
  fence: 'fence',
} as const;

/** Per-step fields are a prefix and the step id. */
const STEP_PREFIX = { output: 'out:', attempt: 'attempt:', usage: 'usage:', failed: 'failed:' } as const;
/** An input request's answer is this prefix and its request id (written by the gateway's answer script). */
export const ANSWER_PREFIX = 'answer:';
/** The person's n-th instruction for the run (`{text}`), by this prefix and n. */
export const STEER_PREFIX = 'steer:';
/** The step the n-th instruction was applied before, by this prefix and n. */
const STEER_AT_PREFIX = 'steerAt:';
/** Every input request the run opened, by this prefix and its id. */
const REQUEST_PREFIX = 'request:';
/** A tool call's field is this prefix and its toolCallId (unique in the run). */
const TOOL_CALL_PREFIX = 'tool:';

export const stepField = {
  output: (stepId: string): string => STEP_PREFIX.output + stepId,
  attempt: (stepId: string): string => STEP_PREFIX.attempt + stepId,
  usage: (stepId: string): string => STEP_PREFIX.usage + stepId,
  failed: (stepId: string): string => STEP_PREFIX.failed + stepId,
};

/** The checkpoint fields each moment of a run stores, beside the event that announces it. */
export const RunCheckpoint = {
  /** The query the run answers (a refinement's is its parent's). */
  query: (query: string): RunFields => ({ [RunField.query]: query }),

  /** A step began (again): its attempt number, and what the Clarifier reports as running. */
  stepStarted: (step: CurrentStep, attempt: number): RunFields => ({
    [stepField.attempt(step.stepId)]: String(attempt),
    [RunField.current]: step.stepId,
    [RunField.currentTitle]: step.title,
    [RunField.currentAgent]: step.agent,
  }),

  /** A step finished: its output with its usage. A stored output means the step is never run again. */
  stepFinished: (stepId: string, output: object, usage: TokenUsage): RunFields => ({
    [stepField.output(stepId)]: JSON.stringify({ ...output, usage }),
    [stepField.usage(stepId)]: JSON.stringify(usage),
  }),

  /** The planner's step finished: the plan, for the steps that follow it. */
  planned: (stepId: string, plan: PlanItem[], usage: TokenUsage): RunFields => ({
    [RunField.plan]: JSON.stringify(plan),
    ...RunCheckpoint.stepFinished(stepId, { plan }, usage),
  }),

  /** A step failed for good: it is never run again, and the plan is revised without it. */
  stepFailed: (stepId: string, failure: StoredStepFailure): RunFields => ({
    [stepField.failed(stepId)]: JSON.stringify(failure),
  }),

  /** A `replan-N` step finished: its decision, and the plan version the next steps follow. */
  replanned: (stepId: string, replan: StoredReplan, usage: TokenUsage): RunFields => ({
    ...RunCheckpoint.stepFinished(stepId, replan, usage),
    [RunField.revisedPlan]: JSON.stringify({ version: replan.version, steps: replan.steps }),
  }),

  /** An input request opened: the run waits on it. */
  inputRequested: (request: StoredInputRequest, count: number): RunFields => ({
    [RunField.pendingInput]: JSON.stringify(request),
    [REQUEST_PREFIX + request.requestId]: JSON.stringify(request),
    [RunField.inputRequests]: String(count),
  }),

  /** The person approved the plan: the executors may run. */
  planApproved: (): RunFields => ({ [RunField.planApproved]: '1' }),

  /** A review changed the plan (an edit, or the planner's revision on feedback). */
  planReviewed: (plan: PlanVersion): RunFields => ({
    [RunField.reviewedPlan]: JSON.stringify(plan),
    [RunField.revisedPlan]: JSON.stringify(plan),
  }),

  /** The person's instructions up to the `applied`-th were applied, each before its step. */
  steered: (applied: number, at: { n: number; appliedBefore: string }[]): RunFields => ({
    [RunField.steersApplied]: String(applied),
    ...Object.fromEntries(at.map(({ n, appliedBefore }) => [STEER_AT_PREFIX + n, appliedBefore])),
  }),

  /** A tool call was asked for (no outcome), or answered (with its outcome). */
  toolCall: (call: StoredToolCall): RunFields => ({ [TOOL_CALL_PREFIX + call.toolCallId]: JSON.stringify(call) }),

  /** The aggregator's step finished: the report and what a refinement may build on. */
  aggregated: (stepId: string, report: string, knowledge: StoredFinding[], usage: TokenUsage): RunFields => ({
    ...RunCheckpoint.stepFinished(stepId, { report }, usage),
    [RunField.knowledge]: JSON.stringify(knowledge),
  }),
};

/** The run record a run hash holds, or null when there is none. */
export function decodeRunRecord(runId: string, hash: Record<string, string>): RunRecord | null {
  if (!hash[RunField.mode]) return null;
  const outputs: Record<string, unknown> = {};
  const attempts: Record<string, number> = {};
  const toolCalls: StoredToolCall[] = [];
  const failed: Record<string, StoredStepFailure> = {};
  const answers: Record<string, unknown> = {};
  const requests: Record<string, StoredInputRequest> = {};
  const steers: StoredSteer[] = [];
  for (const [field, value] of Object.entries(hash)) {
    if (field.startsWith(STEER_PREFIX)) {
      const n = Number(field.slice(STEER_PREFIX.length));
      const appliedBefore = hash[STEER_AT_PREFIX + n];
      steers[n - 1] = {
        text: (JSON.parse(value) as { text: string }).text,
        ...(appliedBefore ? { appliedBefore } : {}),
      };
    }
    if (field.startsWith(REQUEST_PREFIX)) {
      requests[field.slice(REQUEST_PREFIX.length)] = JSON.parse(value) as StoredInputRequest;
    }
    if (field.startsWith(ANSWER_PREFIX)) answers[field.slice(ANSWER_PREFIX.length)] = JSON.parse(value);
    if (field.startsWith(STEP_PREFIX.failed))
      failed[field.slice(STEP_PREFIX.failed.length)] = JSON.parse(value) as StoredStepFailure;
    if (field.startsWith(TOOL_CALL_PREFIX)) toolCalls.push(JSON.parse(value) as StoredToolCall);
    if (field.startsWith(STEP_PREFIX.output)) outputs[field.slice(STEP_PREFIX.output.length)] = JSON.parse(value);
    if (field.startsWith(STEP_PREFIX.attempt)) attempts[field.slice(STEP_PREFIX.attempt.length)] = Number(value);
  }
  const current = hash[RunField.current];
  return {
    runId,
    mode: hash[RunField.mode] as RunMode,
    input: hash[RunField.input],
    parentRunId: hash[RunField.parentRunId] || undefined,
    status: hash[RunField.status],
    started: hash[RunField.started] === '1',
    fence: Number(hash[RunField.fence] ?? 0),
    query: hash[RunField.query] || undefined,
    plan: hash[RunField.plan] ? (JSON.parse(hash[RunField.plan]) as PlanItem[]) : undefined,
    outputs,
    attempts,
    current: current
      ? {
          stepId: current,
          title: hash[RunField.currentTitle] ?? '',
          agent: (hash[RunField.currentAgent] ?? 'executor') as AgentName,
        }
      : undefined,
    report: hash[RunField.report] || undefined,
    knowledge: hash[RunField.knowledge] ? (JSON.parse(hash[RunField.knowledge]) as StoredFinding[]) : undefined,
    toolCalls,
    failed,
    revisedPlan: hash[RunField.revisedPlan] ? (JSON.parse(hash[RunField.revisedPlan]) as PlanVersion) : undefined,
    review: hash[RunField.review] === 'plan' ? 'plan' : undefined,
    pendingInput: hash[RunField.pendingInput] ? (JSON.parse(hash[RunField.pendingInput]) as InputRequest) : undefined,
    inputRequests: Number(hash[RunField.inputRequests] ?? 0),
    answers,
    requests,
    planApproved: hash[RunField.planApproved] === '1',
    reviewedPlan: hash[RunField.reviewedPlan] ? (JSON.parse(hash[RunField.reviewedPlan]) as PlanVersion) : undefined,
    steers: steers.filter(Boolean),
    steersApplied: Number(hash[RunField.steersApplied] ?? 0),
  };
}

/** The plan the run follows now: its latest revision, else the planner's (version 1); none before the planner finished. */
export function currentPlanOf(run: Pick<RunRecord, 'plan' | 'revisedPlan'>): PlanVersion | undefined {
  if (run.revisedPlan) return run.revisedPlan;
  if (!run.plan) return undefined;
  return { version: 1, steps: run.plan.map((item, i) => ({ stepId: executorStepId(i), ...item })) };
}

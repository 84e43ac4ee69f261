import { EventType, type AGUIEvent, type Interrupt, type JsonPatchOperation, type RunFinishedEvent } from '@ag-ui/core';
import { planStepsOf } from '../contract';
import type {
  AgentName,
  AnyDurableFrame,
  DurableEventMap,
  InputRequest,
  PlanStep,
  RunMode,
  TokenUsage,
} from '../contract';

/** A run's state as AG-UI clients hold it (`STATE_SNAPSHOT`, then `STATE_DELTA` patches). */
export interface AguiRunState {
  runId: string;
  mode: RunMode;
  task: string;
  status: 'queued' | 'running' | 'waiting' | 'completed' | 'failed' | 'cancelled';
  /** The plan's latest version (the planner's own is version 1); null until there is one. */
  plan: { version: number; steps: PlanStep[] } | null;
  /** Every step that started (or was dropped), by stepId. */
  steps: Record<string, { agent: AgentName; title?: string; attempt: number; status: StepStatus }>;
  steered: { text: string; appliedBefore: string }[];
}

type StepStatus = 'running' | 'done' | 'failed' | 'skipped';

/** A step open on the AG-UI side: its STEP_STARTED sent, and maybe its text message. */
interface OpenStep {
  attempt: number;
  /** The open TEXT_MESSAGE's id, if any. */
  messageId?: string;
}

/**
 * v2 "AG-UI": turns a session's durable events, in seq order, into AG-UI events: a pure
 * projection of the log (the same history always gives the same events), so a cut stream can
 * be continued from any event's id. One MAWS run is one AG-UI run from `run.queued` to its
 * end, or to an input request (`RUN_FINISHED` with an interrupt); the answer opens the next
 * AG-UI run (`RUN_STARTED` again, with the run's state), as AG-UI's resume expects.
 */
export class AguiProjector {
  /** The MAWS run the state belongs to (kept across its AG-UI runs). */
  private run?: AguiRunState;
  /** The AG-UI run going, if one is. */
  private open?: { runId: string; steps: Map<string, OpenStep> };
  /** The run's tool calls announced so far, and each step attempt's text messages (one per AG-UI run it spans). */
  private toolCalls = new Set<string>();
  private messageParts = new Map<string, number>();

  constructor(private readonly threadId: string) {}

  /** Whether an AG-UI run is open (started, not yet finished or interrupted). */
  get running(): boolean {
    return this.open !== undefined;
  }

  /** The AG-UI events of one durable event (none for most of what happens between runs). */
  project(frame: AnyDurableFrame): AGUIEvent[] {
    const out: AGUIEvent[] = [];
    const timestamp = Date.parse(frame.ts);
    const emit = (event: AGUIEvent): void => {
      out.push(Number.isSafeInteger(timestamp) ? { ...event, timestamp } : event);
    };
    this.apply(frame, emit);
    return out;
  }

  private apply(frame: AnyDurableFrame, emit: (event: AGUIEvent) => void): void {
    switch (frame.event) {
      case 'run.queued': {
        const { runId, mode, input } = frame.data;
        this.run = { runId, mode, task: input, status: 'queued', plan: null, steps: {}, steered: [] };
        this.toolCalls = new Set();
        this.messageParts = new Map();
        return this.begin(runId, emit);
      }
      case 'run.input_resolved': {
        if (!this.run || this.run.runId !== frame.data.runId) return;
        this.run.status = 'running';
        return this.begin(`${frame.data.runId}:${frame.data.requestId}`, emit);
      }
      case 'run.started':
        return this.patch(frame.data.runId, emit, { op: 'replace', path: '/status', value: 'running' }, (r) => {
          r.status = 'running';
        });
      case 'agent.started':
        return this.stepStarted(frame.data, emit);
      case 'agent.delta': {
        const d = frame.data;
        const step = this.ensureStep(d.runId, d.stepId, d.attempt, d.agent, emit);
        if (!step || d.text === '') return;
        const messageId = this.ensureMessage(d.runId, d.stepId, step, d.agent, emit);
        return emit({ type: EventType.TEXT_MESSAGE_CONTENT, messageId, delta: d.text });
      }
      case 'tool.called':
        return this.toolCalled(frame.data, emit);
      case 'tool.result': {
        const d = frame.data;
        if (!this.isCurrent(d.runId) || !this.toolCalls.has(d.toolCallId)) return;
        const content = JSON.stringify(d.ok ? (d.output ?? null) : { error: d.error });
        return emit({
          type: EventType.TOOL_CALL_RESULT,
          messageId: `${d.toolCallId}:result`,
          toolCallId: d.toolCallId,
          content,
          role: 'tool',
        });
      }
      case 'agent.finished': {
        const d = frame.data;
        const plan = d.agent === 'planner' && d.stepId === 'plan' ? planStepsOf(d.output) : undefined;
        this.stepEnded(d.runId, d.stepId, 'done', emit);
        if (plan && this.isCurrent(d.runId)) this.setPlan({ version: 1, steps: plan }, emit);
        return;
      }
      case 'agent.failed':
        return this.stepEnded(frame.data.runId, frame.data.stepId, 'failed', emit);
      case 'agent.skipped': {
        const d = frame.data;
        const known = this.run?.steps[d.stepId];
        const value = { agent: known?.agent ?? 'executor', attempt: known?.attempt ?? 0, status: 'skipped' as const };
        return this.patch(d.runId, emit, { op: 'add', path: `/steps/${pointer(d.stepId)}`, value }, (r) => {
          r.steps[d.stepId] = value;
        });
      }
      case 'plan.updated':
        if (!this.isCurrent(frame.data.runId)) return;
        return this.setPlan({ version: frame.data.version, steps: frame.data.plan }, emit);
      case 'run.steered': {
        const { text, appliedBefore } = frame.data;
        return this.patch(
          frame.data.runId,
          emit,
          { op: 'add', path: '/steered/-', value: { text, appliedBefore } },
          (r) => r.steered.push({ text, appliedBefore }),
        );
      }
      case 'run.input_requested': {
        const { runId, ...request } = frame.data;
        return this.finish(runId, 'waiting', emit, {
          outcome: { type: 'interrupt', interrupts: [interruptOf(request)] },
        });
      }
      case 'run.completed': {
        const { runId, report, usage } = frame.data;
        return this.finish(runId, 'completed', emit, {
          result: { report },
          outcome: { type: 'success' },
          ...(usage ? { usage: [usageOf(usage)] } : {}),
        });
      }
      case 'run.failed': {
        const { runId, error } = frame.data;
        if (!this.isCurrent(runId)) return;
        this.setStatus('failed', emit);
        return this.end(emit, { type: EventType.RUN_ERROR, message: error.message, code: error.code });
      }
      case 'run.cancelled':
        return this.finish(frame.data.runId, 'cancelled', emit, { outcome: { type: 'cancelled' } });
      case 'chat.response': {
        // The Clarifier's answers while a run goes: a message of their own, from the clarifier.
        if (!this.open) return;
        const messageId = `chat-${frame.seq}`;
        emit({ type: EventType.TEXT_MESSAGE_START, messageId, role: 'assistant', name: 'clarifier' });
        if (frame.data.text !== '') emit({ type: EventType.TEXT_MESSAGE_CONTENT, messageId, delta: frame.data.text });
        return emit({ type: EventType.TEXT_MESSAGE_END, messageId });
      }
      case 'user.message':
      case 'session.state':
        // The person's messages are the AG-UI client's own (its input); state is RUN_* here.
        return;
    }
  }

  /** Opens an AG-UI run: RUN_STARTED, then the run's whole state. */
  private begin(aguiRunId: string, emit: (event: AGUIEvent) => void): void {
    if (this.open) this.end(emit, { type: EventType.RUN_ERROR, message: 'the run was superseded', code: 'INTERNAL' });
    this.open = { runId: aguiRunId, steps: new Map() };
    emit({ type: EventType.RUN_STARTED, threadId: this.threadId, runId: aguiRunId });
    emit({ type: EventType.STATE_SNAPSHOT, snapshot: structuredClone(this.run) });
  }

  /** The run's AG-UI run ends with RUN_FINISHED (`fields`: its outcome, result, usage), its state first. */
  private finish(
    runId: string,
    status: AguiRunState['status'],
    emit: (event: AGUIEvent) => void,
    fields: Pick<RunFinishedEvent, 'outcome' | 'result' | 'usage'>,
  ): void {
    if (!this.isCurrent(runId)) return;
    this.setStatus(status, emit);
    this.end(emit, { type: EventType.RUN_FINISHED, threadId: this.threadId, runId: this.open!.runId, ...fields });
  }

  /** Closes what is open (AG-UI wants every step and message closed first), then ends the run. */
  private end(emit: (event: AGUIEvent) => void, last: AGUIEvent): void {
    for (const [stepId, step] of this.open?.steps ?? []) this.closeStep(stepId, step, emit);
    this.open = undefined;
    emit(last);
  }

  private stepStarted(d: DurableEventMap['agent.started'], emit: (event: AGUIEvent) => void): void {
    if (!this.isCurrent(d.runId)) return;
    const earlier = this.open!.steps.get(d.stepId);
    // A step started again: its earlier attempt's message ends where it was cut.
    if (earlier) this.closeStep(d.stepId, earlier, emit);
    this.open!.steps.set(d.stepId, { attempt: d.attempt });
    emit({ type: EventType.STEP_STARTED, stepName: d.stepId });
    const value = { agent: d.agent, ...(d.title !== undefined ? { title: d.title } : {}), attempt: d.attempt };
    const step = { ...value, status: 'running' as const };
    this.patch(d.runId, emit, { op: 'add', path: `/steps/${pointer(d.stepId)}`, value: step }, (r) => {
      r.steps[d.stepId] = step;
    });
  }

  /**
   * The open step an event of (stepId, attempt) belongs to; a step going on in a later AG-UI run
   * (after an answer) is opened again here. Undefined for an earlier attempt's late event.
   */
  private ensureStep(
    runId: string,
    stepId: string,
    attempt: number,
    agent: AgentName | undefined,
    emit: (event: AGUIEvent) => void,
  ): OpenStep | undefined {
    if (!this.isCurrent(runId)) return undefined;
    const open = this.open!.steps.get(stepId);
    if (open) return attempt < open.attempt ? undefined : open;
    const known = this.run!.steps[stepId];
    if (known && attempt < known.attempt) return undefined;
    const step: OpenStep = { attempt };
    this.open!.steps.set(stepId, step);
    emit({ type: EventType.STEP_STARTED, stepName: stepId });
    if (!known && agent) {
      const value = { agent, attempt, status: 'running' as const };
      this.patch(runId, emit, { op: 'add', path: `/steps/${pointer(stepId)}`, value }, (r) => {
        r.steps[stepId] = value;
      });
    }
    return step;
  }

  /** The step's text message, started on its first text or tool call. */
  private ensureMessage(
    runId: string,
    stepId: string,
    step: OpenStep,
    agent: AgentName | undefined,
    emit: (event: AGUIEvent) => void,
  ): string {
    if (step.messageId) return step.messageId;
    const key = `${stepId}/${step.attempt}`;
    const part = this.messageParts.get(key) ?? 0;
    this.messageParts.set(key, part + 1);
    step.messageId = `${runId}/${stepId}/${step.attempt}${part > 0 ? `/${part}` : ''}`;
    emit({
      type: EventType.TEXT_MESSAGE_START,
      messageId: step.messageId,
      role: 'assistant',
      name: agent ?? this.run?.steps[stepId]?.agent ?? 'executor',
    });
    return step.messageId;
  }

  private toolCalled(d: DurableEventMap['tool.called'], emit: (event: AGUIEvent) => void): void {
    const step = this.ensureStep(d.runId, d.stepId, d.attempt, undefined, emit);
    // A call answered from its record on a later attempt keeps its id: announced once.
    if (!step || this.toolCalls.has(d.toolCallId)) return;
    const parentMessageId = this.ensureMessage(d.runId, d.stepId, step, undefined, emit);
    this.toolCalls.add(d.toolCallId);
    emit({ type: EventType.TOOL_CALL_START, toolCallId: d.toolCallId, toolCallName: d.tool, parentMessageId });
    emit({ type: EventType.TOOL_CALL_ARGS, toolCallId: d.toolCallId, delta: JSON.stringify(d.input ?? {}) });
    emit({ type: EventType.TOOL_CALL_END, toolCallId: d.toolCallId });
  }

  private stepEnded(runId: string, stepId: string, status: StepStatus, emit: (event: AGUIEvent) => void): void {
    if (!this.isCurrent(runId)) return;
    const open = this.open!.steps.get(stepId);
    if (open) {
      this.closeStep(stepId, open, emit);
      this.open!.steps.delete(stepId);
    }
    if (!this.run!.steps[stepId]) return;
    this.patch(runId, emit, { op: 'replace', path: `/steps/${pointer(stepId)}/status`, value: status }, (r) => {
      r.steps[stepId].status = status;
    });
  }

  private closeStep(stepId: string, step: OpenStep, emit: (event: AGUIEvent) => void): void {
    if (step.messageId) emit({ type: EventType.TEXT_MESSAGE_END, messageId: step.messageId });
    step.messageId = undefined;
    emit({ type: EventType.STEP_FINISHED, stepName: stepId });
  }

  private setPlan(plan: { version: number; steps: PlanStep[] }, emit: (event: AGUIEvent) => void): void {
    this.run!.plan = plan;
    emit({ type: EventType.STATE_DELTA, delta: [{ op: 'replace', path: '/plan', value: structuredClone(plan) }] });
  }

  private setStatus(status: AguiRunState['status'], emit: (event: AGUIEvent) => void): void {
    this.run!.status = status;
    emit({ type: EventType.STATE_DELTA, delta: [{ op: 'replace', path: '/status', value: status }] });
  }

  /** One change of the run's state, sent as a patch while its AG-UI run is open. */
  private patch(
    runId: string,
    emit: (event: AGUIEvent) => void,
    op: JsonPatchOperation,
    change: (run: AguiRunState) => void,
  ): void {
    if (!this.run || this.run.runId !== runId) return;
    change(this.run);
    if (this.open) emit({ type: EventType.STATE_DELTA, delta: [structuredClone(op)] });
  }

  /** Whether `runId`'s AG-UI run is the open one. */
  private isCurrent(runId: string): boolean {
    return this.open !== undefined && this.run?.runId === runId;
  }
}

/** An open input request as an AG-UI interrupt, answered by a `resume` entry with its id. */
function interruptOf(request: InputRequest): Interrupt {
  return {
    id: request.requestId,
    reason: request.kind,
    message: request.prompt,
    ...(request.toolCallId !== undefined ? { toolCallId: request.toolCallId } : {}),
    responseSchema: RESPONSE_SCHEMAS[request.kind],
    expiresAt: request.expiresAt,
    metadata: {
      ...(request.plan ? { plan: request.plan } : {}),
      ...(request.toolCall ? { toolCall: request.toolCall } : {}),
    },
  };
}

/** What `resume[].payload` holds for each kind of request (the same answers as `run.respond`). */
const RESPONSE_SCHEMAS: Record<InputRequest['kind'], Record<string, unknown>> = {
  question: {
    type: 'object',
    properties: { text: { type: 'string', minLength: 1 } },
    required: ['text'],
  },
  tool_approval: {
    type: 'object',
    properties: { approve: { type: 'boolean' } },
    required: ['approve'],
  },
  plan_review: {
    oneOf: [
      {
        type: 'object',
        properties: {
          approve: { const: true },
          plan: {
            type: 'array',
            items: {
              type: 'object',
              properties: { title: { type: 'string' }, description: { type: 'string' } },
              required: ['title', 'description'],
            },
          },
        },
        required: ['approve'],
      },
      {
        type: 'object',
        properties: { approve: { const: false }, feedback: { type: 'string', minLength: 1 } },
        required: ['approve', 'feedback'],
      },
    ],
  },
};

function usageOf(usage: TokenUsage): { inputTokens: number; outputTokens: number; totalTokens: number } {
  return { ...usage, totalTokens: usage.inputTokens + usage.outputTokens };
}

/** A JSON Pointer segment (RFC 6901). */
function pointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

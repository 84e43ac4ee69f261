import { planStepsOf } from '../../../src/contract';
import type {
  AgentName,
  AnyDurableFrame,
  InputRequest,
  PlanStep,
  ReplyEventMap,
  RunError,
  RunMode,
  SessionState,
  ToolCallError,
  UserMessageKind,
} from '../../../src/contract';

export interface ToolView {
  toolCallId: string;
  tool: string;
  input: unknown;
  status: 'running' | 'ok' | 'failed';
  output?: unknown;
  error?: ToolCallError;
}

export interface StepView {
  stepId: string;
  agent: AgentName;
  title?: string;
  /** The latest attempt: a restarted step's earlier text and tool calls are dropped. */
  attempt: number;
  status: 'running' | 'done' | 'failed' | 'skipped';
  text: string;
  tools: ToolView[];
  output?: unknown;
  error?: RunError;
}

export interface RunView {
  runId: string;
  mode: RunMode;
  input: string;
  status: 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';
  steps: StepView[];
  /** The plan's latest version (the planner's own is version 1). */
  plan?: { version: number; steps: PlanStep[] };
  /** The person's instructions taken into the run, and before which step. */
  steered: { text: string; appliedBefore: string }[];
  report?: string;
  error?: RunError;
  /** Its OpenTelemetry trace, when the deployment traces runs. */
  traceId?: string;
}

export interface MessageView {
  from: 'person' | 'clarifier';
  text: string;
  kind?: UserMessageKind;
}

/** A session as a client shows it, built by `reduce` from its events alone. */
export interface SessionView {
  state: SessionState;
  lastSeq: number;
  runId?: string;
  report?: string;
  runs: RunView[];
  messages: MessageView[];
  /** The running run's open input request. */
  pendingInput?: InputRequest;
}

export const initialView: SessionView = { state: 'IDLE', lastSeq: 0, runs: [], messages: [] };

/** A frame the reducer takes: a durable event, or the session's snapshot. */
export type ViewFrame = AnyDurableFrame | { event: 'session.snapshot'; data: ReplyEventMap['session.snapshot'] };

/**
 * The session's view after `frame`, as the contract's rules say: durable events once each in
 * seq order (one at or below `lastSeq` changes nothing); a step started again drops its earlier
 * attempt's text and tools, and deltas or tool events of an earlier attempt are ignored; a
 * snapshot behind the view (the history restarted) starts the view over from it. Pure: the
 * view passed in is never changed.
 */
export function reduce(view: SessionView, frame: ViewFrame): SessionView {
  if (frame.event === 'session.snapshot') {
    const d = frame.data;
    const restarted = d.lastSeq < view.lastSeq;
    return {
      ...(restarted ? initialView : view),
      state: d.state,
      lastSeq: restarted ? d.lastSeq : Math.max(view.lastSeq, d.lastSeq),
      runId: d.runId,
      report: d.report ?? (restarted ? undefined : view.report),
      pendingInput: d.pendingInput,
    };
  }
  if (frame.seq <= view.lastSeq) return view;
  const next: SessionView = { ...view, lastSeq: frame.seq };
  const run = (runId: string, change: (r: RunView) => RunView): SessionView => ({
    ...next,
    runs: next.runs.map((r) => (r.runId === runId ? change(r) : r)),
  });
  const step = (runId: string, stepId: string, change: (s: StepView) => StepView): SessionView =>
    run(runId, (r) => ({ ...r, steps: r.steps.map((s) => (s.stepId === stepId ? change(s) : s)) }));
  switch (frame.event) {
    case 'user.message':
      return {
        ...next,
        messages: [...next.messages, { from: 'person', text: frame.data.text, kind: frame.data.kind }],
      };
    case 'chat.response':
      return { ...next, messages: [...next.messages, { from: 'clarifier', text: frame.data.text }] };
    case 'session.state':
      return {
        ...next,
        state: frame.data.state,
        runId: frame.data.runId,
        ...(frame.data.state !== 'EXECUTING' ? { pendingInput: undefined } : {}),
      };
    case 'run.queued': {
      const { runId, mode, input } = frame.data;
      return { ...next, runs: [...next.runs, { runId, mode, input, status: 'queued', steps: [], steered: [] }] };
    }
    case 'run.started':
      return run(frame.data.runId, (r) => ({
        ...r,
        status: 'running',
        ...(frame.data.traceId ? { traceId: frame.data.traceId } : {}),
      }));
    case 'agent.started': {
      const d = frame.data;
      return run(d.runId, (r) => {
        const fresh: StepView = {
          stepId: d.stepId,
          agent: d.agent,
          title: d.title,
          attempt: d.attempt,
          status: 'running',
          text: '',
          tools: [],
        };
        const known = r.steps.some((s) => s.stepId === d.stepId);
        return {
          ...r,
          steps: known ? r.steps.map((s) => (s.stepId === d.stepId ? fresh : s)) : [...r.steps, fresh],
        };
      });
    }
    case 'agent.delta': {
      const d = frame.data;
      return step(d.runId, d.stepId, (s) => (d.attempt < s.attempt ? s : { ...s, text: s.text + d.text }));
    }
    case 'agent.finished': {
      const d = frame.data;
      const planned = d.agent === 'planner' && d.stepId === 'plan' ? planStepsOf(d.output) : undefined;
      const withStep = step(d.runId, d.stepId, (s) => ({ ...s, status: 'done', output: d.output }));
      return planned
        ? {
            ...withStep,
            runs: withStep.runs.map((r) => (r.runId === d.runId ? { ...r, plan: { version: 1, steps: planned } } : r)),
          }
        : withStep;
    }
    case 'agent.failed': {
      const d = frame.data;
      return step(d.runId, d.stepId, (s) => ({ ...s, status: 'failed', error: d.error }));
    }
    case 'agent.skipped': {
      const d = frame.data;
      return run(d.runId, (r) => ({
        ...r,
        steps: r.steps.some((s) => s.stepId === d.stepId)
          ? r.steps.map((s) => (s.stepId === d.stepId ? { ...s, status: 'skipped' } : s))
          : r.steps,
      }));
    }
    case 'tool.called': {
      const d = frame.data;
      return step(d.runId, d.stepId, (s) =>
        d.attempt < s.attempt
          ? s
          : {
              ...s,
              tools: [...s.tools, { toolCallId: d.toolCallId, tool: d.tool, input: d.input, status: 'running' }],
            },
      );
    }
    case 'tool.result': {
      const d = frame.data;
      return step(d.runId, d.stepId, (s) =>
        d.attempt < s.attempt
          ? s
          : {
              ...s,
              tools: s.tools.map((t) =>
                t.toolCallId === d.toolCallId
                  ? { ...t, status: d.ok ? 'ok' : 'failed', output: d.output, error: d.error }
                  : t,
              ),
            },
      );
    }
    case 'plan.updated': {
      const d = frame.data;
      return run(d.runId, (r) => ({ ...r, plan: { version: d.version, steps: d.plan } }));
    }
    case 'run.steered': {
      const d = frame.data;
      return run(d.runId, (r) => ({ ...r, steered: [...r.steered, { text: d.text, appliedBefore: d.appliedBefore }] }));
    }
    case 'run.input_requested': {
      const { runId: _runId, ...request } = frame.data;
      return { ...next, pendingInput: request };
    }
    case 'run.input_resolved':
      return next.pendingInput?.requestId === frame.data.requestId ? { ...next, pendingInput: undefined } : next;
    case 'run.completed': {
      const d = frame.data;
      return { ...run(d.runId, (r) => ({ ...r, status: 'completed', report: d.report })), report: d.report };
    }
    case 'run.failed':
      return run(frame.data.runId, (r) => ({ ...r, status: 'failed', error: frame.data.error }));
    case 'run.cancelled':
      return run(frame.data.runId, (r) => ({ ...r, status: 'cancelled' }));
  }
}

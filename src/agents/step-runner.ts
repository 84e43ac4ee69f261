import { sleep, withTimeout } from '../common/abort';
import type { AgentName, ToolCallSummary } from '../contract';
import { durable } from '../events/frames';
import { RunCheckpoint, type RunRecord, type StoredToolCall, type StoredToolOutcome } from '../store/run-record';
import type { QuestionAnswer, ToolApprovalAnswer } from '../contract';
import { StepInput } from './review/step-input';
import type { RunEventWriter } from '../events/run-event-writer';
import { logLine } from '../common/error-log';
import { withLogContext } from '../logging/log-context';
import { SpanKind } from '@opentelemetry/api';
import { inSpan } from '../tracing/spans';
import { ParkRunError } from './review/park-run-error';
import type { ModelProvider, ModelRequest, ModelUsage } from '../llm/model-provider';
import { ModelStreamCutError } from '../llm/model-provider';
import type { ToolRegistry } from '../tools/tool-registry';
import { interruptedOutcome, StepTools, writeToolResult } from './step-tools';

/** A run parking to wait for the person ends its spans without an error. */
const isParking = (err: unknown): boolean => err instanceof ParkRunError;

export interface StepSpec {
  stepId: string;
  agent: AgentName;
  title: string;
  /** How many times this step was started before (from the checkpoint, or a repair). */
  previousAttempts: number;
  request: ModelRequest;
  /** The step's model may call the worker's tools. */
  useTools?: boolean;
  /** The step's tool calls stored by its earlier attempts (from the run's checkpoint). */
  storedToolCalls?: StoredToolCall[];
  /** Told each attempt's number as it starts (a step that fails for good names its last). */
  onAttempt?: (attempt: number) => void;
  /** The run's input requests and answers, for tools that ask the person (v2 "People in the loop"). */
  input?: { run: Pick<RunRecord, 'runId' | 'requests' | 'answers' | 'inputRequests'>; ttlSeconds: number };
  /** The person's instructions that came since the last tool round, taken in before the next (v2 "Steering"). */
  steersBetweenRounds?: () => Promise<string[]>;
}

export interface StepText {
  text: string;
  usage: ModelUsage;
  /** The attempt number the text came from (a restart or a repair continues from it). */
  attempt: number;
  /** The tool calls of that attempt. */
  toolCalls: ToolCallSummary[];
  /** What they gave, one line each. */
  evidence: string[];
}

/** How often one step is restarted in place after its model stream broke off mid-answer. */
export const MAX_STREAM_RESTARTS = 2;
/** Pause before the n-th restart: n × this. */
const RESTART_DELAY_MS = 500;

/**
 * Runs one agent step's model call: announces it with its attempt number, streams the
 * model's text as deltas (with the tool calls it makes between them, see StepTools), and
 * returns the whole text. The caller finishes the step, so
 * that the output and its checkpoint are stored in one append.
 *
 * A stream that breaks off mid-answer is retried here, in the worker, as the contract's
 * restarted step: `agent.started` again with the same stepId and `attempt` raised by one,
 * so clients drop the deltas they had. Each call has its own MODEL_TIMEOUT_MS.
 */
export class StepRunner {
  constructor(
    private readonly model: ModelProvider,
    private readonly modelTimeoutMs: number,
    private readonly tools?: ToolRegistry,
  ) {}

  async run(runId: string, writer: RunEventWriter, step: StepSpec, signal: AbortSignal): Promise<StepText> {
    let attempt = step.previousAttempts + 1;
    const recorded = this.recordedCalls(runId, writer, step);
    for (let restarts = 0; ; restarts++) {
      this.announce(runId, writer, step, attempt);
      step.onAttempt?.(attempt);
      try {
        // Lines logged during the attempt say which step, agent and attempt they belong to.
        const startedAt = Date.now();
        // Each attempt is a `maws.step` span of the run's trace; its model and tool calls nest in it.
        const attributes = {
          'maws.run_id': runId,
          'maws.step_id': step.stepId,
          'maws.agent': step.agent,
          'maws.attempt': attempt,
        };
        const result = await inSpan('maws.step', { attributes, expected: isParking }, () =>
          withLogContext({ stepId: step.stepId, agent: step.agent, attempt }, async () => {
            const text = await this.call(runId, writer, step, attempt, recorded, signal);
            logLine('StepRunner', `step answered in ${Date.now() - startedAt} ms`, 'log');
            return text;
          }),
        );
        return { ...result, attempt };
      } catch (err) {
        if (signal.aborted) throw reasonOf(signal);
        if (!(err instanceof ModelStreamCutError) || restarts >= MAX_STREAM_RESTARTS) throw err;
      }
      await sleep(RESTART_DELAY_MS * (restarts + 1), signal);
      attempt += 1;
    }
  }

  /**
   * The outcomes the step's earlier attempts recorded, by call key, for its calls to reuse. A
   * call stored without an outcome was cut off by its worker's end: it gets its tool.result
   * now (TOOL_FAILED), so every tool.called has one, and runs again if the model asks again.
   */
  private recordedCalls(runId: string, writer: RunEventWriter, step: StepSpec): Map<string, StoredToolOutcome> {
    const recorded = new Map<string, StoredToolOutcome>();
    for (const call of step.storedToolCalls ?? []) {
      if (call.outcome && !call.outcome.interrupted) recorded.set(call.key, call.outcome);
      if (call.outcome) continue;
      const answered = answeredOutcome(call, step.input?.run);
      if (answered && !answered.interrupted) recorded.set(call.key, answered);
      const why = 'the worker running this call stopped before it finished, and the step was restarted';
      writeToolResult(writer, runId, call, answered ?? interruptedOutcome(why));
    }
    return recorded;
  }

  /** Queued, not awaited: the model call starts at once and its deltas follow in order. */
  private announce(runId: string, writer: RunEventWriter, step: StepSpec, attempt: number): void {
    writer.write(
      [durable('agent.started', { runId, agent: step.agent, stepId: step.stepId, attempt, title: step.title })],
      RunCheckpoint.stepStarted(step, attempt),
    );
  }

  private async call(
    runId: string,
    writer: RunEventWriter,
    step: StepSpec,
    attempt: number,
    recorded: Map<string, StoredToolOutcome>,
    signal: AbortSignal,
  ): Promise<{ text: string; usage: ModelUsage; toolCalls: ToolCallSummary[]; evidence: string[] }> {
    const call = withTimeout(signal, this.modelTimeoutMs);
    // A tool that asks the person stops the model call here, and the run parks (ParkRunError).
    const park = new AbortController();
    try {
      const offered = step.useTools && this.tools?.enabled ? await this.tools.offered() : [];
      const input = step.input && new StepInput(step.input.run, step.stepId, writer, step.input.ttlSeconds, park);
      const tools =
        this.tools && offered.length > 0
          ? new StepTools(
              offered,
              this.tools.limits,
              writer,
              runId,
              { stepId: step.stepId, agent: step.agent, attempt },
              recorded,
              input,
              step.steersBetweenRounds,
            )
          : undefined;
      // The model call's span (every provider's; the AI SDK's own spans and the tool calls nest in it).
      const model = this.model.modelFor?.(step.agent) ?? this.model.name;
      const attributes = {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': this.model.name,
        'gen_ai.request.model': model,
        'maws.agent': step.agent,
      };
      const { text, usage } = await inSpan(
        `maws.model ${step.agent}`,
        { kind: SpanKind.CLIENT, attributes, expected: isParking },
        async (span) => {
          const stream = this.model.stream(
            tools ? { ...step.request, tools } : step.request,
            AbortSignal.any([call.signal, park.signal]),
          );
          let text = '';
          for await (const chunk of stream.chunks) {
            if (signal.aborted) break;
            text += chunk;
            writer.delta(step.agent, step.stepId, attempt, chunk);
          }
          if (signal.aborted) throw reasonOf(signal);
          const usage = await stream.usage();
          span?.setAttributes({
            'gen_ai.usage.input_tokens': usage.inputTokens,
            'gen_ai.usage.output_tokens': usage.outputTokens,
          });
          return { text, usage };
        },
      );
      return { text, usage, toolCalls: tools?.calls ?? [], evidence: tools?.evidence ?? [] };
    } finally {
      call.clear();
    }
  }
}

function reasonOf(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('aborted');
}

/**
 * The result a call left open by a step that parked gets from the person's answer: a
 * question's text; a denied tool's TOOL_DENIED; an approved tool runs in the step's next
 * attempt (this one is closed as interrupted). Undefined when it asked nothing, or has no answer.
 */
function answeredOutcome(
  call: StoredToolCall,
  run: Pick<RunRecord, 'requests' | 'answers'> | undefined,
): StoredToolOutcome | undefined {
  const request = run && Object.values(run.requests).find((r) => r.toolCallId === call.toolCallId);
  if (!run || !request || !(request.requestId in run.answers)) return undefined;
  const answer = run.answers[request.requestId];
  if (request.kind === 'question') return { ok: true, output: (answer as QuestionAnswer).text, ms: 0 };
  if ((answer as ToolApprovalAnswer).approve) {
    return interruptedOutcome("approved: the call runs in the step's next attempt");
  }
  return { ok: false, error: { code: 'TOOL_DENIED', message: 'the person said no to this call' }, ms: 0 };
}

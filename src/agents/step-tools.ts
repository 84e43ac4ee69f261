import { createHash } from 'node:crypto';
import type { AgentName, QuestionAnswer, ToolApprovalAnswer, ToolCallSummary } from '../contract';
import { durable } from '../events/frames';
import type { RunEventWriter } from '../events/run-event-writer';
import type { ModelToolCall, ModelTools } from '../llm/model-provider';
import { RunCheckpoint, type StoredToolCall, type StoredToolOutcome } from '../store/run-record';
import { ToolError, type ToolDefinition } from '../tools/tool';
import type { ToolLimits } from '../tools/tool-registry';
import { runTool } from '../tools/tool-runner';
import { workCounters } from '../ops/work-counters';
import { ParkRunError } from './review/park-run-error';
import type { StepInput } from './review/step-input';

/** What the model reads for a failed call: the code first, so it can tell a timeout from bad input. */
const forModel = (error: { code: string; message: string }): string => `${error.code}: ${error.message}`;

/**
 * The tools of one attempt of one step, as its model call sees them. Each call:
 * 1. `tool.called` is stored (fenced, with the call in the run's checkpoint) before the tool
 *    runs, so a worker whose run was taken over stops here, before any side effect;
 * 2. the tool runs, unless this step recorded the same call (same tool, same input) before:
 *    then the recorded outcome answers it (`recorded: true`), and nothing runs twice;
 * 3. `tool.result` is written with the outcome in the checkpoint, and the outcome goes back
 *    to the model (an error as a ToolError the loop hands back to it).
 */
export class StepTools implements ModelTools {
  /** The calls this attempt made, for agent.finished. */
  readonly calls: ToolCallSummary[] = [];
  /** What each call gave, one line each, for the later steps' and a refinement's prompts. */
  readonly evidence: string[] = [];
  private count = 0;
  private readonly byName: Map<string, ToolDefinition>;

  constructor(
    /** The tools this step is offered (listed once as it starts). */
    readonly offered: ToolDefinition[],
    private readonly limits: ToolLimits,
    private readonly writer: RunEventWriter,
    private readonly runId: string,
    private readonly step: { stepId: string; agent: AgentName; attempt: number },
    /** The step's recorded outcomes by call key, shared by its attempts. */
    private readonly recorded: Map<string, StoredToolOutcome>,
    /** The person's answers and questions (none: a tool that asks is refused). */
    private readonly input?: StepInput,
    /** The person's new instructions, taken in between tool rounds (v2 "Steering"). */
    private readonly steers?: () => Promise<string[]>,
  ) {
    this.byName = new Map(offered.map((tool) => [tool.name, tool]));
  }

  betweenRounds(): Promise<string[]> {
    return this.steers ? this.steers() : Promise.resolve([]);
  }

  get maxSteps(): number {
    return this.limits.maxSteps;
  }

  async call(call: ModelToolCall, signal: AbortSignal): Promise<unknown> {
    const stored = this.announce(call);
    await this.writer.drain();
    const recorded = this.recorded.get(stored.key);
    let outcome: StoredToolOutcome;
    try {
      outcome = recorded ?? (await this.run(call, stored, signal));
    } catch (err) {
      // The step waits on the person: the call gets its result from the answer, when the step goes on.
      if (err instanceof ParkRunError) throw err;
      // The run is stopping (a cancel, a timeout, the run lost): the call still gets its
      // result, where the writer still may write one.
      this.answer(stored, interruptedOutcome('the step stopped before the call finished'));
      throw err;
    }
    if (!recorded) this.recorded.set(stored.key, outcome);
    this.answer(stored, outcome, recorded !== undefined, call.input);
    if (!outcome.ok && outcome.error) throw new ToolError(outcome.error.code, forModel(outcome.error));
    return outcome.output;
  }

  refused(call: ModelToolCall, error: ToolError): Promise<void> {
    const stored = this.announce(call);
    this.answer(stored, { ok: false, error: { code: error.code, message: error.message }, ms: 0 });
    return Promise.resolve();
  }

  private async run(call: ModelToolCall, stored: StoredToolCall, signal: AbortSignal): Promise<StoredToolOutcome> {
    const tool = this.byName.get(call.tool);
    if (tool?.asks === 'question') return this.askPerson(tool, call, stored);
    if (tool?.needsApproval) {
      const denied = await this.approval(tool, call, stored);
      if (denied) return denied;
    }
    return this.execute(tool, call, signal);
  }

  /** ask_user: the answer, from an earlier attempt's request; or the request opened, and the step parked. */
  private async askPerson(
    tool: ToolDefinition,
    call: ModelToolCall,
    stored: StoredToolCall,
  ): Promise<StoredToolOutcome> {
    const parsed = tool.input.safeParse(call.input);
    if (!parsed.success) {
      return { ok: false, error: { code: 'TOOL_INVALID_INPUT', message: `${tool.name} needs {question}` }, ms: 0 };
    }
    if (!this.input) return { ok: false, error: { code: 'TOOL_DENIED', message: 'nobody can be asked here' }, ms: 0 };
    const answer = this.input.answered('question', stored.key) as QuestionAnswer | undefined;
    if (answer) return { ok: true, output: answer.text, ms: 0 };
    const { question } = parsed.data as { question: string };
    return this.input.ask('question', question, { ...stored, input: call.input });
  }

  /** A tool that waits for the person's yes: undefined once approved; TOOL_DENIED when they said no. */
  private async approval(
    tool: ToolDefinition,
    call: ModelToolCall,
    stored: StoredToolCall,
  ): Promise<StoredToolOutcome | undefined> {
    if (!this.input) return { ok: false, error: { code: 'TOOL_DENIED', message: 'nobody can approve it here' }, ms: 0 };
    const decision = this.input.answered('tool_approval', stored.key) as ToolApprovalAnswer | undefined;
    if (!decision) {
      return this.input.ask('tool_approval', `Allow ${tool.name} to run with this input?`, {
        ...stored,
        input: call.input,
      });
    }
    return decision.approve
      ? undefined
      : { ok: false, error: { code: 'TOOL_DENIED', message: 'the person said no to this call' }, ms: 0 };
  }

  private execute(
    tool: ToolDefinition | undefined,
    call: ModelToolCall,
    signal: AbortSignal,
  ): Promise<StoredToolOutcome> {
    if (!tool) {
      return Promise.resolve({
        ok: false,
        error: { code: 'TOOL_DENIED', message: `no tool named ${call.tool} is offered here` },
        ms: 0,
      });
    }
    const { maxOutputChars, timeoutMs } = this.limits;
    return runTool(tool, call.input, { signal, timeoutMs, maxOutputChars });
  }

  /** Writes tool.called with the call in the checkpoint (no outcome yet). */
  private announce(call: ModelToolCall): StoredToolCall {
    const { stepId, attempt } = this.step;
    this.count += 1;
    const stored: StoredToolCall = {
      // Unique in the run: a step's id, its attempt, and the call's place in it.
      toolCallId: `tc_${stepId}_${attempt}_${this.count}`,
      stepId,
      attempt,
      tool: call.tool,
      key: toolCallKey(call.tool, call.input),
    };
    const { toolCallId, tool } = stored;
    this.writer.write(
      [durable('tool.called', { runId: this.runId, stepId, attempt, toolCallId, tool, input: call.input })],
      RunCheckpoint.toolCall(stored),
    );
    return stored;
  }

  private answer(stored: StoredToolCall, outcome: StoredToolOutcome, recorded = false, input?: unknown): void {
    this.calls.push({ tool: stored.tool, ok: outcome.ok });
    if (input !== undefined && this.evidence.length < MAX_EVIDENCE_LINES) {
      this.evidence.push(evidenceLine(stored.tool, input, outcome));
    }
    writeToolResult(this.writer, this.runId, stored, outcome, recorded);
  }
}

/**
 * Writes a call's tool.result with its outcome in the checkpoint. A writer that already
 * refuses (the run cancelled or taken over) takes nothing: the run's new holder, or its
 * terminal event, has the last word.
 */
export function writeToolResult(
  writer: RunEventWriter,
  runId: string,
  stored: StoredToolCall,
  outcome: StoredToolOutcome,
  recorded = false,
): void {
  const { stepId, attempt, toolCallId, tool } = stored;
  const { ok, output, error, ms, truncated } = outcome;
  // A recorded outcome was counted when its call ran.
  if (!recorded) workCounters().toolCall(tool, error?.code ?? 'ok', ms);
  try {
    writer.write(
      [
        durable('tool.result', {
          runId,
          stepId,
          attempt,
          toolCallId,
          tool,
          ok,
          ...(ok ? { output } : { error }),
          ms,
          ...(truncated ? { truncated } : {}),
          ...(recorded ? { recorded } : {}),
        }),
      ],
      RunCheckpoint.toolCall({ ...stored, outcome }),
    );
  } catch {
    /* the writer refuses: see above */
  }
}

/** Evidence lines kept per step: a finding's prompt stays short. */
const MAX_EVIDENCE_LINES = 10;
/** Longest input and output an evidence line quotes. */
const EVIDENCE_INPUT_CHARS = 200;
const EVIDENCE_OUTPUT_CHARS = 600;

/** `tool input → output` (or `→ CODE: message`), each part cut to fit a prompt. */
function evidenceLine(tool: string, input: unknown, outcome: StoredToolOutcome): string {
  const cut = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max)}…` : text);
  const said = outcome.ok
    ? cut(JSON.stringify(outcome.output ?? null), EVIDENCE_OUTPUT_CHARS)
    : `${outcome.error?.code}: ${cut(outcome.error?.message ?? '', EVIDENCE_OUTPUT_CHARS)}`;
  return `${tool} ${cut(JSON.stringify(input ?? null), EVIDENCE_INPUT_CHARS)} → ${said}`;
}

/** The outcome of a call whose worker stopped before it finished. */
export function interruptedOutcome(why: string): StoredToolOutcome {
  return { ok: false, error: { code: 'TOOL_FAILED', message: why }, ms: 0, interrupted: true };
}

/** The same tool with the same input (keys in any order) is the same call. */
export function toolCallKey(tool: string, input: unknown): string {
  return createHash('sha256')
    .update(tool)
    .update('\n')
    .update(canonicalJson(input) ?? 'undefined')
    .digest('base64url');
}

function canonicalJson(value: unknown): string | undefined {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v) ?? 'null').join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((k) => [k, canonicalJson((value as Record<string, unknown>)[k])] as const)
      .filter(([, v]) => v !== undefined);
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

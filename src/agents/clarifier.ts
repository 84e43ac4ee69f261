import { withTimeout } from '../common/abort';
import type { EventLog } from '../events/event-log';
import { AGGREGATE_STEP_ID, MAX_STEERS_PER_RUN } from '../contract';
import { durable } from '../events/frames';
import type { AgentFacts, ClarifierDecision, ModelProvider } from '../llm/model-provider';
import { currentPlanOf, type RunRecord } from '../store/run-record';
import type { RunStore } from '../store/run-store';
import type { StoreWrites } from '../store/store-writes';
import { CLARIFIER_DECISION_SCHEMA, clarifierPrompt } from './prompts/clarifier.prompt';
import { personSaidIn } from './prompts/person-said';

/**
 * Answers a chat message at once, from the live run's stored plan and progress (or the
 * latest report), on its own queue so that it never waits behind runs.
 */
export class Clarifier {
  constructor(
    private readonly log: EventLog,
    private readonly runs: RunStore,
    private readonly model: ModelProvider,
    private readonly modelTimeoutMs: number,
    private readonly writes: StoreWrites,
  ) {}

  /**
   * Answers `question` with one chat.response, written once for `answerId` (the chat job's
   * id): a clarifier that stalled past its lock, woken after another answered the same job,
   * writes nothing. Returns whether this call's answer was the one written.
   *
   * `steerable` (a `message` typed while a run goes, v2 "Steering"): when the run asks
   * nothing, the model decides whether the text is a question or an instruction; an
   * instruction is stored on the run with the answer saying what will change, in one step.
   */
  async answer(
    sessionKey: string,
    question: string,
    replyTo: string | undefined,
    answerId: string,
    signal: AbortSignal,
    steerable = false,
  ): Promise<boolean> {
    const { facts, runId } = await this.factsFor(sessionKey, steerable);
    const text = await this.ask(facts, question, signal);
    const decision = facts.steerable ? decisionOf(text) : { kind: 'question' as const, reply: text };
    const writeId = answerWriteId(answerId);
    const respond = (reply: string) =>
      durable('chat.response', { text: reply.trim(), ...(replyTo ? { replyTo } : {}) });
    if (decision.kind === 'instruction' && runId) {
      // While Redis refuses writes the instruction waits with its answer; stored once for its id.
      const steered = await this.writes.write(
        () =>
          this.log.steer(sessionKey, runId, question, [respond(decision.reply)], {
            maxSteers: MAX_STEERS_PER_RUN,
            writeId,
          }),
        { signal },
      );
      if (steered === 'steered') return true;
      if (steered === 'already-written') return false;
      decision.reply =
        steered === 'too-many'
          ? `This run takes no more instructions (at most ${MAX_STEERS_PER_RUN}); it goes on as it is. Once the report is ready, ask for a refinement.`
          : 'The run ended before your instruction could be applied. To change the report, send it as a refinement.';
    }
    const written = await this.writes.write(() => this.log.appendOnce(sessionKey, writeId, [respond(decision.reply)]), {
      signal,
    });
    return written !== 'already-written';
  }

  /** The model's whole answer to the prompt. */
  private async ask(facts: AgentFacts, question: string, signal: AbortSignal): Promise<string> {
    const call = withTimeout(signal, this.modelTimeoutMs);
    let text = '';
    try {
      const stream = this.model.stream(
        {
          agent: 'clarifier',
          messages: clarifierPrompt(facts, question),
          facts,
          ...(facts.steerable ? { json: true, schema: CLARIFIER_DECISION_SCHEMA } : {}),
        },
        call.signal,
      );
      for await (const chunk of stream.chunks) text += chunk;
    } finally {
      call.clear();
    }
    return text;
  }

  private async factsFor(sessionKey: string, steerable: boolean): Promise<{ facts: AgentFacts; runId?: string }> {
    const view = await this.runs.sessionView(sessionKey);
    if (view.state === 'EXECUTING' && view.runId) {
      const run = await this.runs.get(sessionKey, view.runId);
      if (!run) return { facts: { query: '', progress: 'A run is queued.' } };
      const plan = currentPlanOf(run);
      const pending = (plan?.steps ?? []).filter((s) => run.outputs[s.stepId] === undefined && !run.failed[s.stepId]);
      return {
        facts: {
          query: run.query ?? run.input,
          progress: describeProgress(run),
          ...personSaidIn(run),
          // An open request takes messages as its answer; only a run that asks nothing is steered.
          ...(steerable && !run.pendingInput
            ? { steerable: true, plan: pending.map(({ title, description }) => ({ title, description })) }
            : {}),
        },
        runId: run.runId,
      };
    }
    if (view.lastRunId) {
      const last = await this.runs.get(sessionKey, view.lastRunId);
      const query = last?.query ?? last?.input ?? '';
      return {
        facts: {
          query,
          previousReport: view.report,
          progress: `No run is going. The report for "${query}" is ready; send an instruction to refine it, or start a new task.`,
          ...(last ? personSaidIn(last) : {}),
        },
      };
    }
    return { facts: { query: '', progress: 'No task is running in this session. Send a question to start one.' } };
  }
}

/**
 * A steerable Clarifier's answer as its decision: JSON `{kind, reply}` (possibly fenced, or
 * with text around it); anything else is taken as the answer to a question, as in v1.
 */
export function decisionOf(text: string): ClarifierDecision {
  const json = /\{[\s\S]*\}/.exec(text)?.[0];
  if (json) {
    try {
      const value = JSON.parse(json) as Partial<ClarifierDecision>;
      if (
        (value.kind === 'question' || value.kind === 'instruction') &&
        typeof value.reply === 'string' &&
        value.reply.trim()
      ) {
        return { kind: value.kind, reply: value.reply };
      }
    } catch {
      // Not JSON after all: the text is the answer.
    }
  }
  return { kind: 'question', reply: text };
}

/** The once-only write id of a chat job's answer (its apology, when it could not answer, included). */
export function answerWriteId(answerId: string): string {
  return `chat:${answerId}`;
}

/** "Step 3 of 5 is running: ..." from a run's checkpoint, following the plan's latest version. */
export function describeProgress(run: RunRecord): string {
  const mode = run.mode === 'refinement' ? 'refinement' : 'task';
  if (!run.started) return `Your ${mode} is queued and will start in a moment.`;
  const plan = currentPlanOf(run);
  if (!plan) return `Your ${mode} has started: the planner is splitting it into subtasks.`;
  if (run.pendingInput?.kind === 'plan_review') {
    return `The plan is ready and waits for your review: ${plan.steps.map((p, i) => `${i + 1}. ${p.title}`).join('; ')}. Approve it, edit it, or say what should change.`;
  }
  const steps = plan.steps;
  const total = steps.length + 2;
  const subtasksDone = steps.filter((s) => run.outputs[s.stepId] !== undefined).length;
  const done = 1 + subtasksDone + (run.outputs[AGGREGATE_STEP_ID] !== undefined ? 1 : 0);
  const current =
    run.current && run.outputs[run.current.stepId] === undefined
      ? `Step ${Math.min(done + 1, total)} of ${total} is running: the ${run.current.agent} is working on "${run.current.title}".`
      : `Step ${Math.min(done + 1, total)} of ${total} is about to start.`;
  const version = plan.version > 1 ? ` (version ${plan.version}, revised)` : '';
  const failed = Object.values(run.failed).map((f) => `"${f.title}" (${f.error.message})`);
  return [
    `${current} ${subtasksDone} of ${steps.length} subtasks are done; the plan${version} is: ${steps
      .map((p, i) => `${i + 1}. ${p.title}`)
      .join('; ')}.`,
    failed.length > 0 ? ` Failed for good: ${failed.join('; ')}.` : '',
    run.pendingInput ? ` The run is waiting for your answer: "${run.pendingInput.prompt}"` : '',
  ].join('');
}

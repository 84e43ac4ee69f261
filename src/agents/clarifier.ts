import { withTimeout } from '../common/abort';
import type { EventLog } from '../events/event-log';
import { AGGREGATE_STEP_ID } from '../contract';
import { durable } from '../events/frames';
import type { AgentFacts, ModelProvider } from '../llm/model-provider';
import { currentPlanOf, type RunRecord } from '../store/run-record';
import type { RunStore } from '../store/run-store';
import type { StoreWrites } from '../store/store-writes';
import { clarifierPrompt } from './prompts/clarifier.prompt';

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
   */
  async answer(
    sessionKey: string,
    question: string,
    replyTo: string | undefined,
    answerId: string,
    signal: AbortSignal,
  ): Promise<boolean> {
    const facts = await this.factsFor(sessionKey);
    const call = withTimeout(signal, this.modelTimeoutMs);
    let text = '';
    try {
      const stream = this.model.stream(
        { agent: 'clarifier', messages: clarifierPrompt(facts, question), facts },
        call.signal,
      );
      for await (const chunk of stream.chunks) text += chunk;
    } finally {
      call.clear();
    }
    // While Redis refuses writes the answer waits; written once for its id when it has room.
    const written = await this.writes.write(
      () =>
        this.log.appendOnce(sessionKey, answerWriteId(answerId), [
          durable('chat.response', { text: text.trim(), ...(replyTo ? { replyTo } : {}) }),
        ]),
      { signal },
    );
    return written !== 'already-written';
  }

  private async factsFor(sessionKey: string): Promise<AgentFacts> {
    const view = await this.runs.sessionView(sessionKey);
    if (view.state === 'EXECUTING' && view.runId) {
      const run = await this.runs.get(sessionKey, view.runId);
      return { query: run?.query ?? run?.input ?? '', progress: run ? describeProgress(run) : 'A run is queued.' };
    }
    if (view.lastRunId) {
      const last = await this.runs.get(sessionKey, view.lastRunId);
      const query = last?.query ?? last?.input ?? '';
      return {
        query,
        previousReport: view.report,
        progress: `No run is going. The report for "${query}" is ready; send an instruction to refine it, or start a new task.`,
      };
    }
    return { query: '', progress: 'No task is running in this session. Send a question to start one.' };
  }
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

import { replanStepId } from '../../contract';
import { durable } from '../../events/frames';
import type { RunEventWriter } from '../../events/run-event-writer';
import type { AgentFacts } from '../../llm/model-provider';
import { RunCheckpoint, type RunRecord } from '../../store/run-record';
import { parseRevision, revisionJsonSchema } from '../plan-parser';
import { replannerPrompt } from '../prompts/replanner.prompt';
import type { StepRunner } from '../step-runner';
import type { PlanState } from './plan-state';
import { ReplanExhaustedError } from './replan-exhausted-error';

export interface ReplanOptions {
  /** Revisions one run may make (MAX_REPLANS). */
  maxReplans: number;
  maxSubtasks: number;
}

/** The planner's revisions of a run's plan after its steps fail for good (v2 "Replanning"). */
export class Replanner {
  constructor(
    private readonly steps: StepRunner,
    private readonly options: ReplanOptions,
  ) {}

  /**
   * The planner's `replan-N` step after the step `failedId` failed for good: the budget
   * (MAX_REPLANS) is charged when the step starts (its agent.started is stored with its
   * attempt), so a replan a crash interrupted is resumed, not charged again; past the budget
   * the run fails with REPLAN_EXHAUSTED. Its answer becomes the plan's next version:
   * agent.finished, plan.updated, and agent.skipped for each step it dropped.
   */
  async replan(
    run: RunRecord,
    writer: RunEventWriter,
    context: AgentFacts,
    state: PlanState,
    outputs: Record<string, unknown>,
    failedId: string,
    signal: AbortSignal,
  ): Promise<void> {
    const started = state.replansStarted;
    const resumed = started > 0 && outputs[replanStepId(started)] === undefined;
    const n = resumed ? started : started + 1;
    const failedStep = state.step(failedId);
    const failure = state.failed.get(failedId);
    const failedTitle = failedStep?.title ?? failedId;
    if (n > this.options.maxReplans) {
      throw new ReplanExhaustedError(
        `"${failedTitle}" failed (${failure?.error.message ?? 'no answer'}), and the plan was already revised ${this.options.maxReplans} time(s) (MAX_REPLANS).`,
      );
    }
    state.replansStarted = n;
    const stepId = replanStepId(n);
    const { finished, pending } = state.split(outputs);
    const max = Math.max(0, this.options.maxSubtasks - finished.length);
    const facts: AgentFacts = {
      ...context,
      maxSubtasks: max,
      revision: {
        failed: { stepId: failedId, title: failedTitle, error: failure?.error.message ?? '' },
        finished: finished.map((s) => ({
          ...s,
          finding: firstLine((outputs[s.stepId] as { text?: string }).text ?? ''),
        })),
        pending,
      },
    };
    const result = await this.steps.run(
      run.runId,
      writer,
      {
        stepId,
        agent: 'planner',
        title: `Revise the plan: "${failedTitle}" failed`,
        previousAttempts: run.attempts[stepId] ?? 0,
        request: {
          agent: 'planner',
          messages: replannerPrompt(facts),
          json: true,
          schema: revisionJsonSchema(max),
          facts,
        },
      },
      signal,
    );
    const decided = state.revise(parseRevision(result.text, max), outputs, failedId);
    const { version, steps: plan, dropped } = decided;
    const runId = run.runId;
    writer.write(
      [
        durable('agent.finished', {
          runId,
          agent: 'planner',
          stepId,
          output: { plan, version, dropped },
          usage: result.usage,
        }),
        durable('plan.updated', {
          runId,
          version,
          reason: 'step_failed',
          plan,
          finished: decided.finished,
          dropped,
          failed: decided.failed,
        }),
        ...dropped.map((id) =>
          durable('agent.skipped', {
            runId,
            stepId: id,
            reason: `version ${version} of the plan dropped it after "${failedTitle}" failed`,
          }),
        ),
      ],
      RunCheckpoint.replanned(stepId, decided, result.usage),
    );
    state.apply(decided);
    outputs[stepId] = { ...decided, usage: result.usage };
  }
}

function firstLine(text: string): string {
  const line = text.trim().split('\n')[0] ?? '';
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}

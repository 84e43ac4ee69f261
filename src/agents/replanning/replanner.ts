import { replanStepId, type PlanStep } from '../../contract';
import { durable } from '../../events/frames';
import type { RunEventWriter } from '../../events/run-event-writer';
import type { AgentFacts } from '../../llm/model-provider';
import { RunCheckpoint, type RunRecord } from '../../store/run-record';
import { parseRevision, PlanInvalidError, revisionJsonSchema, type RevisedItem } from '../plan-parser';
import { replannerPrompt } from '../prompts/replanner.prompt';
import type { StepRunner } from '../step-runner';
import type { PlanState } from './plan-state';
import { ReplanExhaustedError } from './replan-exhausted-error';
import { workCounters } from '../../ops/work-counters';

export interface ReplanOptions {
  /** Revisions one run may make (MAX_REPLANS). */
  maxReplans: number;
  maxSubtasks: number;
}

/** The planner's revisions of a run's plan after its steps fail for good (v2 "Replanning") or the person steers (v2 "Steering"). */
export class Replanner {
  constructor(
    private readonly steps: StepRunner,
    private readonly options: ReplanOptions,
  ) {}

  /**
   * The planner's `replan-N` step, due after a step failed for good (`state.unanswered`) or
   * after the person's instructions were applied (`state.steerDue`, v2 "Steering"); one step
   * answers both when both are due. MAX_REPLANS counts failures only: it is charged when a
   * failure's revision starts (its agent.started is stored with its attempt), so a replan a
   * crash interrupted is resumed, not charged again; past the budget the run fails with
   * REPLAN_EXHAUSTED. Its answer becomes the plan's next version (agent.finished,
   * plan.updated, agent.skipped for each step it dropped); a steer that changes no step
   * leaves the version as it was, with no plan.updated.
   */
  async replan(
    run: RunRecord,
    writer: RunEventWriter,
    context: AgentFacts,
    state: PlanState,
    outputs: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<void> {
    const failedId = state.unanswered;
    const n = state.nextReplan(outputs);
    const failedStep = failedId !== undefined ? state.step(failedId) : undefined;
    const failure = failedId !== undefined ? state.failed.get(failedId) : undefined;
    const failedTitle = failedStep?.title ?? failedId ?? '';
    if (failedId !== undefined && state.failureReplans + 1 > this.options.maxReplans) {
      throw new ReplanExhaustedError(
        `"${failedTitle}" failed (${failure?.error.message ?? 'no answer'}), and the plan was already revised ${this.options.maxReplans} time(s) (MAX_REPLANS).`,
      );
    }
    // The instructions this revision answers: those applied since the last one.
    const steers = state.steerDue ? (context.steers ?? []).slice(state.steersAnswered) : [];
    state.replansStarted = n;
    const stepId = replanStepId(n);
    const { finished, pending } = state.split(outputs);
    const max = Math.max(0, this.options.maxSubtasks - finished.length);
    const facts: AgentFacts = {
      ...context,
      maxSubtasks: max,
      revision: {
        ...(failedId !== undefined
          ? { failed: { stepId: failedId, title: failedTitle, error: failure?.error.message ?? '' } }
          : {}),
        ...(steers.length > 0 ? { steers } : {}),
        finished: finished.map((s) => ({
          ...s,
          finding: firstLine((outputs[s.stepId] as { text?: string }).text ?? ''),
        })),
        pending,
      },
    };
    const asked = steers.map((t) => `"${clip(t, 60)}"`).join(', ');
    const result = await this.steps.run(
      run.runId,
      writer,
      {
        stepId,
        agent: 'planner',
        title:
          failedId !== undefined
            ? `Revise the plan: "${failedTitle}" failed`
            : `Revise the plan as you asked: ${asked}`,
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
    const reason = failedId !== undefined ? 'step_failed' : 'steer';
    const decided = state.revise(revisionOf(result.text, max, reason, pending), outputs, {
      after: failedId ?? '',
      reason,
      steersAnswered: state.steersApplied,
    });
    const { version, steps: plan, dropped, changed } = decided;
    const runId = run.runId;
    const why = failedId !== undefined ? `after "${failedTitle}" failed` : `as you asked: ${asked}`;
    writer.write(
      [
        durable('agent.finished', {
          runId,
          agent: 'planner',
          stepId,
          output: { plan, version, dropped },
          usage: result.usage,
        }),
        ...(changed || reason === 'step_failed'
          ? [
              durable('plan.updated', {
                runId,
                version,
                reason,
                plan,
                finished: decided.finished,
                dropped,
                failed: decided.failed,
              }),
            ]
          : []),
        ...dropped.map((id) =>
          durable('agent.skipped', { runId, stepId: id, reason: `version ${version} of the plan dropped it ${why}` }),
        ),
      ],
      RunCheckpoint.replanned(stepId, decided, result.usage),
    );
    workCounters().replanned(reason);
    state.apply(decided);
    outputs[stepId] = { ...decided, usage: result.usage };
  }
}

/**
 * The planner's revision. After a failure an invalid one fails the run (PLAN_INVALID), as the
 * planner's own plan does; after a steer it keeps the steps as they were: the instruction
 * still reaches every later prompt, and the run is not lost to a malformed answer.
 */
function revisionOf(text: string, max: number, reason: 'step_failed' | 'steer', pending: PlanStep[]): RevisedItem[] {
  try {
    return parseRevision(text, max);
  } catch (err) {
    if (reason === 'steer' && err instanceof PlanInvalidError) return pending;
    throw err;
  }
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}

function firstLine(text: string): string {
  const line = text.trim().split('\n')[0] ?? '';
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}

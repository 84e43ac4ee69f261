import type { PlanItem, PlanReviewAnswer } from '../../contract';
import { durable, type PendingEvent } from '../../events/frames';
import type { RunEventWriter } from '../../events/run-event-writer';
import type { AgentFacts } from '../../llm/model-provider';
import { RunCheckpoint, type PlanVersion, type RunFields, type RunRecord } from '../../store/run-record';
import { parsePlan, planJsonSchema } from '../plan-parser';
import { plannerPrompt } from '../prompts/planner.prompt';
import { PlanState } from '../replanning/plan-state';
import type { StepRunner } from '../step-runner';
import { ParkRunError } from './park-run-error';
import { requestIdOf } from './request-id';
import { workCounters } from '../../ops/work-counters';

export interface PlanReviewOptions {
  maxSubtasks: number;
  /** How long a request stays open. */
  inputTtlSeconds: number;
}

/** What a review settled: the plan to follow, or that its request expired. */
export type ReviewOutcome = { kind: 'approved'; plan: PlanVersion } | { kind: 'expired'; requestId: string };

/** The step id of the planner's revision after the n-th rejected review. */
export function reviewStepId(n: number): string {
  return `review-${n}`;
}

/**
 * The person's review of the plan (v2 "People in the loop"), settled one activation at a
 * time from the run's record (an open request is the resolver's to wait on or expire): with
 * no answer yet, the request is opened and the run parks (ParkRunError); woken by an answer,
 * an approval (maybe with an edited plan: `plan.updated` with reason `review`, no planner
 * call) lets the executors run, a rejection has the planner revise the plan with the feedback
 * (step `review-N`) and asks again.
 */
export class PlanReview {
  constructor(
    private readonly steps: StepRunner,
    private readonly options: PlanReviewOptions,
  ) {}

  async settle(
    run: RunRecord,
    writer: RunEventWriter,
    context: AgentFacts,
    plan: PlanItem[],
    signal: AbortSignal,
  ): Promise<PlanVersion> {
    const { runId } = run;
    const state = PlanState.of(run, plan);
    const n = run.inputRequests;
    const answer = n > 0 ? (run.answers[requestIdOf(runId, n)] as PlanReviewAnswer | undefined) : undefined;
    if (answer?.approve) {
      if (!answer.plan) {
        writer.write([], RunCheckpoint.planApproved());
        return { version: state.version, steps: state.steps };
      }
      const edit = this.changed(run.runId, state, answer.plan);
      writer.write(edit.events, { ...edit.checkpoint, ...RunCheckpoint.planApproved() });
      return edit.version;
    }
    // Rejected: the planner revises (once: a stored revision is already the plan's version).
    if (answer && run.outputs[reviewStepId(n)] === undefined) {
      await this.revise(run, writer, context, state, answer.feedback, n, signal);
    }
    return this.ask(run, writer, state);
  }

  /** A version the review made, announced: plan.updated (reason `review`), agent.skipped for what it left out. */
  private changed(
    runId: string,
    state: PlanState,
    items: PlanItem[],
  ): { version: PlanVersion; events: PendingEvent[]; checkpoint: RunFields } {
    const { version, dropped } = state.reviewed(items);
    state.adopt(version);
    return {
      version,
      events: [
        durable('plan.updated', {
          runId,
          version: version.version,
          reason: 'review',
          plan: version.steps,
          finished: [],
          dropped,
          failed: [],
        }),
        ...dropped.map((stepId) =>
          durable('agent.skipped', { runId, stepId, reason: 'the review of the plan left it out' }),
        ),
      ],
      checkpoint: RunCheckpoint.planReviewed(version),
    };
  }

  /** The planner's revision after the n-th review was rejected with `feedback`. */
  private async revise(
    run: RunRecord,
    writer: RunEventWriter,
    context: AgentFacts,
    state: PlanState,
    feedback: string,
    n: number,
    signal: AbortSignal,
  ): Promise<void> {
    const max = this.options.maxSubtasks;
    const current = state.steps.map(({ title, description }) => ({ title, description }));
    const facts: AgentFacts = { ...context, maxSubtasks: max, plan: current, reviewFeedback: feedback };
    const stepId = reviewStepId(n);
    const result = await this.steps.run(
      run.runId,
      writer,
      {
        stepId,
        agent: 'planner',
        title: 'Revise the plan as you asked',
        previousAttempts: run.attempts[stepId] ?? 0,
        request: { agent: 'planner', messages: plannerPrompt(facts), json: true, schema: planJsonSchema(max), facts },
      },
      signal,
    );
    const plan = parsePlan(result.text, max);
    // The step's output and the version it makes are stored together: a crash after it does not revise twice.
    const revised = this.changed(run.runId, state, plan);
    writer.write(
      [
        durable('agent.finished', {
          runId: run.runId,
          agent: 'planner',
          stepId,
          output: { plan },
          usage: result.usage,
        }),
        ...revised.events,
      ],
      { ...RunCheckpoint.stepFinished(stepId, { plan }, result.usage), ...revised.checkpoint },
    );
  }

  /** Opens the next request on the plan as it stands, and parks the run until it is answered. */
  private async ask(run: RunRecord, writer: RunEventWriter, state: PlanState): Promise<never> {
    const n = run.inputRequests + 1;
    const requestId = requestIdOf(run.runId, n);
    const until = Date.now() + this.options.inputTtlSeconds * 1000;
    const request = {
      requestId,
      kind: 'plan_review' as const,
      prompt:
        n === 1
          ? 'Review the plan: approve it, edit it (rename, reorder, remove or add subtasks), or say what should change.'
          : 'The plan is revised as you asked: approve it, edit it, or say what should still change.',
      plan: state.steps,
      expiresAt: new Date(until).toISOString(),
    };
    writer.write(
      [durable('run.input_requested', { runId: run.runId, ...request })],
      RunCheckpoint.inputRequested(request, n),
    );
    workCounters().inputAsked(request.kind);
    await writer.drain();
    throw new ParkRunError(requestId, until);
  }
}

import type { EventLog } from '../events/event-log';
import {
  AGGREGATE_STEP_ID,
  PLAN_STEP_ID,
  replanStepId,
  type ExecutorOutput,
  type PlanItem,
  type PlanStep,
  type StoreRefusal,
} from '../contract';
import { durable } from '../events/frames';
import { RunEventWriter, RunNotCurrentError, RunTakenOverError, type StoreWrite } from '../events/run-event-writer';
import { ThrottledErrorLog } from '../common/error-log';
import type { StoreWrites } from '../store/store-writes';
import { REFUSAL_MEANING } from '../store/write-refusal';
import type { ModelProvider, PriorFinding, AgentFacts, ModelUsage, ChatMessage, StepGap } from '../llm/model-provider';
import { RunCheckpoint, type RunRecord } from '../store/run-record';
import type { RunStore } from '../store/run-store';
import { parsePlan, planJsonSchema, planRepairMessage, PlanInvalidError } from './plan-parser';
import { PlanState } from './replanning/plan-state';
import { Replanner } from './replanning/replanner';
import { PlanReview } from './review/plan-review';
import { SteerInbox } from './steering/steer-inbox';
import { ParkRunError } from './review/park-run-error';
import { stepFailureOf } from './step-failure';
import { aggregatorPrompt } from './prompts/aggregator.prompt';
import { executorPrompt } from './prompts/executor.prompt';
import { plannerPrompt } from './prompts/planner.prompt';
import { personSaidIn } from './prompts/person-said';
import { StepRunner } from './step-runner';
import type { ToolRegistry } from '../tools/tool-registry';
import { workCounters } from '../ops/work-counters';

export interface ResolverOptions {
  maxSubtasks: number;
  /** Revisions of the plan one run may make after steps failed (v2 "Replanning"). */
  maxReplans: number;
  /** `always`: every task's plan is reviewed by the person (else only when its task.start asked). */
  planReview: 'never' | 'always';
  /** How long an input request stays open. */
  inputTtlSeconds: number;
  deltaFlushMs: number;
  modelTimeoutMs: number;
}

/** A worker's hold on a run: the run as it read it (`run.fence`: the token its writes carry). */
export interface RunActivation {
  sessionKey: string;
  run: RunRecord;
}

export class RunNotFoundError extends Error {
  override readonly name = 'RunNotFoundError';
}

/** The worker is shutting down: the run goes back to the queue for another worker. */
export class HandBackError extends Error {
  override readonly name = 'HandBackError';
  constructor() {
    super('handed back to the queue');
  }
}

const MAX_KNOWLEDGE = 40;
/** How much of an invalid plan is quoted back to the planner in the repair request. */
const MAX_QUOTED_PLAN_CHARS = 4000;

/** A finished step's result with the tokens its model calls used. */
interface Metered<T> {
  value: T;
  usage: ModelUsage;
}

/**
 * The resolver pipeline: planner, one executor per subtask, aggregator. Every finished
 * step's output is stored with its `agent.finished` event before the next step begins, so
 * a run taken over after a crash resumes at its first unfinished step.
 */
export class RunResolver {
  private readonly steps: StepRunner;
  private readonly replanner: Replanner;
  private readonly review: PlanReview;
  private readonly steering: SteerInbox;
  private readonly noticeErrors = new ThrottledErrorLog('RunResolver', "a run's store notice could not be sent");

  constructor(
    private readonly log: EventLog,
    private readonly runs: RunStore,
    model: ModelProvider,
    private readonly options: ResolverOptions,
    private readonly writes: StoreWrites,
    /** The tools executors may call (none when not given). */
    tools?: ToolRegistry,
  ) {
    this.steps = new StepRunner(model, options.modelTimeoutMs, tools);
    this.replanner = new Replanner(this.steps, options);
    this.review = new PlanReview(this.steps, options);
    this.steering = new SteerInbox(log);
  }

  /**
   * Takes the session's running run for this worker: a new fencing token (from now on only
   * this worker's writes for the run are taken, whoever held it before), the run's record as
   * it stands after that, and, the first time, run.started in the mode the record holds.
   * Null for a refused start, whose job went out beside the script that refused it (see
   * SessionCommands.begin): there is nothing to do.
   */
  async activate(
    sessionKey: string,
    runId: string,
    signal?: AbortSignal,
    /** The trace of this activation, for run.started (when tracing is on). */
    traceId?: string,
  ): Promise<RunActivation | null> {
    const storeWrite = this.storeWrite(sessionKey, runId, signal);
    const traced = traceId ? { traceId } : {};
    const activated = await storeWrite(() =>
      this.log.activateRun(sessionKey, runId, {
        task: durable('run.started', { runId, mode: 'task', ...traced }),
        refinement: durable('run.started', { runId, mode: 'refinement', ...traced }),
      }),
    );
    if (activated.status === 'not-running') {
      if (!activated.hasRecord) return null;
      throw new RunNotCurrentError(runId);
    }
    if (activated.status === 'no-record') throw new RunNotFoundError(`run ${runId} has no stored record`);
    return { sessionKey, run: activated.run };
  }

  /**
   * Runs (or resumes) an activated run to its end. `handBack` asks it to stop between steps;
   * `outer` aborts the step in progress (a cancel, a shutdown whose grace ran out, or the
   * worker's lock on the run lost).
   */
  async resolve(activation: RunActivation, outer: AbortSignal, handBack?: AbortSignal): Promise<void> {
    const { sessionKey, run } = activation;
    const { runId, fence } = run;
    // A write the log refuses (the run was cancelled, or taken over) stops the step's model
    // call at once, not at the step's end: the steps' signal aborts with it as with `outer`.
    const stop = new AbortController();
    const forward = (): void => stop.abort(outer.reason);
    if (outer.aborted) forward();
    else outer.addEventListener('abort', forward, { once: true });
    const signal = stop.signal;
    const storeWrite = this.storeWrite(sessionKey, runId, signal);
    const writer = new RunEventWriter(
      this.log,
      sessionKey,
      runId,
      fence,
      this.options.deltaFlushMs,
      (err) => stop.abort(err),
      storeWrite,
    );
    const checkHandBack = (): void => {
      if (handBack?.aborted) throw new HandBackError();
    };
    try {
      // Woken while a request is still open: at its expiry the run fails; before it (a stalled
      // job taken up again), it waits on.
      const pending = run.pendingInput;
      if (pending) {
        const until = Date.parse(pending.expiresAt);
        if (Date.now() < until) throw new ParkRunError(pending.requestId, until);
        await this.expire(sessionKey, run, writer, storeWrite, pending.requestId);
        workCounters().inputResolved(pending.kind, 'expired', pending.expiresAt);
        return;
      }
      const context = await this.contextOf(sessionKey, run);
      if (!run.query) writer.write([], RunCheckpoint.query(context.query));
      checkHandBack();
      const planned = run.plan
        ? { value: run.plan, usage: storedUsage(run.outputs[PLAN_STEP_ID]) }
        : await this.plan(run, writer, context, signal);
      const plan = planned.value;
      let reviewedPlan = run.reviewedPlan;
      if (this.reviewsPlan(run) && !run.planApproved) {
        // Waits on the person (parks the run) until they approve a plan.
        reviewedPlan = await this.review.settle(run, writer, context, plan, signal);
      }
      // Every finished step's output with its usage, this activation's included: the steps to
      // run next, the findings and the run's tokens all come from here.
      const outputs: Record<string, unknown> = { ...run.outputs, [PLAN_STEP_ID]: { plan, usage: planned.usage } };
      const state = PlanState.of({ ...run, reviewedPlan }, plan);
      // The person's instructions applied so far: every later prompt carries them (v2 "Steering").
      const steers = context.steers ?? [];
      context.steers = steers;
      for (;;) {
        checkHandBack();
        // A step boundary: instructions given meanwhile are applied before the planner's next
        // revision, which decides whether the steps change.
        const nextReplan = replanStepId(state.nextReplan(outputs));
        await this.steering.takeIn(sessionKey, runId, writer, state, steers, nextReplan);
        if (state.unanswered !== undefined || state.steerDue) {
          await this.replanner.replan(run, writer, context, state, outputs, signal);
          continue;
        }
        const step = state.next(outputs);
        if (!step) break;
        let attempt = 0;
        try {
          const executed = await this.execute(
            run,
            writer,
            context,
            state,
            step,
            findingsOf(state, outputs),
            signal,
            (n) => {
              attempt = n;
            },
            // Between the step's tool rounds, too, applied before the rest of the step.
            () => this.steering.takeIn(sessionKey, runId, writer, state, steers, step.stepId),
          );
          outputs[step.stepId] = { ...executed.value, usage: executed.usage };
        } catch (err) {
          const error = signal.aborted ? undefined : stepFailureOf(err);
          if (!error) throw err;
          // Failed for good: said so, kept in the checkpoint, and the planner revises the rest.
          writer.write(
            [durable('agent.failed', { runId, agent: 'executor', stepId: step.stepId, attempt, error })],
            RunCheckpoint.stepFailed(step.stepId, { title: step.title, attempt, error }),
          );
          state.fail(step.stepId, { title: step.title, attempt, error });
        }
      }
      checkHandBack();
      const stored = run.outputs[AGGREGATE_STEP_ID] as { report: string } | undefined;
      const findings = findingsOf(state, outputs);
      const aggregated = stored
        ? { value: stored.report, usage: storedUsage(stored) }
        : await this.aggregate(run, writer, context, state, findings, gapsOf(state), signal);
      const report = aggregated.value;
      outputs[AGGREGATE_STEP_ID] = { report, usage: aggregated.usage };
      // run.completed carries the run's tokens: the sum of its finished steps'.
      const usage = Object.values(outputs).reduce<ModelUsage>((sum, o) => addUsage(sum, storedUsage(o)), {
        inputTokens: 0,
        outputTokens: 0,
      });
      await writer.drain();
      const completed = { runId, report, usage };
      const finished = await storeWrite(() =>
        this.log.finishRun(sessionKey, runId, 'completed', durable('run.completed', completed), { report, fence }),
      );
      // 'not-running': a cancel ended it meanwhile, and its run.cancelled is the terminal event.
      if (finished === 'superseded') throw new RunTakenOverError(runId, fence);
    } finally {
      // Whatever ended the run here (a hand-back, a failed step, a cancel), the finished
      // steps' outputs written so far must be stored, or a retry would run them again. (A
      // cancelled run's writes are refused by the guard, so nothing of it leaks out.) A drain
      // that fails says nothing new: the error that ended the run is the one that propagates.
      await writer.drain().catch(() => undefined);
      outer.removeEventListener('abort', forward);
    }
  }

  /** Whether the person reviews this run's plan before its executors run. */
  private reviewsPlan(run: RunRecord): boolean {
    return run.review === 'plan' || (this.options.planReview === 'always' && run.mode === 'task');
  }

  /** The run's input request expired: it fails with INPUT_EXPIRED, the request closed in the same step. */
  private async expire(
    sessionKey: string,
    run: RunRecord,
    writer: RunEventWriter,
    storeWrite: StoreWrite,
    requestId: string,
  ): Promise<void> {
    const { runId, fence } = run;
    await writer.drain();
    const error = {
      code: 'INPUT_EXPIRED' as const,
      message: `Nobody answered the run's question within INPUT_TTL_SECONDS (${this.options.inputTtlSeconds} s).`,
    };
    const closing = { requestId, resolved: durable('run.input_resolved', { runId, requestId, status: 'expired' }) };
    const ended = await storeWrite(() =>
      this.log.finishRun(sessionKey, runId, 'failed', durable('run.failed', { runId, error }), { fence, closing }),
    );
    if (ended === 'superseded') throw new RunTakenOverError(runId, fence);
  }

  /**
   * A run's writes while Redis refuses them (out of memory, read-only): each waits where it
   * is and goes again once Redis takes writes, and the session's sockets are told both, so
   * the page can say the run is waiting rather than stuck. `signal` ends the wait.
   */
  private storeWrite(sessionKey: string, runId: string, signal?: AbortSignal): StoreWrite {
    return async (write) => {
      let waited = false;
      const result = await this.writes.write(write, {
        signal,
        onWait: (refusal) => {
          if (!waited) this.notice(sessionKey, runId, refusal);
          waited = true;
        },
      });
      if (waited) this.notice(sessionKey, runId, null);
      return result;
    };
  }

  private notice(sessionKey: string, runId: string, refusal: StoreRefusal | null): void {
    const data = refusal
      ? {
          writable: false,
          runId,
          reason: refusal,
          message: `${REFUSAL_MEANING[refusal]}: the run waits where it is and goes on by itself once Redis has room.`,
        }
      : { writable: true, runId, message: 'Redis takes writes again: the run goes on.' };
    void this.log.notify(sessionKey, 'store.status', data).catch(this.noticeErrors.report);
  }

  /**
   * What the run's agents are told besides their step: the query, what the person said
   * (their instructions applied so far and their answers), and for a refinement the refined
   * run's findings, report and what the person said to it.
   */
  private async contextOf(sessionKey: string, run: RunRecord): Promise<AgentFacts> {
    if (run.mode === 'task' || !run.parentRunId) {
      return { query: run.query ?? run.input, ...personSaidIn(run, run.steersApplied) };
    }
    const parent = await this.runs.get(sessionKey, run.parentRunId);
    if (!parent) throw new RunNotFoundError(`the report to refine (run ${run.parentRunId}) is no longer stored`);
    const own = personSaidIn(run, run.steersApplied);
    const earlier = personSaidIn(parent, parent.steers.length);
    return {
      query: parent.query ?? parent.input,
      refinement: run.input,
      findings: parent.knowledge ?? [],
      previousReport: parent.report,
      steers: [...(earlier.steers ?? []), ...(own.steers ?? [])],
      answers: [...(earlier.answers ?? []), ...(own.answers ?? [])],
    };
  }

  /**
   * The planner's step. Its answer must be a valid plan (structured output where the
   * provider enforces a schema, validated here in any case); an invalid one gets one repair:
   * the step starts again (attempt + 1, so clients drop the bad deltas) with a message saying
   * what was wrong. A second invalid plan fails the run with PLAN_INVALID.
   */
  private async plan(
    run: RunRecord,
    writer: RunEventWriter,
    context: AgentFacts,
    signal: AbortSignal,
  ): Promise<Metered<PlanItem[]>> {
    const max = this.options.maxSubtasks;
    const facts = { ...context, maxSubtasks: max };
    const messages = plannerPrompt(facts);
    const spec = {
      stepId: PLAN_STEP_ID,
      agent: 'planner' as const,
      title: 'Plan the work',
      previousAttempts: run.attempts[PLAN_STEP_ID] ?? 0,
      request: { agent: 'planner' as const, messages, json: true, schema: planJsonSchema(max), facts },
    };
    const first = await this.steps.run(run.runId, writer, spec, signal);
    let usage = first.usage;
    let plan: PlanItem[];
    try {
      plan = parsePlan(first.text, max);
    } catch (err) {
      if (!(err instanceof PlanInvalidError)) throw err;
      const repairMessages: ChatMessage[] = [
        ...messages,
        { role: 'assistant', content: first.text.slice(0, MAX_QUOTED_PLAN_CHARS) || '(no answer)' },
        { role: 'user', content: planRepairMessage(err.message, max) },
      ];
      const repaired = await this.steps.run(
        run.runId,
        writer,
        { ...spec, previousAttempts: first.attempt, request: { ...spec.request, messages: repairMessages } },
        signal,
      );
      usage = addUsage(usage, repaired.usage);
      plan = parsePlan(repaired.text, max);
    }
    writer.write(
      [
        durable('agent.finished', {
          runId: run.runId,
          agent: 'planner',
          stepId: PLAN_STEP_ID,
          output: { plan },
          ...usageOf(usage),
        }),
      ],
      RunCheckpoint.planned(PLAN_STEP_ID, plan, usage),
    );
    return { value: plan, usage };
  }

  private async execute(
    run: RunRecord,
    writer: RunEventWriter,
    context: AgentFacts,
    state: PlanState,
    subtask: PlanStep,
    done: PriorFinding[],
    signal: AbortSignal,
    onAttempt: (attempt: number) => void,
    steersBetweenRounds: () => Promise<string[]>,
  ): Promise<Metered<{ text: string; evidence: string[] }>> {
    const { stepId } = subtask;
    const plan = state.steps.map(({ title, description }) => ({ title, description }));
    const facts: AgentFacts = {
      ...context,
      // The instructions as the step begins (those it takes in later join its prompt then).
      steers: [...(context.steers ?? [])],
      plan,
      subtask: { title: subtask.title, description: subtask.description },
      findings: [...(context.findings ?? []), ...done],
    };
    const result = await this.steps.run(
      run.runId,
      writer,
      {
        stepId,
        agent: 'executor',
        title: subtask.title,
        previousAttempts: run.attempts[stepId] ?? 0,
        request: { agent: 'executor', messages: executorPrompt(facts), facts },
        useTools: true,
        storedToolCalls: run.toolCalls.filter((c) => c.stepId === stepId),
        onAttempt,
        input: { run, ttlSeconds: this.options.inputTtlSeconds },
        steersBetweenRounds,
      },
      signal,
    );
    const output: ExecutorOutput = { text: result.text, toolCalls: result.toolCalls };
    const { evidence } = result;
    // The checkpoint keeps the tool evidence beside the output, for a resumed run's later steps.
    writer.write(
      [durable('agent.finished', { runId: run.runId, agent: 'executor', stepId, output, ...usageOf(result.usage) })],
      RunCheckpoint.stepFinished(stepId, { ...output, evidence }, result.usage),
    );
    return { value: { text: result.text, evidence }, usage: result.usage };
  }

  private async aggregate(
    run: RunRecord,
    writer: RunEventWriter,
    context: AgentFacts,
    state: PlanState,
    findings: PriorFinding[],
    gaps: StepGap[],
    signal: AbortSignal,
  ): Promise<Metered<string>> {
    const plan = state.steps.map(({ title, description }) => ({ title, description }));
    const facts: AgentFacts = { ...context, plan, findings, ...(gaps.length > 0 ? { gaps } : {}) };
    const result = await this.steps.run(
      run.runId,
      writer,
      {
        stepId: AGGREGATE_STEP_ID,
        agent: 'aggregator',
        title: 'Write the report',
        previousAttempts: run.attempts[AGGREGATE_STEP_ID] ?? 0,
        request: { agent: 'aggregator', messages: aggregatorPrompt(facts), facts },
      },
      signal,
    );
    const report = result.text.trim();
    const knowledge = [...(context.findings ?? []), ...findings].slice(-MAX_KNOWLEDGE);
    writer.write(
      [
        durable('agent.finished', {
          runId: run.runId,
          agent: 'aggregator',
          stepId: AGGREGATE_STEP_ID,
          output: { report },
          ...usageOf(result.usage),
        }),
      ],
      RunCheckpoint.aggregated(AGGREGATE_STEP_ID, report, knowledge, result.usage),
    );
    return { value: report, usage: result.usage };
  }
}

/** The findings of the latest plan's finished steps, in its order. */
function findingsOf(state: PlanState, outputs: Record<string, unknown>): PriorFinding[] {
  return state.steps.flatMap((step) => {
    const output = outputs[step.stepId] as { text: string; evidence?: string[] } | undefined;
    if (!output) return [];
    const evidence = output.evidence ?? [];
    return [{ title: step.title, text: output.text, ...(evidence.length > 0 ? { evidence } : {}) }];
  });
}

/** The steps whose work the report lacks: those that failed, and those a revision dropped. */
function gapsOf(state: PlanState): StepGap[] {
  return [
    ...[...state.failed].map(([stepId, failure]) => ({
      stepId,
      title: state.step(stepId)?.title ?? stepId,
      status: 'failed' as const,
      reason: failure.error.message,
    })),
    ...[...state.dropped.values()].map((step) => ({
      stepId: step.stepId,
      title: step.title,
      status: 'dropped' as const,
      reason: 'a revised plan left it out',
    })),
  ];
}

function usageOf(usage: ModelUsage): { usage: ModelUsage } {
  return { usage };
}

function addUsage(a: ModelUsage, b: ModelUsage): ModelUsage {
  return { inputTokens: a.inputTokens + b.inputTokens, outputTokens: a.outputTokens + b.outputTokens };
}

/** A checkpointed step's usage (stored beside its output); zero for records without one. */
function storedUsage(output: unknown): ModelUsage {
  const usage = (output as { usage?: Partial<ModelUsage> } | undefined)?.usage;
  return { inputTokens: Number(usage?.inputTokens ?? 0) || 0, outputTokens: Number(usage?.outputTokens ?? 0) || 0 };
}

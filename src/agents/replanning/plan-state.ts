import { executorStepId, replanStepId, type PlanItem, type PlanStep } from '../../contract';
import type { PlanVersion, RunRecord, StoredReplan, StoredStepFailure } from '../../store/run-record';
import type { RevisedItem } from '../plan-parser';

/**
 * The plan a run follows (v2 "Replanning"): the planner's steps (version 1), then each
 * stored `replan-N` decision in order. Finished steps are never run again, failed ones
 * neither; a revision keeps pending steps by id, drops the rest, and gives new subtasks new
 * ids after the highest `exec-` number used. A revision answers a failure, or the person's
 * instructions applied since the last one (v2 "Steering"), or both.
 */
export class PlanState {
  private constructor(
    public version: number,
    public steps: PlanStep[],
    /** Every step that failed for good, by id. */
    readonly failed: Map<string, StoredStepFailure>,
    /** Failures a finished replan answered. */
    private readonly answered: Set<string>,
    /** Steps any version dropped, by id, with their title. */
    readonly dropped: Map<string, PlanStep>,
    private highest: number,
    /** How many replan steps were started (their step ids count up). */
    public replansStarted: number,
    /** How many of the person's instructions the run has applied (v2 "Steering"). */
    public steersApplied: number,
  ) {
    this.remember(steps);
  }

  /** Every step any version had, by id: a failed or dropped step keeps its title. */
  private readonly known = new Map<string, PlanStep>();
  /** How many of the applied instructions a finished replan took into account (the rest are due). */
  steersAnswered = 0;
  /** Finished revisions that answered a failure: MAX_REPLANS counts these only. */
  failureReplans = 0;

  /** The state a run's checkpoint holds, given the planner's plan. */
  static of(
    run: Pick<RunRecord, 'outputs' | 'attempts' | 'failed' | 'reviewedPlan' | 'steersApplied'>,
    plan: PlanItem[],
  ): PlanState {
    const state = new PlanState(
      1,
      plan.map((item, i) => ({ stepId: executorStepId(i), ...item })),
      new Map(Object.entries(run.failed)),
      new Set(),
      new Map(),
      plan.length,
      0,
      run.steersApplied,
    );
    // The person's review may have changed the plan before any step ran (v2 "People in the loop").
    if (run.reviewedPlan) state.adopt(run.reviewedPlan);
    for (let n = 1; run.attempts[replanStepId(n)] !== undefined; n++) {
      state.replansStarted = n;
      const stored = run.outputs[replanStepId(n)] as StoredReplan | undefined;
      if (stored) state.apply(stored);
    }
    return state;
  }

  /** The next step to run: the first of the latest version neither finished nor failed. */
  next(outputs: Record<string, unknown>): PlanStep | undefined {
    return this.steps.find((s) => outputs[s.stepId] === undefined && !this.failed.has(s.stepId));
  }

  /** A failed step no finished replan has answered yet (one, at most: each failure is answered at once). */
  get unanswered(): string | undefined {
    return [...this.failed.keys()].find((id) => !this.answered.has(id));
  }

  /** Instructions applied that no finished replan has taken into account yet: a replan is due. */
  get steerDue(): boolean {
    return this.steersApplied > this.steersAnswered;
  }

  /** The number of the replan step that comes next: one a crash interrupted is resumed, not begun again. */
  nextReplan(outputs: Record<string, unknown>): number {
    const started = this.replansStarted;
    return started > 0 && outputs[replanStepId(started)] === undefined ? started : started + 1;
  }

  fail(stepId: string, failure: StoredStepFailure): void {
    this.failed.set(stepId, failure);
  }

  /** The step ids of the latest version, by status. */
  split(outputs: Record<string, unknown>): { finished: PlanStep[]; pending: PlanStep[] } {
    return {
      finished: this.steps.filter((s) => outputs[s.stepId] !== undefined),
      pending: this.steps.filter((s) => outputs[s.stepId] === undefined && !this.failed.has(s.stepId)),
    };
  }

  /**
   * The next version from a replanner's answer to the failure of `after`: the finished steps
   * first, then the answer's subtasks in its order (a pending step's id keeps that step; any
   * other item is a new step); pending steps left out are dropped.
   */
  revise(
    items: RevisedItem[],
    outputs: Record<string, unknown>,
    cause: { after: string; reason: 'step_failed' | 'steer'; steersAnswered: number },
  ): StoredReplan & { changed: boolean } {
    const { finished, pending } = this.split(outputs);
    const pendingById = new Map(pending.map((s) => [s.stepId, s]));
    const kept = new Set<string>();
    let highest = this.highest;
    const next: PlanStep[] = [];
    for (const item of items) {
      const existing = item.stepId !== undefined ? pendingById.get(item.stepId) : undefined;
      if (existing && !kept.has(existing.stepId)) {
        kept.add(existing.stepId);
        next.push(existing);
      } else {
        highest += 1;
        next.push({ stepId: executorStepId(highest - 1), title: item.title, description: item.description });
      }
    }
    const dropped = pending.filter((s) => !kept.has(s.stepId)).map((s) => s.stepId);
    const changed =
      dropped.length > 0 || next.length !== pending.length || next.some((s, i) => s.stepId !== pending[i].stepId);
    // A steer that leaves the steps as they were makes no new version; a failure always does.
    const version = changed || cause.reason === 'step_failed' ? this.version + 1 : this.version;
    return {
      version,
      steps: [...finished, ...next],
      finished: finished.map((s) => s.stepId),
      dropped,
      failed: [...this.failed.keys()],
      after: cause.after,
      reason: cause.reason,
      steersAnswered: cause.steersAnswered,
      changed,
    };
  }

  /** Follows a stored (or just decided) revision. */
  apply(replan: StoredReplan): void {
    for (const id of replan.dropped) {
      const step = this.known.get(id);
      if (step) this.dropped.set(id, step);
    }
    this.version = replan.version;
    this.steps = replan.steps;
    if (replan.after) this.answered.add(replan.after);
    if (replan.reason !== 'steer') this.failureReplans += 1;
    this.steersAnswered = Math.max(this.steersAnswered, replan.steersAnswered ?? 0);
    this.remember(replan.steps);
    for (const step of replan.steps) {
      this.highest = Math.max(this.highest, Number(/^exec-(\d+)$/.exec(step.stepId)?.[1] ?? 0));
    }
  }

  /** Follows a version the person's review made (nothing had run: what it left out is not missing work). */
  adopt(version: PlanVersion): void {
    this.version = version.version;
    this.steps = version.steps;
    this.remember(version.steps);
    for (const step of version.steps) {
      this.highest = Math.max(this.highest, Number(/^exec-(\d+)$/.exec(step.stepId)?.[1] ?? 0));
    }
  }

  /**
   * The next version from a reviewed list of subtasks (an edit, or the planner's revision on
   * feedback): a subtask titled as a step of this version keeps that step's id, any other is
   * a new step; steps left out are dropped.
   */
  reviewed(items: PlanItem[]): { version: PlanVersion; dropped: string[] } {
    const byTitle = new Map<string, PlanStep>();
    for (const step of this.steps) if (!byTitle.has(step.title)) byTitle.set(step.title, step);
    const kept = new Set<string>();
    let highest = this.highest;
    const steps = items.map((item) => {
      const same = byTitle.get(item.title);
      if (same && !kept.has(same.stepId)) {
        kept.add(same.stepId);
        return { ...same, description: item.description || same.description };
      }
      highest += 1;
      return { stepId: executorStepId(highest - 1), title: item.title, description: item.description };
    });
    return {
      version: { version: this.version + 1, steps },
      dropped: this.steps.filter((s) => !kept.has(s.stepId)).map((s) => s.stepId),
    };
  }

  /** A step of any version, by id. */
  step(stepId: string): PlanStep | undefined {
    return this.known.get(stepId);
  }

  private remember(steps: PlanStep[]): void {
    for (const step of steps) this.known.set(step.stepId, step);
  }
}

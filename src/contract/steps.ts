import type { PlanStep } from './events';

/**
 * A run's step ids: `plan`, then `exec-1` … `exec-N` (one per subtask of the plan, in order),
 * then `aggregate`; a revised plan's new subtasks (v2 "Replanning") go on from the highest
 * `exec-` number used, after the planner's `replan-N` step. Clients, checkpoints and the Clarifier's progress all name steps so.
 */
export const PLAN_STEP_ID = 'plan';
export const AGGREGATE_STEP_ID = 'aggregate';

/** v2: the planner's n-th revision of the plan (from 1), after a step failed or the person steered: `replan-1` first. */
export function replanStepId(n: number): string {
  return `replan-${n}`;
}

/** The step id of the plan's subtask at `index` (0-based): `exec-1` for the first. */
export function executorStepId(index: number): string {
  return `exec-${index + 1}`;
}

/**
 * The plan in the planner's `agent.finished` output (`{plan: [{title, description}]}`, step
 * `plan`) as the plan's version 1, each subtask with the step that runs it; undefined when the
 * output holds none.
 */
export function planStepsOf(output: unknown): PlanStep[] | undefined {
  const plan = (output as { plan?: unknown } | null)?.plan;
  if (!Array.isArray(plan)) return undefined;
  return plan.map((item: { title?: unknown; description?: unknown } | null, i) => ({
    stepId: executorStepId(i),
    title: typeof item?.title === 'string' ? item.title : '',
    description: typeof item?.description === 'string' ? item.description : '',
  }));
}

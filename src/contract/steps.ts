/**
 * A run's step ids: `plan`, then `exec-1` … `exec-N` (one per subtask of the plan, in order),
 * then `aggregate`. Clients, checkpoints and the Clarifier's progress all name steps so.
 */
export const PLAN_STEP_ID = 'plan';
export const AGGREGATE_STEP_ID = 'aggregate';

/** The step id of the plan's subtask at `index` (0-based): `exec-1` for the first. */
export function executorStepId(index: number): string {
  return `exec-${index + 1}`;
}

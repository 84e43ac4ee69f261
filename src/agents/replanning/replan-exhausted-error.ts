import type { RunErrorCode } from '../../contract';

/** A step failed after MAX_REPLANS revisions of the plan: the run fails (v2 "Replanning"). */
export class ReplanExhaustedError extends Error {
  override readonly name = 'ReplanExhaustedError';
  readonly code = 'REPLAN_EXHAUSTED' satisfies RunErrorCode;
}

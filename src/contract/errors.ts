/** Error codes of the wire contract, each list defined once. */

/** Codes of an `error` reply: what was wrong with a client's frame or command. */
export const CLIENT_ERROR_CODES = [
  'BAD_JSON',
  'BAD_FRAME',
  'UNKNOWN_EVENT',
  'VALIDATION_FAILED',
  'INVALID_STATE',
  'RATE_LIMITED',
  'RESUME_UNAVAILABLE',
  'INTERNAL',
  /** v2: the store refuses writes for now (Redis out of memory, read-only, failing to save); nothing was done. */
  'UNAVAILABLE',
] as const;
export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number];

/** Codes of `run.failed`'s `error`: why a run ended without its report. */
export const RUN_ERROR_CODES = [
  /** The planner's plan was invalid, also after one repair. */
  'PLAN_INVALID',
  /** The run's stored record (or the report it refines) is gone. */
  'RUN_NOT_FOUND',
  /** The provider refused the key. */
  'MODEL_AUTH',
  /** The provider refused the request (model name, base URL, request shape). */
  'MODEL_REJECTED',
  /** The provider stayed unavailable through every retry. */
  'MODEL_UNAVAILABLE',
  /** A model call took longer than MODEL_TIMEOUT_MS. */
  'MODEL_TIMEOUT',
  /** Redis lost the session's state (restarted without persistence). */
  'STATE_LOST',
  /** v2: an input request was not answered within INPUT_TTL_SECONDS. */
  'INPUT_EXPIRED',
  /** v2: steps kept failing after MAX_REPLANS revisions of the plan. */
  'REPLAN_EXHAUSTED',
  'INTERNAL',
] as const;
export type RunErrorCode = (typeof RUN_ERROR_CODES)[number];

/**
 * Codes of a failed `tool.result`'s `error` (v2 "Tools"). A tool error goes back to the
 * model as the call's result; it never fails the run by itself.
 */
export const TOOL_ERROR_CODES = [
  /** Not allowed: a tool that is not offered (or, later, one the person said no to). */
  'TOOL_DENIED',
  /** The tool ran and failed (or its server is down, or its worker stopped mid-call). */
  'TOOL_FAILED',
  /** The call took longer than its time cap. */
  'TOOL_TIMEOUT',
  /** The input was not JSON, or did not match the tool's schema. */
  'TOOL_INVALID_INPUT',
] as const;
export type ToolErrorCode = (typeof TOOL_ERROR_CODES)[number];

/** The session state hash's fields (SessionKeys.state), named once for the scripts and the store. */
export const SessionField = {
  /** IDLE, EXECUTING or REFINEMENT_READY; absent means IDLE. */
  state: 'state',
  /** The running run, while EXECUTING. */
  runId: 'runId',
  /** When the running run was queued (ms), for the duration histogram. */
  runQueuedAt: 'runQueuedAt',
  /** The latest report, and the run that wrote it (what a refinement builds on). */
  report: 'report',
  lastRunId: 'lastRunId',
} as const;

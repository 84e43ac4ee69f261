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
  /** v2 "Sessions over HTTP": the session's first task, clipped (its title in the session list). */
  title: 'title',
  /** When the session's first run began (ms). */
  createdAt: 'createdAt',
  /** Set when the session had runs before the run index existed: a delete also looks for their records. */
  unindexedRuns: 'unindexedRuns',
} as const;

/** How much of a session's first task its title keeps. */
export const TITLE_CHARS = 120;

/** The id of a run's n-th input request (docs/protocol.md: `q_<the run id without "r_">_<n>`). */
export function requestIdOf(runId: string, n: number): string {
  return `q_${runId.replace(/^r_/, '')}_${n}`;
}

import { JobName, type JobPayloads } from '../contract';

/** Job payload checks at the boundary: a malformed job fails at once, never half-runs. */
export function assertPayload<J extends JobName>(name: J, data: unknown): JobPayloads[J] {
  const d = data as Record<string, unknown> | null;
  const ok =
    typeof d === 'object' &&
    d !== null &&
    typeof d.sessionKey === 'string' &&
    (name === JobName.ResolveRun
      ? typeof d.runId === 'string' && (d.mode === undefined || d.mode === 'task' || d.mode === 'refinement')
      : typeof d.text === 'string' &&
        (d.replyTo === undefined || typeof d.replyTo === 'string') &&
        (d.steerable === undefined || typeof d.steerable === 'boolean'));
  if (!ok) throw new Error(`malformed ${name} job payload`);
  return d as unknown as JobPayloads[J];
}

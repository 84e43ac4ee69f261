import { replanStepId } from '../../contract';
import type { EventLog } from '../../events/event-log';
import { durable } from '../../events/frames';
import type { RunEventWriter } from '../../events/run-event-writer';
import { RunCheckpoint } from '../../store/run-record';
import type { PlanState } from '../replanning/plan-state';

/**
 * The person's instructions for a running run (v2 "Steering"), taken in at each step
 * boundary: the gateway stores them on the run (`run.steer`, or a message the Clarifier read
 * as an instruction); here each new one is announced as `run.steered` before the planner's
 * next `replan-N` step, which decides whether the steps change, and is checkpointed with it,
 * so a run taken over after a crash neither misses nor repeats one.
 */
export class SteerInbox {
  constructor(private readonly log: EventLog) {}

  /**
   * Applies the instructions stored since the last boundary (one Redis read when there are
   * none): `state` learns they are due for a replan, and `steers` (the texts every later
   * prompt carries) gains them. Returns how many were new.
   */
  async takeIn(
    sessionKey: string,
    runId: string,
    writer: RunEventWriter,
    state: PlanState,
    outputs: Record<string, unknown>,
    steers: string[],
  ): Promise<number> {
    const fresh = await this.log.steersAfter(sessionKey, runId, state.steersApplied);
    if (fresh.length === 0) return 0;
    const appliedBefore = replanStepId(state.nextReplan(outputs));
    const last = fresh[fresh.length - 1].n;
    writer.write(
      fresh.map((s) => durable('run.steered', { runId, text: s.text, appliedBefore })),
      RunCheckpoint.steered(
        last,
        fresh.map((s) => ({ n: s.n, appliedBefore })),
      ),
    );
    state.steersApplied = last;
    steers.push(...fresh.map((s) => s.text));
    return fresh.length;
  }
}

import type { EventLog } from '../../events/event-log';
import { durable } from '../../events/frames';
import type { RunEventWriter } from '../../events/run-event-writer';
import { RunCheckpoint } from '../../store/run-record';
import type { PlanState } from '../replanning/plan-state';
import { workCounters } from '../../ops/work-counters';

/**
 * The person's instructions for a running run (v2 "Steering"), taken in at each step
 * boundary and between an executor's tool rounds: the gateway stores them on the run
 * (`run.steer`, or a message the Clarifier read as an instruction); here each new one is
 * announced as `run.steered` and checkpointed with it, so a run taken over after a crash
 * neither misses nor repeats one. The planner's next `replan-N` step then decides whether
 * the steps change.
 */
export class SteerInbox {
  constructor(private readonly log: EventLog) {}

  /**
   * Applies the instructions stored since the last look (one Redis read when there are
   * none), each announced as taken in before `appliedBefore`: at a step boundary the
   * planner's next `replan-N`, between tool rounds the step itself. `state` learns a replan
   * is due, and `steers` (the texts every later prompt carries) gains them. Returns the new texts.
   */
  async takeIn(
    sessionKey: string,
    runId: string,
    writer: RunEventWriter,
    state: PlanState,
    steers: string[],
    appliedBefore: string,
  ): Promise<string[]> {
    const fresh = await this.log.steersAfter(sessionKey, runId, state.steersApplied);
    if (fresh.length === 0) return [];
    const last = fresh[fresh.length - 1].n;
    writer.write(
      fresh.map((s) => durable('run.steered', { runId, text: s.text, appliedBefore })),
      RunCheckpoint.steered(
        last,
        fresh.map((s) => ({ n: s.n, appliedBefore })),
      ),
    );
    workCounters().steered(fresh.length);
    state.steersApplied = last;
    const texts = fresh.map((s) => s.text);
    steers.push(...texts);
    return texts;
  }
}

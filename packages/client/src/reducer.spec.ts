import type { AnyDurableFrame } from '../../../src/contract';
import { initialView, reduce, type SessionView } from './reducer';

let seq = 0;
const frame = (event: string, data: unknown): AnyDurableFrame =>
  ({ seq: ++seq, event, data, ts: new Date(0).toISOString() }) as AnyDurableFrame;
const fold = (frames: AnyDurableFrame[], from: SessionView = initialView): SessionView => frames.reduce(reduce, from);

/** Deep-freezes a value, so a reducer that changes its input throws. */
function frozen<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) frozen(v);
    Object.freeze(value);
  }
  return value;
}

describe('reduce', () => {
  beforeEach(() => {
    seq = 0;
  });

  const runId = 'r_1';
  const opening = () => [
    frame('user.message', { text: 'Q', kind: 'task' }),
    frame('session.state', { state: 'EXECUTING', runId }),
    frame('run.queued', { runId, mode: 'task', input: 'Q' }),
    frame('run.started', { runId, mode: 'task' }),
  ];

  it('a restarted step drops its earlier attempt; deltas and tool events of an earlier attempt are ignored', () => {
    const view = fold([
      ...opening(),
      frame('agent.started', { runId, agent: 'executor', stepId: 'exec-1', attempt: 1 }),
      frame('agent.delta', { runId, agent: 'executor', stepId: 'exec-1', attempt: 1, text: 'old ' }),
      frame('tool.called', { runId, stepId: 'exec-1', attempt: 1, toolCallId: 't1', tool: 'calculator', input: {} }),
      frame('agent.started', { runId, agent: 'executor', stepId: 'exec-1', attempt: 2 }),
      frame('agent.delta', { runId, agent: 'executor', stepId: 'exec-1', attempt: 1, text: 'late ' }),
      frame('tool.result', {
        runId,
        stepId: 'exec-1',
        attempt: 1,
        toolCallId: 't1',
        tool: 'calculator',
        ok: true,
        ms: 1,
      }),
      frame('agent.delta', { runId, agent: 'executor', stepId: 'exec-1', attempt: 2, text: 'new' }),
    ]);
    expect(view.runs[0].steps).toEqual([
      { stepId: 'exec-1', agent: 'executor', attempt: 2, status: 'running', text: 'new', tools: [], title: undefined },
    ]);
  });

  it('is pure and takes each durable event once: a repeated or older seq changes nothing', () => {
    const frames = opening();
    const before = frozen(fold(frames));
    const again = reduce(before, frames[2]);
    expect(again).toBe(before);
    const after = reduce(before, frame('run.cancelled', { runId }));
    expect(after.runs[0].status).toBe('cancelled');
    expect(before.runs[0].status).toBe('running');
  });

  it('follows the plan, its revisions, skipped steps, steering and the open request', () => {
    const plan = [
      { title: 'A', description: '' },
      { title: 'B', description: '' },
    ];
    const view = fold([
      ...opening(),
      frame('agent.started', { runId, agent: 'planner', stepId: 'plan', attempt: 1 }),
      frame('agent.finished', { runId, agent: 'planner', stepId: 'plan', output: { plan } }),
      frame('run.input_requested', { runId, requestId: 'q1', kind: 'plan_review', prompt: 'Review', expiresAt: 'x' }),
    ]);
    expect(view.runs[0].plan).toEqual({
      version: 1,
      steps: [
        { stepId: 'exec-1', title: 'A', description: '' },
        { stepId: 'exec-2', title: 'B', description: '' },
      ],
    });
    expect(view.pendingInput).toMatchObject({ requestId: 'q1', kind: 'plan_review' });
    const later = fold(
      [
        frame('run.input_resolved', { runId, requestId: 'q1', status: 'answered' }),
        frame('run.steered', { runId, text: 'Skip B', appliedBefore: 'replan-1' }),
        frame('plan.updated', {
          runId,
          version: 2,
          reason: 'steer',
          plan: [{ stepId: 'exec-1', title: 'A', description: '' }],
          finished: [],
          dropped: ['exec-2'],
          failed: [],
        }),
      ],
      view,
    );
    expect(later.pendingInput).toBeUndefined();
    expect(later.runs[0].steered).toEqual([{ text: 'Skip B', appliedBefore: 'replan-1' }]);
    expect(later.runs[0].plan?.version).toBe(2);
  });

  it('a snapshot behind the view (the history restarted) starts it over; one ahead only updates the state', () => {
    const view = fold(opening());
    const ahead = reduce(view, { event: 'session.snapshot', data: { state: 'EXECUTING', lastSeq: 9, runId } });
    expect(ahead.runs).toHaveLength(1);
    const restarted = reduce(view, { event: 'session.snapshot', data: { state: 'IDLE', lastSeq: 0 } });
    expect(restarted).toEqual({
      ...initialView,
      state: 'IDLE',
      lastSeq: 0,
      runId: undefined,
      report: undefined,
      pendingInput: undefined,
    });
  });
});

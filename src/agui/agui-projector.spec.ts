import { verifyEvents } from '@ag-ui/client';
import { EventType, type AGUIEvent } from '@ag-ui/core';
import { EventSchema } from '@ag-ui/core/schemas';
import { from } from 'rxjs';
import type { AnyDurableFrame, DurableEventMap, DurableEventName } from '../contract';
import { AguiProjector } from './agui-projector';

const RUN = 'run-1';
const TS = '2026-12-06T10:00:00.000Z';

/** A history, numbered from 1. */
function history(...events: [DurableEventName, unknown][]): AnyDurableFrame[] {
  return events.map(([event, data], i) => ({ seq: i + 1, event, data, ts: TS }) as AnyDurableFrame);
}
const e = <E extends DurableEventName>(event: E, data: DurableEventMap[E]): [E, DurableEventMap[E]] => [event, data];

function project(frames: AnyDurableFrame[]): AGUIEvent[][] {
  const projector = new AguiProjector('s-1');
  return frames.map((frame) => projector.project(frame));
}

/** AG-UI's own client checks the sequence (order, open and closed messages, steps, runs) and each event's schema. */
async function expectAcceptedByAgUi(events: AGUIEvent[]): Promise<void> {
  for (const event of events) expect(EventSchema.parse(event)).toEqual(event);
  // @ag-ui/client carries its own rxjs: its operator is applied directly rather than piped.
  type Source = Parameters<ReturnType<typeof verifyEvents>>[0];
  const checked = verifyEvents(false)(from(events) as unknown as Source);
  const passed = new Promise<number>((resolve, reject) => {
    let n = 0;
    checked.subscribe({ next: () => n++, error: reject, complete: () => resolve(n) });
  });
  await expect(passed).resolves.toBe(events.length);
}

const opening = [
  e('user.message', { text: 'Research X', kind: 'task' }),
  e('session.state', { state: 'EXECUTING', runId: RUN }),
  e('run.queued', { runId: RUN, mode: 'task', input: 'Research X' }),
  e('run.started', { runId: RUN, mode: 'task' }),
];

describe('AguiProjector', () => {
  it('maps a run with a restarted step, a tool call, a question and its answer, then a failure, as AG-UI accepts it', async () => {
    const frames = history(
      ...opening,
      e('agent.started', { runId: RUN, agent: 'executor', stepId: 'exec-1', attempt: 1, title: 'Look' }),
      e('agent.delta', { runId: RUN, agent: 'executor', stepId: 'exec-1', attempt: 1, text: 'cut ' }),
      e('agent.started', { runId: RUN, agent: 'executor', stepId: 'exec-1', attempt: 2, title: 'Look' }),
      e('agent.delta', { runId: RUN, agent: 'executor', stepId: 'exec-1', attempt: 1, text: 'late' }),
      e('tool.called', {
        runId: RUN,
        stepId: 'exec-1',
        attempt: 2,
        toolCallId: 'c1',
        tool: 'ask_user',
        input: { q: 1 },
      }),
      e('run.input_requested', {
        runId: RUN,
        requestId: 'r1',
        kind: 'question',
        prompt: 'Which year?',
        toolCallId: 'c1',
        expiresAt: '2026-12-07T10:00:00.000Z',
      }),
      e('user.message', { text: '2024', kind: 'answer' }),
      e('run.input_resolved', { runId: RUN, requestId: 'r1', status: 'answered', answer: { text: '2024' } }),
      e('tool.result', {
        runId: RUN,
        stepId: 'exec-1',
        attempt: 2,
        toolCallId: 'c1',
        tool: 'ask_user',
        ok: true,
        output: '2024',
        ms: 1,
      }),
      e('agent.delta', { runId: RUN, agent: 'executor', stepId: 'exec-1', attempt: 2, text: 'found' }),
      e('run.failed', { runId: RUN, error: { code: 'MODEL_TIMEOUT', message: 'too slow' } }),
    );
    const perFrame = project(frames);
    const events = perFrame.flat();
    await expectAcceptedByAgUi(events);
    // The person's messages and session states are not AG-UI events; a late event of attempt 1 is dropped.
    expect(perFrame[0]).toEqual([]);
    expect(perFrame[1]).toEqual([]);
    expect(perFrame[7]).toEqual([]);
    expect(perFrame[2].map((x) => x.type)).toEqual(['RUN_STARTED', 'STATE_SNAPSHOT']);
    // Restarted: attempt 1's message and step close, attempt 2 opens fresh.
    expect(perFrame[6].map((x) => x.type)).toEqual([
      'TEXT_MESSAGE_END',
      'STEP_FINISHED',
      'STEP_STARTED',
      'STATE_DELTA',
    ]);
    const interrupt = perFrame[9].at(-1);
    expect(interrupt).toMatchObject({
      type: 'RUN_FINISHED',
      runId: RUN,
      outcome: {
        type: 'interrupt',
        interrupts: [{ id: 'r1', reason: 'question', message: 'Which year?', toolCallId: 'c1' }],
      },
    });
    // The answer opens the next AG-UI run with the whole state; the step goes on in a new message.
    expect(perFrame[11][0]).toMatchObject({ type: 'RUN_STARTED', runId: `${RUN}:r1` });
    expect(perFrame[11][1]).toMatchObject({
      type: 'STATE_SNAPSHOT',
      snapshot: { runId: RUN, status: 'running', steps: { 'exec-1': { attempt: 2, status: 'running' } } },
    });
    expect(perFrame[12]).toMatchObject([{ type: 'TOOL_CALL_RESULT', toolCallId: 'c1', content: '"2024"' }]);
    const messageIds = new Set(events.flatMap((x) => (x.type === EventType.TEXT_MESSAGE_START ? [x.messageId] : [])));
    expect(messageIds.size).toBe(3);
    expect(perFrame[14].at(-1)).toMatchObject({ type: 'RUN_ERROR', code: 'MODEL_TIMEOUT', message: 'too slow' });
  });

  it('closes open steps before a cancel, and maps the plan, its revision and skipped steps into the state', async () => {
    const frames = history(
      ...opening,
      e('agent.started', { runId: RUN, agent: 'planner', stepId: 'plan', attempt: 1 }),
      e('agent.finished', {
        runId: RUN,
        agent: 'planner',
        stepId: 'plan',
        output: {
          plan: [
            { title: 'A', description: 'a' },
            { title: 'B', description: 'b' },
          ],
        },
      }),
      e('plan.updated', {
        runId: RUN,
        version: 2,
        reason: 'steer',
        plan: [{ stepId: 'exec-3', title: 'C', description: 'c' }],
        finished: [],
        dropped: ['exec-1', 'exec-2'],
        failed: [],
      }),
      e('agent.skipped', { runId: RUN, stepId: 'exec-1', reason: 'dropped' }),
      e('run.steered', { runId: RUN, text: 'only C', appliedBefore: 'replan-1' }),
      e('chat.response', { text: 'Working on C.' }),
      e('agent.started', { runId: RUN, agent: 'executor', stepId: 'exec-3', attempt: 1 }),
      e('agent.delta', { runId: RUN, agent: 'executor', stepId: 'exec-3', attempt: 1, text: 'half' }),
      e('run.cancelled', { runId: RUN }),
      e('chat.response', { text: 'after the run' }),
    );
    const perFrame = project(frames);
    const events = perFrame.flat();
    await expectAcceptedByAgUi(events);
    expect(perFrame[5]).toContainEqual(
      expect.objectContaining({
        type: 'STATE_DELTA',
        delta: [
          {
            op: 'replace',
            path: '/plan',
            value: {
              version: 1,
              steps: [expect.objectContaining({ stepId: 'exec-1' }), expect.objectContaining({ stepId: 'exec-2' })],
            },
          },
        ],
      }),
    );
    expect(perFrame[6]).toMatchObject([
      { type: 'STATE_DELTA', delta: [{ op: 'replace', path: '/plan', value: { version: 2 } }] },
    ]);
    expect(perFrame[7]).toMatchObject([
      { type: 'STATE_DELTA', delta: [{ op: 'add', path: '/steps/exec-1', value: { status: 'skipped' } }] },
    ]);
    expect(perFrame[8]).toMatchObject([
      { type: 'STATE_DELTA', delta: [{ op: 'add', path: '/steered/-', value: { text: 'only C' } }] },
    ]);
    expect(perFrame[9].map((x) => x.type)).toEqual(['TEXT_MESSAGE_START', 'TEXT_MESSAGE_CONTENT', 'TEXT_MESSAGE_END']);
    expect(perFrame[12].map((x) => x.type)).toEqual([
      'STATE_DELTA',
      'TEXT_MESSAGE_END',
      'STEP_FINISHED',
      'RUN_FINISHED',
    ]);
    expect(perFrame[12].at(-1)).toMatchObject({ outcome: { type: 'cancelled' } });
    // The Clarifier between runs is no AG-UI event (there is no AG-UI run to carry it).
    expect(perFrame[13]).toEqual([]);
  });

  it('gives the same events for the same history, with integer timestamps', () => {
    const frames = history(
      ...opening,
      e('run.completed', { runId: RUN, report: '# R', usage: { inputTokens: 3, outputTokens: 4 } }),
    );
    const [a, b] = [project(frames).flat(), project(frames).flat()];
    expect(a).toEqual(b);
    expect(a.every((x) => Number.isInteger(x.timestamp))).toBe(true);
    expect(a.at(-1)).toMatchObject({
      type: 'RUN_FINISHED',
      result: { report: '# R' },
      outcome: { type: 'success' },
      usage: [{ inputTokens: 3, outputTokens: 4, totalTokens: 7 }],
    });
  });
});

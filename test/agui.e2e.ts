/**
 * AG-UI (issue 16, v2 "AG-UI") on real gateways, a worker and Redis: a session driven by
 * @ag-ui/client's own HttpAgent, every event checked against @ag-ui/core's schemas, plan
 * review as an interrupt answered by `resume`, a stream cut at random points and continued
 * with Last-Event-ID on the other gateway, and every refusal answered before any stream.
 */
import { HttpAgent, type AgentSubscriber } from '@ag-ui/client';
import type { Interrupt, Message } from '@ag-ui/core';
import { EventSchema } from '@ag-ui/core/schemas';
import type { AnyDurableFrame } from '../src/contract';
import { loadBuilt } from './support/built';
import { isDurable, isEvent } from './support/frames';
import type { MawsProcess } from './support/maws-process';
import { QUERY, REFINE, unique } from './support/scenario';
import { connect } from './support/session';
import { openAgui, readEvents, sseEvents, type SseEvent } from './support/sse';
import { setUpSuite, startStack } from './support/suite';
import { signToken } from './support/tokens';

const { AguiProjector } = loadBuilt<typeof import('../src/agui/agui-projector')>('agui/agui-projector');
const { formatEventId } = loadBuilt<typeof import('../src/agui/agui-event-id')>('agui/agui-event-id');

jest.setTimeout(180_000);

let gatewayA: MawsProcess;
let gatewayB: MawsProcess;

setUpSuite(async () => {
  [gatewayA, gatewayB] = (await startStack(['gateway', 'gateway', 'worker'], { OFFLINE_TOKEN_DELAY_MS: '5' })).procs;
});

/** An HttpAgent on the session, recording the raw SSE events it was sent. */
function agentOn(gateway: MawsProcess, sessionId: string, token: string, raw: SseEvent[]): HttpAgent {
  return new HttpAgent({
    url: `${gateway.url}/agui/${sessionId}`,
    threadId: sessionId,
    headers: { authorization: `Bearer ${token}` },
    fetch: async (url, init) => {
      const res = await fetch(url, init);
      void (async () => {
        for await (const e of sseEvents(res.clone())) raw.push(e);
      })();
      return res;
    },
  });
}

/** What the projection of the socket's frames gives: the events every AG-UI stream must carry, with their ids. */
function projected(sessionId: string, frames: readonly AnyDurableFrame[]): SseEvent[] {
  const projector = new AguiProjector(sessionId);
  return frames.flatMap((frame) => {
    const events = projector.project(frame);
    return events.map((event, i) => ({ id: formatEventId(frame.seq, i, events.length), event }));
  });
}

/** Each event parses under @ag-ui/core's schema for its type, with nothing stripped or changed. */
function expectValidEvents(events: readonly SseEvent[]): void {
  for (const { id, event } of events) {
    const parsed = EventSchema.safeParse(event);
    expect({ id, ok: parsed.success, error: parsed.success ? undefined : parsed.error.message }).toEqual({
      id,
      ok: true,
      error: undefined,
    });
    expect(parsed.data).toEqual(event);
  }
}

/** (seq, sub) of every id, strictly increasing. */
function expectIncreasingIds(events: readonly SseEvent[]): void {
  const keys = events.map(({ id }) => id.split('.').map(Number));
  for (let i = 1; i < keys.length; i++) {
    const [a, b] = [keys[i - 1], keys[i]];
    expect({ at: i, increasing: b[0] > a[0] || (b[0] === a[0] && (b[1] ?? 0) > (a[1] ?? 0)) }).toEqual({
      at: i,
      increasing: true,
    });
  }
}

/** Waits until `condition` holds (checked every 20 ms), failing after `timeoutMs`. */
async function eventually(condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${condition.toString()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const userMessage = (text: string): Message => ({ id: unique('msg'), role: 'user', content: text });

describe('AG-UI', () => {
  it("drives a task and a refinement with HttpAgent: the plan in the agent's state, the report as its last message and result", async () => {
    const sessionId = unique('agui');
    const token = signToken(unique('agui-user'));
    const watcher = await connect(gatewayA, sessionId, token);
    const raw: SseEvent[] = [];
    const agent = agentOn(gatewayA, sessionId, token, raw);

    agent.addMessage(userMessage(QUERY));
    const first = await agent.runAgent();
    const report = (first.result as { report: string }).report;
    expect(report.length).toBeGreaterThan(100);
    const lastAssistant = agent.messages.filter((m) => m.role === 'assistant').at(-1);
    expect(lastAssistant?.content).toBe(report);
    const state = agent.state as { status: string; plan: { version: number; steps: { stepId: string }[] } };
    expect(state.status).toBe('completed');
    expect(state.plan.version).toBe(1);
    expect(state.plan.steps.length).toBeGreaterThanOrEqual(2);

    agent.addMessage(userMessage(REFINE));
    const second = await agent.runAgent();
    expect((second.result as { report: string }).report).toMatch(/volatility/i);

    // What the socket saw, projected, is what the AG-UI streams carried: event for event.
    const completed = (): number => watcher.client.frames.filter((f) => isEvent(f, 'run.completed')).length;
    await eventually(() => completed() === 2 && raw.filter((e) => e.event.type === 'RUN_FINISHED').length === 2);
    expect(raw).toEqual(projected(sessionId, watcher.client.frames.filter(isDurable)));
    expectValidEvents(raw);
    expectIncreasingIds(raw);
    expect(raw.filter((e) => e.event.type === 'RUN_STARTED')).toHaveLength(2);
    expect(raw.map((e) => e.event.type)).toEqual(
      expect.arrayContaining(['STEP_STARTED', 'TEXT_MESSAGE_CONTENT', 'STATE_DELTA']),
    );
  });

  it('asks for plan review as an interrupt and goes on when HttpAgent resumes it', async () => {
    const sessionId = unique('agui-review');
    const token = signToken(unique('agui-user'));
    const raw: SseEvent[] = [];
    const agent = agentOn(gatewayA, sessionId, token, raw);
    let interrupts: Interrupt[] = [];
    const subscriber: AgentSubscriber = {
      onRunFinishedEvent: (params) => {
        if (params.outcome === 'interrupt') interrupts = params.interrupts;
      },
    };
    agent.addMessage(userMessage(QUERY));
    const asked = await agent.runAgent({ forwardedProps: { review: 'plan' } }, subscriber);
    expect(asked.result).toBeUndefined();
    expect(interrupts).toHaveLength(1);
    const [review] = interrupts;
    expect(review).toMatchObject({ reason: 'plan_review', expiresAt: expect.any(String) });
    const plan = (review.metadata as { plan: { stepId: string; title: string }[] }).plan;
    expect(plan.length).toBeGreaterThanOrEqual(2);
    expect((agent.state as { status: string }).status).toBe('waiting');

    // HttpAgent refuses to go on without answering the interrupt; answered, the run goes on.
    await expect(agent.runAgent()).rejects.toThrow(/pending interrupt/);
    const done = await agent.runAgent({
      resume: [{ interruptId: review.id, status: 'resolved', payload: { approve: true } }],
    });
    const report = (done.result as { report: string }).report;
    expect(report.length).toBeGreaterThan(100);
    expect(agent.messages.filter((m) => m.role === 'assistant').at(-1)?.content).toBe(report);
    expect((agent.state as { plan: { steps: unknown[] } }).plan.steps).toHaveLength(plan.length);
    await eventually(() => raw.filter((e) => e.event.type === 'RUN_FINISHED').length === 2);
    expectValidEvents(raw);
    expectIncreasingIds(raw);

    // The same resume again (a retried request) streams what came of it, and starts nothing.
    const again = await readEvents({
      method: 'POST',
      url: `${gatewayB.url}/agui/${sessionId}`,
      token,
      body: {
        threadId: sessionId,
        runId: 'retry',
        messages: [],
        resume: [{ interruptId: review.id, status: 'resolved', payload: { approve: true } }],
      },
    });
    expect(again.status).toBe(200);
    const resumed = raw.slice(raw.findIndex((e) => e.event.type === 'RUN_FINISHED') + 1);
    expect(again.events).toEqual(resumed);
  });

  it('continues a stream cut at five random points from Last-Event-ID, on either gateway, gap-free and without duplicates', async () => {
    const sessionId = unique('agui-cut');
    const token = signToken(unique('agui-user'));
    const watcher = await connect(gatewayB, sessionId, token);
    const gateways = [gatewayA, gatewayB];
    const joined: SseEvent[] = [];
    const cuts: number[] = [];
    let part = await readEvents(
      {
        method: 'POST',
        url: `${gatewayA.url}/agui/${sessionId}`,
        token,
        body: { threadId: sessionId, runId: 'cut', messages: [userMessage(QUERY)] },
      },
      1 + Math.floor(Math.random() * 40),
    );
    for (let cut = 0; ; cut++) {
      expect(part.status).toBe(200);
      joined.push(...part.events);
      if (joined.at(-1)?.event.type === 'RUN_FINISHED' || joined.at(-1)?.event.type === 'RUN_ERROR') break;
      cuts.push(joined.length);
      part = await readEvents(
        {
          method: 'GET',
          url: `${gateways[(cut + 1) % 2].url}/agui/${sessionId}/connect`,
          token,
          lastEventId: joined.at(-1)!.id,
        },
        cut < 4 ? 1 + Math.floor(Math.random() * 60) : undefined,
      );
    }
    expect(cuts.length).toBeGreaterThanOrEqual(5);
    expect(joined.at(-1)?.event.type).toBe('RUN_FINISHED');
    await watcher.client.waitFor((f) => isEvent(f, 'run.completed'), 60_000);
    // Event for event what the socket's frames project to: every seq there, none twice.
    expect(joined).toEqual(projected(sessionId, watcher.client.frames.filter(isDurable)));
    expectValidEvents(joined);
    // And what a fresh connect sends for the finished run: the same, uncut.
    const uncut = await readEvents({ method: 'GET', url: `${gatewayA.url}/agui/${sessionId}/connect`, token });
    expect(uncut.events).toEqual(joined);
  });

  it('answers every refusal before any stream: 401, 400, 404, 409', async () => {
    const sessionId = unique('agui-refuse');
    const token = signToken(unique('agui-user'));
    const url = `${gatewayA.url}/agui/${sessionId}`;
    const input = (text = QUERY): Record<string, unknown> => ({
      threadId: sessionId,
      runId: unique('run'),
      messages: [userMessage(text)],
    });
    const status = async (call: Parameters<typeof openAgui>[0]): Promise<{ status: number; body: unknown }> => {
      const res = await openAgui(call);
      const text = await res.text();
      return { status: res.status, body: res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
    };

    expect((await status({ method: 'POST', url, body: input() })).status).toBe(401);
    expect((await status({ method: 'POST', url, token: 'not-a-jwt', body: input() })).status).toBe(401);
    expect(await status({ method: 'POST', url, token, body: { ...input(), threadId: 'another' } })).toEqual({
      status: 400,
      body: expect.objectContaining({ code: 'VALIDATION_FAILED', message: expect.stringMatching(/threadId/) }),
    });
    expect((await status({ method: 'POST', url, token, body: { threadId: sessionId } })).status).toBe(400);
    expect((await status({ method: 'POST', url: `${gatewayA.url}/agui/a.b`, token, body: input() })).status).toBe(400);
    const notUser = { ...input(), messages: [{ id: 'a1', role: 'assistant', content: 'hello' }] };
    expect((await status({ method: 'POST', url, token, body: notUser })).status).toBe(400);
    expect((await status({ method: 'POST', url, token, body: input(' ') })).status).toBe(400);
    const unknownInterrupt = { ...input(), resume: [{ interruptId: 'nope', status: 'resolved', payload: {} }] };
    expect((await status({ method: 'POST', url, token, body: unknownInterrupt })).status).toBe(400);
    expect((await status({ method: 'GET', url: `${url}/connect`, token })).status).toBe(404);

    // A run going: a second message is 409; its stream, read to the end, is the run's.
    const first = await openAgui({ method: 'POST', url, token, body: input() });
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(await status({ method: 'POST', url, token, body: input('Another task') })).toEqual({
      status: 409,
      body: expect.objectContaining({ code: 'INVALID_STATE' }),
    });
    // Another user's session of the same id is not found; a bad Last-Event-ID is 400.
    const stranger = signToken(unique('stranger'));
    expect((await status({ method: 'GET', url: `${url}/connect`, token: stranger })).status).toBe(404);
    expect((await status({ method: 'GET', url: `${url}/connect`, token, lastEventId: 'x1' })).status).toBe(400);
    const events: SseEvent[] = [];
    for await (const e of sseEvents(first)) events.push(e);
    expect(events.at(-1)?.event.type).toBe('RUN_FINISHED');
  });
});

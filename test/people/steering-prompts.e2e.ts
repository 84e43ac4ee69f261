/**
 * Steering (issue 15, v2 "Steering") as a real provider sees it: a `node dist/main.js all`
 * process on the openai-compatible provider, against the local fake model server. A message
 * the Clarifier's model reads as an instruction (its JSON answer) is applied before the next
 * step; the prompts of every later step carry it (and the earlier ones do not), the planner's
 * revision is asked with it, and a refinement of the report is told it too. An instruction
 * given while an executor is between tool rounds joins that step's next round. The person's
 * answers to the run's questions reach its later steps and a refinement the same way.
 */
import { FakeLlmServer, piecesOf, tokensOf, type RecordedRequest } from '../support/fake-llm-server';
import { isEvent, runIdOf } from '../support/frames';
import { startMaws, type MawsProcess } from '../support/maws-process';
import { startRedis, type RedisServer } from '../support/redis-server';
import { startRun, waitForRunEnd } from '../support/runs';
import { newSdkSession } from '../support/session';
import { setUpSuite } from '../support/suite';
import type { SdkTestClient } from '../support/sdk-client';

jest.setTimeout(120_000);

let redis: RedisServer;
let fake: FakeLlmServer;
let maws: MawsProcess;

setUpSuite(async () => {
  redis = await startRedis();
  fake = await FakeLlmServer.start();
  maws = await startMaws('all', {
    REDIS_URL: redis.url,
    LLM_PROVIDER: 'openai-compatible',
    LLM_BASE_URL: fake.baseUrl,
    LLM_API_KEY: 'sk-test-key',
    LLM_MODEL: 'llama3.1',
  });
});

afterAll(async () => {
  await fake?.close();
});

const CONSTRAINT = 'Keep it under 300 words';
/** What a request sent the model, as one string. */
const said = (r: RecordedRequest): string => JSON.stringify(r.body.messages ?? r.body);

/**
 * Starts a two-step task (the fake planner's default plan) whose revision will keep its
 * pending step, and waits until exec-1 streams: the moment to steer.
 */
async function startSteeredTask(client: SdkTestClient): Promise<string> {
  fake.script('planner', { kind: 'stream', tokens: piecesOf(fake.defaultPlan) });
  fake.script('planner', {
    kind: 'stream',
    tokens: piecesOf(
      JSON.stringify({ subtasks: [{ stepId: 'exec-2', title: 'Compare the findings', description: 'Compare them.' }] }),
    ),
  });
  const { runId } = await startRun(client, 'task.start', 'How did Apple and Tesla stock do last month?');
  await client.waitForEvent('agent.delta', (f) => f.data.runId === runId && f.data.stepId === 'exec-1', 30_000);
  return runId;
}

describe('steering, as the model sees it', () => {
  it('an instruction typed while a step runs reaches every later prompt, and a refinement of the report', async () => {
    const { client } = await newSdkSession(maws, 'steer-prompts');
    // The first executor streams slowly: the instruction comes while it runs.
    fake.script('executor', {
      kind: 'stream',
      tokens: tokensOf('The facts are these, gathered from three sources that agree on most points.'),
      tokenDelayMs: 100,
    });
    fake.script('clarifier', {
      kind: 'stream',
      tokens: piecesOf(JSON.stringify({ kind: 'instruction', reply: 'The next steps will keep it under 300 words.' })),
    });
    const runId = await startSteeredTask(client);
    const ack = await client.request('message', { text: CONSTRAINT });
    const replyTo = (ack.data as { replyTo: string }).replyTo;
    const answer = await client.waitForEvent('chat.response', (f) => f.data.replyTo === replyTo, 30_000);
    expect(answer.data.text).toBe('The next steps will keep it under 300 words.');
    const { terminal } = await waitForRunEnd(client, runId, 60_000);
    expect(terminal.event).toBe('run.completed');

    const frames = client.durable().filter((f) => runIdOf(f) === runId);
    expect(frames.filter((f) => f.event === 'run.steered').map((f) => f.data)).toEqual([
      { runId, text: CONSTRAINT, appliedBefore: 'replan-1' },
    ]);
    // The Clarifier was asked to decide, given the steps still to run.
    const [clarifier] = fake.requestsOf('clarifier');
    expect(said(clarifier)).toContain('Decide which');
    expect(said(clarifier)).toContain('Compare the findings');
    // The step that ran before it was applied never saw it; every later prompt carries it.
    const executors = fake.requestsOf('executor');
    expect(executors).toHaveLength(2);
    expect(said(executors[0])).not.toContain(CONSTRAINT);
    expect(said(executors[1])).toContain(`While the team worked, the person asked (follow it):\\n- ${CONSTRAINT}`);
    const [replan] = fake.requestsOf('planner').slice(1);
    expect(said(replan)).toContain(`The person asks now:\\n- ${CONSTRAINT}`);
    const [aggregator] = fake.requestsOf('aggregator');
    expect(said(aggregator)).toContain(CONSTRAINT);
    // No new plan version: the revision kept the step.
    expect(frames.filter((f) => f.event === 'plan.updated')).toEqual([]);

    // A refinement of the report is told what the person asked during the run.
    fake.reset();
    const refined = await startRun(client, 'task.refine', 'Focus on the risks');
    await waitForRunEnd(client, refined.runId, 60_000);
    const [planner] = fake.requestsOf('planner');
    expect(said(planner)).toContain(`During the earlier run, the person asked (follow it):\\n- ${CONSTRAINT}`);
    for (const request of [...fake.requestsOf('executor'), ...fake.requestsOf('aggregator')]) {
      expect(said(request)).toContain(CONSTRAINT);
    }
    await client.close();
  });

  it("an instruction given during a tool round joins the step's next round (run.steered before the same step), then the planner revises", async () => {
    fake.reset();
    const { client } = await newSdkSession(maws, 'steer-rounds');
    // exec-1's first round talks slowly, then calls the calculator; its second round answers.
    fake.script(
      'executor',
      {
        kind: 'tool',
        tokens: tokensOf('Let me work out the figure before I answer, checking it twice.'),
        tokenDelayMs: 100,
        calls: [{ name: 'calculator', arguments: JSON.stringify({ expression: '17*23' }) }],
      },
      { kind: 'stream', tokens: tokensOf('The figure is 391.') },
    );
    const runId = await startSteeredTask(client);
    expect((await client.request('run.steer', { text: CONSTRAINT })).event).toBe('ack');
    const { terminal } = await waitForRunEnd(client, runId, 60_000);
    expect(terminal.event).toBe('run.completed');

    const frames = client.durable().filter((f) => runIdOf(f) === runId);
    const steered = frames.filter((f) => isEvent(f, 'run.steered'));
    expect(steered.map((f) => f.data)).toEqual([{ runId, text: CONSTRAINT, appliedBefore: 'exec-1' }]);
    const seqOf = (pred: (f: (typeof frames)[number]) => boolean): number => frames.find(pred)!.seq;
    const toolResult = seqOf((f) => isEvent(f, 'tool.result') && f.data.stepId === 'exec-1');
    const finished = seqOf((f) => isEvent(f, 'agent.finished') && f.data.stepId === 'exec-1');
    const replan = seqOf((f) => isEvent(f, 'agent.started') && f.data.stepId === 'replan-1');
    expect(steered[0].seq).toBeGreaterThan(toolResult);
    expect(steered[0].seq).toBeLessThan(finished);
    expect(replan).toBeGreaterThan(finished);
    // The step's second round carries it; its first did not; the next step's prompt does.
    const executors = fake.requestsOf('executor');
    expect(executors).toHaveLength(3);
    const justNow = `The person asked just now, while you work (follow it):\\n- ${CONSTRAINT}`;
    expect(said(executors[0])).not.toContain(CONSTRAINT);
    expect(said(executors[1])).toContain(justNow);
    expect(said(executors[2])).toContain(`While the team worked, the person asked (follow it):\\n- ${CONSTRAINT}`);
    await client.close();
  });

  it("a refinement is told what the person answered the run's questions", async () => {
    fake.reset();
    const { client } = await newSdkSession(maws, 'answers-refined');
    const ask = { name: 'ask_user', arguments: JSON.stringify({ question: 'Which year?' }) };
    // exec-1 asks; after the answer the step starts again, asks the same (answered from the
    // record), and finishes.
    fake.script('executor', { kind: 'tool', calls: [ask] }, { kind: 'tool', calls: [ask] });
    fake.script('executor', { kind: 'stream', tokens: tokensOf('In 2024 the figures rose.') });
    const { runId } = await startRun(client, 'task.start', 'How did Apple and Tesla stock do?');
    const requested = await client.waitForEvent('run.input_requested', (f) => f.data.runId === runId, 30_000);
    expect(requested.data.prompt).toBe('Which year?');
    const reply = await client.request('run.respond', {
      requestId: requested.data.requestId,
      answer: { text: '2024' },
    });
    expect(reply.event).toBe('ack');
    expect((await waitForRunEnd(client, runId, 60_000)).terminal.event).toBe('run.completed');
    // The later steps of the run are told the answer too.
    const answered = "The person's answers to the team's questions:\\n- Which year? → 2024";
    expect(said(fake.requestsOf('aggregator')[0])).toContain(answered);

    fake.reset();
    const refined = await startRun(client, 'task.refine', 'Focus on the risks');
    await waitForRunEnd(client, refined.runId, 60_000);
    for (const request of [
      ...fake.requestsOf('planner'),
      ...fake.requestsOf('executor'),
      ...fake.requestsOf('aggregator'),
    ]) {
      expect(said(request)).toContain(answered);
    }
    await client.close();
  });
});

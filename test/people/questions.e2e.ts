/**
 * Questions and tool approval (issue 15, v2 "People in the loop") on real processes: an agent
 * asks the person with `ask_user` (the offline model's rule: `ask me "<question>"`), the run
 * parks until the answer, which comes back to the model as the call's result; a tool of an
 * MCP server marked `"approval": "always"` does not run before the person says yes (the
 * fixture's note file stays empty until then), and a no is TOOL_DENIED.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Queue } from 'bullmq';
import type { AnyDurableFrame, FrameOf } from '../../src/contract';
import { queuePrefixOf } from '../../src/store/redis-keys';
import { registerCleanup } from '../support/cleanup';
import { runIdOf } from '../support/frames';
import type { MawsProcess } from '../support/maws-process';
import { expectOneWriter, outputOf, waitForRunEnd } from '../support/runs';
import { newSdkSession } from '../support/session';
import { setUpSuite, startStack } from '../support/suite';
import { eventually, sleep } from '../support/timing';
import type { SdkTestClient } from '../support/sdk-client';

jest.setTimeout(90_000);

const FIXTURE = path.resolve(__dirname, '../fixtures/mcp/fixture-server.mjs');
const dir = mkdtempSync(path.join(os.tmpdir(), 'maws-approval-'));
const notes = path.join(dir, 'notes.txt');
const servers = path.join(dir, 'servers.json');

let maws: MawsProcess;
let queue: Queue;

setUpSuite(async () => {
  writeFileSync(
    servers,
    JSON.stringify({
      mcpServers: {
        gated: { command: process.execPath, args: [FIXTURE], env: { MCP_FIXTURE_NOTES: notes }, approval: 'always' },
      },
    }),
  );
  const stack = await startStack(['all'], { OFFLINE_TOKEN_DELAY_MS: '0', MCP_SERVERS: servers });
  [maws] = stack.procs;
  queue = new Queue('resolver', { connection: { url: stack.redis.url }, prefix: queuePrefixOf('resolver') });
  registerCleanup(() => queue.close());
});

const ofRun = (client: SdkTestClient, runId: string): AnyDurableFrame[] =>
  client.durable().filter((f) => runIdOf(f) === runId);
const notesWritten = (): string[] => (existsSync(notes) ? readFileSync(notes, 'utf8').split('\n').filter(Boolean) : []);

async function startTask(client: SdkTestClient, text: string): Promise<string> {
  const ack = await client.request('task.start', { text });
  expect(ack.event).toBe('ack');
  return (ack.data as { runId: string }).runId;
}

describe('ask_user', () => {
  it('the agent asks, the run parks; the answer comes back to the model as the call result, and the step goes on', async () => {
    const { client } = await newSdkSession(maws, 'question');
    const runId = await startTask(client, 'Plan the team offsite, ask me "Which city should it be in?"');
    const requested = await client.waitForEvent('run.input_requested', (f) => f.data.runId === runId, 30_000);
    expect(requested.data).toMatchObject({
      runId,
      kind: 'question',
      prompt: 'Which city should it be in?',
      toolCallId: expect.stringMatching(/^tc_exec-1_1_/),
    });
    // The run waits holding no worker: its job is parked in the delayed set.
    await eventually(
      async () => (await (await queue.getJob(runId))?.getState()) === 'delayed',
      10_000,
      'the job to be parked',
    );
    // A message answers it.
    expect((await client.request('message', { text: 'Lisbon' })).event).toBe('ack');
    const { terminal } = await waitForRunEnd(client, runId, 60_000);
    expect(terminal.event).toBe('run.completed');
    const frames = ofRun(client, runId);
    expect(frames.filter((f) => f.event === 'run.input_resolved').map((f) => f.data)).toEqual([
      { runId, requestId: requested.data.requestId, status: 'answered', answer: { text: 'Lisbon' } },
    ]);
    const asks = frames.filter(
      (f): f is FrameOf<'tool.result'> => f.event === 'tool.result' && f.data.tool === 'ask_user',
    );
    // The asking call is closed with the answer; the restarted step's call is answered from it.
    expect(asks.map((f) => [f.data.attempt, f.data.ok, f.data.output, f.data.recorded ?? false])).toEqual([
      [1, true, 'Lisbon', false],
      [2, true, 'Lisbon', true],
    ]);
    expect((outputOf(frames, 'exec-1') as { text: string }).text).toContain('The person answered: Lisbon.');
    // Only the first step asks a question the task holds.
    expect(frames.filter((f) => f.event === 'run.input_requested')).toHaveLength(1);
    expectOneWriter(client.durable(), runId);
    // The Clarifier knows what the person answered.
    const chat = await client.request('chat.send', { text: 'What did I tell you?' });
    const reply = await client.waitForEvent(
      'chat.response',
      (f) => f.data.replyTo === (chat.data as { replyTo: string }).replyTo,
      30_000,
    );
    expect(reply.data.text).toContain('You answered: "Which city should it be in?" → "Lisbon".');
    await client.close();
  });

  it('an answer of the wrong shape is VALIDATION_FAILED, and the question stays open', async () => {
    const { client } = await newSdkSession(maws, 'question-bad');
    const runId = await startTask(client, 'Plan the dinner, ask me "How many guests?"');
    const requested = await client.waitForEvent('run.input_requested', (f) => f.data.runId === runId, 30_000);
    const bad = await client.request('run.respond', { requestId: requested.data.requestId, answer: { approve: true } });
    expect(bad).toMatchObject({ event: 'error', data: { code: 'VALIDATION_FAILED' } });
    const ok = await client.request('run.respond', { requestId: requested.data.requestId, answer: { text: '12' } });
    expect(ok.event).toBe('ack');
    expect((await waitForRunEnd(client, runId, 60_000)).terminal.event).toBe('run.completed');
    await client.close();
  });
});

describe('tool approval (an MCP server marked "approval": "always")', () => {
  it('the tool does not run before the person says yes; then it runs, once', async () => {
    const before = notesWritten().length;
    const { client } = await newSdkSession(maws, 'approval-yes');
    const runId = await startTask(client, 'Write it down: call `mcp_gated_note` with {"text": "approved"}.');
    const requested = await client.waitForEvent('run.input_requested', (f) => f.data.runId === runId, 30_000);
    expect(requested.data).toMatchObject({
      kind: 'tool_approval',
      toolCall: { tool: 'mcp_gated_note', input: { text: 'approved' } },
    });
    await sleep(500);
    expect(notesWritten().length).toBe(before);
    // Every step that calls it asks; each yes lets that step's call run.
    const answered = new Set<string>();
    let next: FrameOf<'run.input_requested'> | undefined = requested;
    while (next) {
      answered.add(next.data.requestId);
      const reply = await client.request('run.respond', { requestId: next.data.requestId, answer: { approve: true } });
      expect(reply.event).toBe('ack');
      next = await Promise.race([
        client.waitForEvent(
          'run.input_requested',
          (f) => f.data.runId === runId && !answered.has(f.data.requestId),
          30_000,
        ),
        waitForRunEnd(client, runId, 30_000).then(() => undefined),
      ]);
    }
    const approvals = answered.size;
    const { terminal } = await waitForRunEnd(client, runId, 30_000);
    expect(terminal.event).toBe('run.completed');
    const results = ofRun(client, runId).filter(
      (f): f is FrameOf<'tool.result'> => f.event === 'tool.result' && f.data.ok,
    );
    expect(results.length).toBe(approvals);
    expect(notesWritten().length - before).toBe(approvals);
    await client.close();
  });

  it('a no is TOOL_DENIED, the tool never runs, the run completes', async () => {
    const before = notesWritten().length;
    const { client } = await newSdkSession(maws, 'approval-no');
    const answered = new Set<string>();
    const runId = await startTask(client, 'Write it down: call `mcp_gated_note` with {"text": "denied"}.');
    for (;;) {
      const requested = await Promise.race([
        client.waitForEvent(
          'run.input_requested',
          (f) => f.data.runId === runId && !answered.has(f.data.requestId),
          30_000,
        ),
        waitForRunEnd(client, runId, 30_000).then(() => undefined),
      ]);
      if (!requested) break;
      answered.add(requested.data.requestId);
      // "no" typed in the box answers a tool approval.
      expect((await client.request('message', { text: 'no' })).event).toBe('ack');
    }
    expect((await waitForRunEnd(client, runId, 30_000)).terminal.event).toBe('run.completed');
    const denied = ofRun(client, runId).filter(
      (f): f is FrameOf<'tool.result'> => f.event === 'tool.result' && f.data.error?.code === 'TOOL_DENIED',
    );
    expect(denied.length).toBeGreaterThan(0);
    expect(denied[0].data.error?.message).toBe('the person said no to this call');
    expect(notesWritten().length).toBe(before);
    await client.close();
  });
});

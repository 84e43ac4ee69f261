/**
 * Fencing for the Clarifier: a worker whose clarifier thread stalls past its lock mid-answer
 * (SIGSTOP) while another worker answers the same chat job, and then wakes up, writes no
 * second answer. The question gets exactly one chat.response; the stale worker says why.
 */
import { FakeLlmServer, tokensOf } from '../support/fake-llm-server';
import { expectEvent } from '../support/frames';
import { startMaws } from '../support/maws-process';
import { newSession } from '../support/session';
import { registerCleanup } from '../support/cleanup';
import { setUpSuite, startStack } from '../support/suite';
import { sleep } from '../support/timing';

jest.setTimeout(90_000);

setUpSuite();

describe('a clarifier that stalls past its lock', () => {
  it('SIGSTOP mid-answer, another worker answers, SIGCONT: one chat.response, none from the stale worker', async () => {
    // A model that takes its time (the offline one answers chat at once): worker 1's answer
    // streams a word every 200 ms, so it can be stopped halfway; worker 2's comes at once.
    const fake = await FakeLlmServer.start();
    registerCleanup(() => fake.close());
    const slow = 'The run has not started yet; ask again once it is going, and I will tell you more.';
    fake.script('clarifier', { kind: 'stream', tokens: tokensOf(slow), tokenDelayMs: 200 });
    fake.script('clarifier', { kind: 'stream', tokens: tokensOf('Nothing is running yet.'), tokenDelayMs: 0 });
    const {
      env,
      procs: [gateway, worker1],
    } = await startStack(['gateway', 'worker'], {
      WORKER_LOCK_MS: '3000',
      WORKER_STALLED_INTERVAL_MS: '1000',
      LLM_PROVIDER: 'openai-compatible',
      LLM_BASE_URL: fake.baseUrl,
      LLM_API_KEY: 'sk-test-key',
      LLM_MODEL: 'llama3.1',
    });
    const { client } = await newSession(gateway, 'stale-chat');
    const ack = expectEvent(await client.request('chat.send', { text: 'What is the status?' }), 'ack');
    const question = ack.data.replyTo;
    await fake.waitFor((r) => r.agent === 'clarifier');
    await sleep(600); // worker 1 is streaming its answer
    worker1.kill('SIGSTOP');
    try {
      await startMaws('worker', env);
      await client.waitForEvent('chat.response', (f) => f.data.replyTo === question, 30_000);
    } finally {
      worker1.kill('SIGCONT');
    }
    // Worker 1 finishes its answer (a few more seconds of words), and its write is refused.
    const deadline = Date.now() + 20_000;
    while (!/chat job \S+ was answered already/.test(worker1.output()) && Date.now() < deadline) await sleep(100);
    expect(worker1.output()).toMatch(/chat job \S+ was answered already/);
    await client.flush();
    const answers = client.frames.filter((f) => f.event === 'chat.response' && f.data.replyTo === question);
    expect(answers).toHaveLength(1);
    expect(worker1.running).toBe(true);
  });
});

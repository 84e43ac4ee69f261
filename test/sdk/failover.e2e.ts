/**
 * @maws/client with two gateways behind a TCP balancer (issue 16): the gateway the client is
 * on freezes (SIGSTOP) mid-run, its socket still open and its kernel still taking
 * connections. The client notices by its own ping (15 s of silence, then 10 s), gets a new
 * token, reconnects through the balancer to the live gateway, and resumes: the run completes
 * with every seq once, in order; the client is back within 30 s of the freeze.
 */
import WebSocket from 'ws';
import { createMawsClient, type AnyDurableFrame, type SocketConstructor } from '../../packages/client/src';
import { registerCleanup } from '../support/cleanup';
import type { MawsProcess } from '../support/maws-process';
import { QUERY, unique } from '../support/scenario';
import { setUpSuite, startStack } from '../support/suite';
import { startTcpBalancer, type TcpBalancer } from '../support/tcp-balancer';
import { eventually } from '../support/timing';
import { signToken } from '../support/tokens';

jest.setTimeout(120_000);

let gateways: MawsProcess[];
let balancer: TcpBalancer;

setUpSuite(async () => {
  const stack = await startStack(['gateway', 'gateway', 'worker'], { OFFLINE_TOKEN_DELAY_MS: '30' });
  gateways = [stack.procs[0], stack.procs[1]];
  balancer = await startTcpBalancer(gateways.map((g) => g.port!));
});

it('the gateway freezes mid-run: the client is back on the other one within 30 s and the run completes gap-free', async () => {
  const user = unique('failover-user');
  let tokens = 0;
  const client = createMawsClient({
    url: `ws://${balancer.host}`,
    sessionId: unique('failover'),
    getToken: () => {
      tokens += 1;
      return signToken(user);
    },
    WebSocket: WebSocket as unknown as SocketConstructor,
  });
  registerCleanup(() => Promise.resolve(client.close()));
  await eventually(() => Promise.resolve(client.status === 'open'), 10_000, 'the client to connect');
  const frozen = gateways.find((g) => g.port === balancer.lastBackend)!;
  const frames: AnyDurableFrame[] = [];
  const ended = (async () => {
    for await (const frame of client.events()) {
      frames.push(frame);
      if (frame.event === 'run.completed') break;
    }
  })();
  const { runId } = await client.request('task.start', { text: QUERY });
  await eventually(() => Promise.resolve(frames.some((f) => f.event === 'agent.delta')), 10_000, 'a delta');
  frozen.kill('SIGSTOP');
  registerCleanup(() => Promise.resolve(frozen.kill('SIGCONT')));
  const frozenAt = Date.now();
  await eventually(() => Promise.resolve(client.status === 'reconnecting'), 40_000, 'the client to notice');
  await eventually(() => Promise.resolve(client.status === 'open'), 40_000, 'the client to be back');
  const backMs = Date.now() - frozenAt;
  console.log(`failover: the client was back on the live gateway ${backMs} ms after the freeze`);
  expect(backMs).toBeLessThan(30_000);
  expect(balancer.lastBackend).not.toBe(frozen.port);
  await ended;
  expect(frames.at(-1)).toMatchObject({ event: 'run.completed', data: { runId } });
  const seqs = frames.map((f) => f.seq);
  expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => seqs[0] + i));
  // The token was good for the whole while: asked once.
  expect(tokens).toBe(1);
  frozen.kill('SIGCONT');
  client.close();
});

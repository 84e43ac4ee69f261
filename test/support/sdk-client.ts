/**
 * Test support: a session's client for the tests that act as a client (a person driving runs:
 * plan review, questions, steering), on @maws/client, the package every client of MAWS is
 * meant to use: its reconnect, resume and request correlation are then exercised by every
 * such test. It records what the package hands on (durable frames once each, in seq order,
 * and every reply) with the same waits as the raw wire client, TestClient, which the tests of
 * the wire itself keep using: they must see exactly what the server sends.
 */
import WebSocket from 'ws';
import { createMawsClient, type MawsClient, type SocketConstructor } from '../../packages/client/src';
import type { ClientCommandMap, ClientCommandName } from '../../src/contract';
import { registerCleanup } from './cleanup';
import { FrameLog } from './frame-log';
import { isEvent } from './frames';
import type { CommandReply, DataArg } from './ws-client';

const open = new Set<SdkTestClient>();

export class SdkTestClient extends FrameLog {
  private idCounter = 0;

  private constructor(readonly client: MawsClient) {
    super();
    client.on('frame', (frame) => this.record(JSON.stringify(frame), frame));
  }

  /** A client of the session; it connects (and reconnects) by itself. */
  static create(wsUrl: string, sessionId: string, token: string, opts: { lastSeq?: number } = {}): SdkTestClient {
    const client = createMawsClient({
      url: wsUrl,
      sessionId,
      getToken: () => token,
      WebSocket: WebSocket as unknown as SocketConstructor,
      backoff: { minMs: 100, maxMs: 1_000 },
      // The waits are the test's (request's timeoutMs); the package's own is a backstop.
      requestTimeoutMs: 120_000,
      ...(opts.lastSeq !== undefined ? { lastSeq: opts.lastSeq } : {}),
    });
    const c = new SdkTestClient(client);
    open.add(c);
    registerCleanup(closeAllSdkClients);
    return c;
  }

  /**
   * Sends a command through the package and resolves with its `ack` or `error` frame (as
   * TestClient does); rejects when none comes within `timeoutMs`.
   */
  request<C extends ClientCommandName>(event: C, ...args: [...DataArg<C>, timeoutMs?: number]): Promise<CommandReply> {
    const [data, timeoutMs] = args as unknown as [ClientCommandMap[C] | undefined, number | undefined];
    return this.requestUnchecked(event, data ?? {}, timeoutMs);
  }

  /** `request` with data the contract does not check, for tests that send bad commands on purpose. */
  requestUnchecked(event: string, data: unknown, timeoutMs = 15_000): Promise<CommandReply> {
    this.idCounter += 1;
    const id = `s${this.idCounter}`;
    const reply = this.waitFor(
      (f): f is CommandReply => isEvent(f, ['ack', 'error']) && f.data.replyTo === id,
      timeoutMs,
      this.frames.length,
    );
    // Its answer is read from the frames; the package's own rejection (an error reply, or
    // OFFLINE while reconnecting) is the same news.
    this.client.request(event as ClientCommandName, data as never, { id }).catch(() => undefined);
    return reply;
  }

  close(): Promise<void> {
    open.delete(this);
    this.client.close();
    this.end('client closed');
    return Promise.resolve();
  }
}

/** Closes every SdkTestClient still open. */
export async function closeAllSdkClients(): Promise<void> {
  await Promise.all([...open].map((c) => c.close()));
}

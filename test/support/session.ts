/**
 * Test support: opening a session's socket the way every scenario does: connect, and take the
 * snapshot the contract sends first; or see how the upgrade was answered.
 */
import type { ReplyFrame } from '../../src/contract';
import { expectEvent } from './frames';
import type { MawsProcess } from './maws-process';
import { unique } from './scenario';
import { signToken } from './tokens';
import { SdkTestClient } from './sdk-client';
import { TestClient, UpgradeRejectedError, type ConnectOptions } from './ws-client';

/** Where to connect: a gateway (or `all`) process. */
export type Gateway = Pick<MawsProcess, 'wsUrl'>;

export interface Connected {
  client: TestClient;
  /** The first frame the socket got. */
  snapshot: ReplyFrame<'session.snapshot'>;
}

/**
 * Connects to the session (`token` null: with none) and waits for its first frame, which must
 * be the session.snapshot, a reply (no seq).
 */
export async function connect(
  gateway: Gateway,
  sessionId: string,
  token: string | null,
  opts: ConnectOptions = {},
): Promise<Connected> {
  const client = await TestClient.connect(gateway.wsUrl!, sessionId, token, opts);
  const snapshot = expectEvent(await client.waitFor(() => true, 10_000), 'session.snapshot');
  if ('seq' in snapshot) throw new Error(`the snapshot has a seq: ${JSON.stringify(snapshot)}`);
  return { client, snapshot };
}

/** A new session (sessionId `prefix-…`) of a new user, connected. */
export async function newSession(
  gateway: Gateway,
  prefix: string,
  opts: ConnectOptions = {},
): Promise<Connected & { sessionId: string; token: string }> {
  const sessionId = unique(prefix);
  const token = signToken(unique(`${prefix}-user`));
  return { ...(await connect(gateway, sessionId, token, opts)), sessionId, token };
}

/**
 * Connects like `connect` and returns the open socket, or the HTTP status of a refused
 * upgrade. Any other failure throws.
 */
export async function openOrRefused(
  gateway: Gateway,
  sessionId: string,
  token: string | null,
  opts: ConnectOptions = {},
): Promise<TestClient | number> {
  try {
    return (await connect(gateway, sessionId, token, opts)).client;
  } catch (err) {
    if (err instanceof UpgradeRejectedError) return err.statusCode;
    throw err;
  }
}

/**
 * How the upgrade was answered, as an HTTP status: 101 when a socket opened (and served its
 * snapshot; it is closed again), else the status of the refusal.
 */
export async function upgradeStatus(
  gateway: Gateway,
  sessionId: string,
  token: string | null,
  opts: ConnectOptions = {},
): Promise<number> {
  const opened = await openOrRefused(gateway, sessionId, token, opts);
  if (typeof opened === 'number') return opened;
  await opened.close();
  return 101;
}

/**
 * Like `connect`, with @maws/client (SdkTestClient): for the tests that act as a client rather
 * than test the wire. Resolves once the package has handed on the session's snapshot.
 */
export async function connectSdk(
  gateway: Gateway,
  sessionId: string,
  token: string,
  opts: { lastSeq?: number } = {},
): Promise<{ client: SdkTestClient; snapshot: ReplyFrame<'session.snapshot'> }> {
  const client = SdkTestClient.create(gateway.wsUrl!, sessionId, token, opts);
  const snapshot = await client.waitForEvent('session.snapshot', undefined, 10_000);
  return { client, snapshot };
}

/** `newSession` with @maws/client: a new session (sessionId `prefix-…`) of a new user, connected. */
export async function newSdkSession(
  gateway: Gateway,
  prefix: string,
): Promise<{ client: SdkTestClient; snapshot: ReplyFrame<'session.snapshot'>; sessionId: string; token: string }> {
  const sessionId = unique(prefix);
  const token = signToken(unique(`${prefix}-user`));
  return { ...(await connectSdk(gateway, sessionId, token)), sessionId, token };
}

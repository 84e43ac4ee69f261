/**
 * Security e2e: a socket lives no longer than its token (issue 4, "exp honoured").
 *
 * - A socket whose token expires in ~2 s is closed with 4401 at the expiry (not before it).
 * - `{"event":"auth.refresh","data":{"token"}}` with a later token for the same sub, sent
 *   before the expiry, is acked and keeps the socket open past the old expiry.
 * - auth.refresh with another sub's token (or a bad, or an expired one) → VALIDATION_FAILED,
 *   and the socket still closes with 4401 at the old expiry.
 */
import { expectEvent } from '../support/frames';
import { TEST_JWT_SECRET, type MawsProcess } from '../support/maws-process';
import { connect } from '../support/session';
import { setUpSuite, startStack } from '../support/suite';
import { signToken } from '../support/tokens';
import type { TestClient } from '../support/ws-client';

jest.setTimeout(60_000);

let gw: MawsProcess;

setUpSuite(async () => {
  [gw] = (await startStack(['gateway'])).procs;
});

/** An `exp` (seconds) at least `minSeconds` from now. */
function expAtLeast(minSeconds: number): number {
  return Math.ceil(Date.now() / 1000 + minSeconds);
}

async function open(sub: string, exp: number, sessionId: string): Promise<TestClient> {
  return (await connect(gw, sessionId, signToken(sub, TEST_JWT_SECRET, { exp }))).client;
}

describe('token expiry on an open socket', () => {
  it('is closed with 4401 at the expiry of its token', async () => {
    const exp = expAtLeast(2);
    const client = await open('exp-alice', exp, 'exp-plain');
    await client.flush();
    const closed = await client.closedWithin(exp * 1000 - Date.now() + 5_000);
    expect(closed).not.toBeNull();
    expect(closed!.info.code).toBe(4401);
    // Not before the expiry, and promptly after it.
    expect(closed!.at).toBeGreaterThanOrEqual(exp * 1000 - 50);
    expect(closed!.at).toBeLessThanOrEqual(exp * 1000 + 2_500);
  });

  it('stays open past the expiry after auth.refresh with a later token for the same sub', async () => {
    const exp = expAtLeast(2);
    const client = await open('exp-bob', exp, 'exp-refresh');
    const later = signToken('exp-bob', TEST_JWT_SECRET, { expiresInSec: 3600 });
    const reply = await client.request('auth.refresh', { token: later });
    expect(reply.event).toBe('ack');
    // Well past the old expiry (the sweep runs at least every second).
    const closed = await client.closedWithin(exp * 1000 - Date.now() + 2_500);
    expect(closed).toBeNull();
    expect(client.isOpen).toBe(true);
    await client.flush();
    await client.close();
  });

  it('a refresh to a token that expires soon moves the close to that expiry', async () => {
    const exp = expAtLeast(1.5);
    const client = await open('exp-carol', exp, 'exp-refresh-short');
    const exp2 = exp + 2;
    const reply = await client.request('auth.refresh', {
      token: signToken('exp-carol', TEST_JWT_SECRET, { exp: exp2 }),
    });
    expect(reply.event).toBe('ack');
    const closed = await client.closedWithin(exp2 * 1000 - Date.now() + 5_000);
    expect(closed).not.toBeNull();
    expect(closed!.info.code).toBe(4401);
    expect(closed!.at).toBeGreaterThanOrEqual(exp2 * 1000 - 50);
  });

  it("auth.refresh with another sub's token → VALIDATION_FAILED, and the socket still closes at the old expiry", async () => {
    const exp = expAtLeast(2);
    const client = await open('exp-dave', exp, 'exp-other-sub');
    const other = signToken('exp-mallory', TEST_JWT_SECRET, { expiresInSec: 3600 });
    const reply = expectEvent(await client.request('auth.refresh', { token: other }), 'error');
    expect(reply.data.code).toBe('VALIDATION_FAILED');
    // Bad and expired tokens for the same sub change nothing either.
    const forged = signToken('exp-dave', 'not-the-secret-0123456789abcdef', { expiresInSec: 3600 });
    const bad = expectEvent(await client.request('auth.refresh', { token: forged }), 'error');
    expect(bad.data.code).toBe('VALIDATION_FAILED');
    const expired = expectEvent(
      await client.request('auth.refresh', {
        token: signToken('exp-dave', TEST_JWT_SECRET, { expiresInSec: -10 }),
      }),
      'error',
    );
    expect(expired.data.code).toBe('VALIDATION_FAILED');
    const closed = await client.closedWithin(exp * 1000 - Date.now() + 5_000);
    expect(closed).not.toBeNull();
    expect(closed!.info.code).toBe(4401);
    expect(closed!.at).toBeLessThanOrEqual(exp * 1000 + 2_500);
  });

  it('one socket of a user refreshing does not keep that user’s other sockets open', async () => {
    const exp = expAtLeast(2);
    const refreshed = await open('exp-erin', exp, 'exp-two-a');
    const other = await open('exp-erin', exp, 'exp-two-b');
    const reply = await refreshed.request('auth.refresh', {
      token: signToken('exp-erin', TEST_JWT_SECRET, { expiresInSec: 3600 }),
    });
    expect(reply.event).toBe('ack');
    const closed = await other.closedWithin(exp * 1000 - Date.now() + 5_000);
    expect(closed?.info.code).toBe(4401);
    expect(refreshed.isOpen).toBe(true);
    await refreshed.close();
  });
});

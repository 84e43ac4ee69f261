/**
 * Test support: a test's own connections to the Redis MAWS uses, to look at what it stored
 * from outside (by key pattern, as an operator would). cleanupAll disconnects them.
 */
import Redis from 'ioredis';
import { registerCleanup } from './cleanup';

const admins = new Set<Redis>();

function disconnectAdmins(): Promise<void> {
  for (const admin of admins) admin.disconnect();
  admins.clear();
  return Promise.resolve();
}

/** A connection to `server` that waits out a Redis restart rather than failing its commands. */
export function adminRedis(server: { url: string }): Redis {
  const admin = new Redis(server.url, { maxRetriesPerRequest: null });
  admin.on('error', () => undefined);
  admins.add(admin);
  registerCleanup(disconnectAdmins);
  return admin;
}

/** The one key `maws:{USER.SESSION}:KIND` of the session `sessionId` (its user part is a hash of the sub). */
export async function sessionKey(admin: Redis, sessionId: string, kind: 'log' | 'seq' | 'state'): Promise<string> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await admin.scan(cursor, 'MATCH', `maws:{*.${sessionId}}:${kind}`, 'COUNT', 1000);
    cursor = next;
    keys.push(...found);
  } while (cursor !== '0');
  if (keys.length !== 1) throw new Error(`${kind} key of session ${sessionId}: ${JSON.stringify(keys)}`);
  return keys[0];
}

/** The frames stored in a session's log stream, as the text MAWS wrote, in order. */
export async function storedFrames(admin: Redis, logKey: string): Promise<string[]> {
  const entries = (await admin.xrange(logKey, '-', '+')) as [string, string[]][];
  return entries.map(([, fields]) => fields[1]);
}

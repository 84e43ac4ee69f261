import * as crypto from 'node:crypto';

/** A sessionId as the contract allows it: 1 to 64 of A-Z a-z 0-9 _ -. */
export const SESSION_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export function isValidSessionId(id: string): boolean {
  return SESSION_ID_PATTERN.test(id);
}

/**
 * The Redis identity of a session, (user, sessionId). The user is hashed so that no
 * character of a token's `sub` ever reaches a key name, and two users with one sessionId
 * never share a key.
 */
export function sessionKeyOf(sub: string, sessionId: string): string {
  if (!isValidSessionId(sessionId)) throw new Error('invalid sessionId');
  return `${userKeyOfSub(sub)}.${sessionId}`;
}

/** Node's one-shot hash (20.12+): no Hash object per call, which a socket's upgrade made. */
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: 'base64url') => string }).hash;

/** A user's key: their token's `sub`, hashed. */
export function userKeyOfSub(sub: string): string {
  const digest = oneShotHash
    ? oneShotHash('sha256', sub, 'base64url')
    : crypto.createHash('sha256').update(sub).digest('base64url');
  return digest.slice(0, 22);
}

/** The user part of a session key: the hashed `sub`. */
export function userKeyOf(sessionKey: string): string {
  return sessionKey.slice(0, sessionKey.indexOf('.'));
}

/** The sessionId part of a session key. */
export function sessionIdOf(sessionKey: string): string {
  return sessionKey.slice(sessionKey.indexOf('.') + 1);
}

/** Keys of one user, across sessions (run limits). */
export class UserKeys {
  constructor(readonly userKey: string) {}
  get activeRuns(): string {
    return `maws:u:{${this.userKey}}:active`;
  }
  runsThisMinute(now = Date.now()): string {
    return `maws:u:{${this.userKey}}:rpm:${Math.floor(now / 60_000)}`;
  }
  /** v2 "Sessions over HTTP": the user's sessions (sessionId → when a run last began there). */
  get sessions(): string {
    return `maws:u:{${this.userKey}}:sessions`;
  }
}

/** Every Redis key of one session shares a hash tag, so a session lives on one cluster slot. */
export class SessionKeys {
  constructor(readonly sessionKey: string) {}
  /** What every key of the session begins with. */
  get base(): string {
    return `maws:{${this.sessionKey}}`;
  }
  get state(): string {
    return `${this.base}:state`;
  }
  get seq(): string {
    return `${this.base}:seq`;
  }
  get log(): string {
    return `${this.base}:log`;
  }
  get channel(): string {
    return `${this.base}:live`;
  }
  /** Ids of writes that must happen once (a chat job's answer), each set by the one that made it. */
  get written(): string {
    return `${this.base}:written`;
  }
  run(runId: string): string {
    return `${this.base}:run:${runId}`;
  }
  /**
   * Set when the session is deleted (DELETE /sessions/{id}), for its history's TTL: a worker
   * that finds the session gone can tell a deletion from Redis having lost it.
   */
  get deleted(): string {
    return `${this.base}:deleted`;
  }
  /** The session's runs (runId → when it was queued): the newest are kept, older records pruned. */
  get runs(): string {
    return `${this.base}:runs`;
  }
  /** v2 "Observability": the trace of the run's current activation and of its last one. */
  runTrace(runId: string): string {
    return `${this.run(runId)}:trace`;
  }
}

/**
 * BullMQ's key prefix for one queue: every key of the queue starts with it, and its hash tag
 * (one per queue) keeps the queue on one cluster slot, as BullMQ's scripts need, while the
 * queues spread over the masters. (Before v2 "Redis Cluster" every queue was under `maws:q`.)
 */
export function queuePrefixOf(queue: 'resolver' | 'clarifier'): string {
  return `maws:q:{${queue}}`;
}

/** Pub/sub channel on which cancels reach whichever worker holds the run. */
export const CONTROL_CHANNEL = 'maws:control';

/** The deployment's run counters and duration histogram (a hash; see FINISH_RUN). */
export const STATS_KEY = 'maws:stats';

/** Runs begun and not yet ended, across the deployment: "sessionKey|runId" → begin time. */
export const PENDING_RUNS_KEY = 'maws:runs:pending';

/** The member of PENDING_RUNS_KEY that stands for one run. */
export function pendingRunMember(sessionKey: string, runId: string): string {
  return `${sessionKey}|${runId}`;
}

/** The run a PENDING_RUNS_KEY member stands for. */
export function parsePendingRunMember(member: string): { sessionKey: string; runId: string } {
  const [sessionKey, runId] = member.split('|');
  return { sessionKey, runId };
}

/** Upper bounds (seconds) of the run duration histogram kept in STATS_KEY. */
export const RUN_DURATION_BUCKETS = [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

/** Written (with a short expiry) to learn whether Redis takes writes: see StoreWrites. */
export const WRITE_PROBE_KEY = 'maws:write-probe';

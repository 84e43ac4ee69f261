import type { RedisClient } from '../store/redis-connection';
import { ClientError } from '../common/client-error';
import type { AnyDurableFrame, SessionState } from '../contract';
import type { EventLog } from '../events/event-log';
import type { SessionCommands } from '../session/session-commands';
import { SessionKeys, UserKeys, sessionKeyOf, userKeyOfSub } from '../store/redis-keys';
import { SessionField } from '../store/session-record';

/** A session as `GET /sessions` lists it (v2 "Sessions over HTTP"). */
export interface SessionSummary {
  sessionId: string;
  /** The session's first task, clipped. */
  title: string;
  state: SessionState;
  lastSeq: number;
  /** ISO times: when its first run began, and its latest event. */
  createdAt: string;
  updatedAt: string;
}

/** A page of a session's history, as `GET /sessions/{id}/events` answers it. */
export interface SessionEvents {
  events: AnyDurableFrame[];
  lastSeq: number;
  /** MAWS addition: false when events after `afterSeq` were already trimmed from the history. */
  complete: boolean;
}

/** How many sessions `GET /sessions` lists at most (the newest). */
export const MAX_LISTED_SESSIONS = 100;

/**
 * A user's sessions over HTTP: the list (from the user's index, which each run's begin keeps),
 * one session's history in pages, and deleting one. Everything is looked up by the caller's
 * own session key, so another user's session is simply not there (404, never 403).
 */
export class SessionDirectory {
  constructor(
    private readonly redis: RedisClient,
    private readonly log: EventLog,
    private readonly commands: SessionCommands,
  ) {}

  /** The user's sessions, newest first; sessions whose history has expired leave the index. */
  async list(sub: string): Promise<SessionSummary[]> {
    const index = new UserKeys(userKeyOfSub(sub)).sessions;
    const ids = await this.redis.zrevrange(index, 0, MAX_LISTED_SESSIONS - 1);
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) {
      const k = new SessionKeys(sessionKeyOf(sub, id));
      pipeline.hmget(k.state, SessionField.state, SessionField.title, SessionField.createdAt);
      pipeline.get(k.seq);
      pipeline.xrevrange(k.log, '+', '-', 'COUNT', 1);
    }
    const replies = (await pipeline.exec()) ?? [];
    const gone: string[] = [];
    const sessions: SessionSummary[] = [];
    ids.forEach((sessionId, i) => {
      const [state, title, createdAt] = (replies[i * 3]?.[1] ?? []) as (string | null)[];
      const seq = replies[i * 3 + 1]?.[1] as string | null;
      const last = (replies[i * 3 + 2]?.[1] ?? []) as [string, string[]][];
      if (title === null || title === undefined || seq === null) {
        gone.push(sessionId);
        return;
      }
      const created = new Date(Number(createdAt ?? 0)).toISOString();
      sessions.push({
        sessionId,
        title,
        state: (state ?? 'IDLE') as SessionState,
        lastSeq: Number(seq),
        createdAt: created,
        updatedAt: tsOf(last[0]?.[1]?.[1]) ?? created,
      });
    });
    if (gone.length > 0) await this.redis.zrem(index, ...gone);
    return sessions.sort((a, b) => b.updatedAt.localeCompare(a.updatedAt));
  }

  /** Durable frames after `afterSeq` (at most `limit`) and the session's last seq; null when there is no such session. */
  async events(sub: string, sessionId: string, afterSeq: number, limit: number): Promise<SessionEvents | null> {
    const sessionKey = sessionKeyOf(sub, sessionId);
    const [page, seq] = await Promise.all([
      this.log.readAfter(sessionKey, afterSeq, limit),
      this.redis.get(new SessionKeys(sessionKey).seq),
    ]);
    if (seq === null) return null;
    return {
      events: page.frames.map((f) => JSON.parse(f) as AnyDurableFrame),
      lastSeq: Number(seq),
      complete: page.complete,
    };
  }

  /**
   * Deletes the session: its run is cancelled first (run.cancelled reaches its sockets), then
   * its history, records and index entry are removed, and every gateway closes its sockets
   * (4404). False when there is no such session.
   */
  async delete(sub: string, sessionId: string): Promise<boolean> {
    const sessionKey = sessionKeyOf(sub, sessionId);
    const k = new SessionKeys(sessionKey);
    const [seq, state] = await Promise.all([this.redis.get(k.seq), this.redis.hget(k.state, SessionField.state)]);
    if (seq === null && state === null) return false;
    if (state === 'EXECUTING') {
      await this.commands.cancel(sessionKey).catch((err: unknown) => {
        // Ended meanwhile: nothing left to cancel.
        if (!(err instanceof ClientError && err.code === 'INVALID_STATE')) throw err;
      });
    }
    await this.log.deleteSession(sessionKey);
    await this.redis.zrem(new UserKeys(userKeyOfSub(sub)).sessions, sessionId);
    await this.log.announceDeleted(sessionKey);
    return true;
  }
}

/** The `ts` of a stored frame (it ends the frame: `"ts":"..."}`). */
function tsOf(frame: string | undefined): string | undefined {
  return frame ? /"ts":"([^"]+)"\}$/.exec(frame)?.[1] : undefined;
}

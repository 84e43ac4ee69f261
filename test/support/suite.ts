/// <reference types="jest" />
/**
 * Test support: a test file's set-up and tear-down: the hooks that start its processes and
 * stop everything afterwards, and the usual start-up (a redis-server and MAWS processes on it).
 */
import { cleanupAll } from './cleanup';
import { startMaws, type MawsEnv, type MawsProcess, type MawsRole } from './maws-process';
import { startRedis, type RedisServer, type StartRedisOptions } from './redis-server';

/**
 * Registers the file's hooks: `start`, when given, in a beforeAll, and cleanupAll in an
 * afterAll. When `start` throws, everything started so far is cleaned up before the error is
 * reported.
 */
export function setUpSuite(start?: () => Promise<void>): void {
  if (start) {
    beforeAll(async () => {
      try {
        await start();
      } catch (err) {
        await cleanupAll();
        throw err;
      }
    });
  }
  afterAll(cleanupAll);
}

export interface Stack<R extends readonly MawsRole[]> {
  redis: RedisServer;
  /** The environment every process was started with: REDIS_URL and the caller's `env`. */
  env: MawsEnv;
  /** One process per role, in the order of the roles. */
  procs: { -readonly [K in keyof R]: MawsProcess };
}

/** A fresh redis-server and, on it, one MAWS process per role, all started with `env`. */
export async function startStack<const R extends readonly MawsRole[]>(
  roles: R,
  env: MawsEnv = {},
  redisOptions: StartRedisOptions = {},
): Promise<Stack<R>> {
  const redis = await startRedis(redisOptions);
  const stackEnv: MawsEnv = { REDIS_URL: redis.url, ...env };
  const procs = await Promise.all(roles.map((role) => startMaws(role, stackEnv)));
  return { redis, env: stackEnv, procs: procs as Stack<R>['procs'] };
}

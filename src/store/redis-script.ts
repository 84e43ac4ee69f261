import type { RedisClient } from './redis-connection';

type ScriptValue = string | number;

export interface ScriptSpec<K extends string, A extends string> {
  /** Registered on a connection as `maws_<name>`. */
  name: string;
  /**
   * Whether the script writes. A writing script is refused by Redis as a whole, before it
   * runs, while Redis refuses writes (out of memory, MISCONF, a read-only replica); without the
   * declaration Redis would only refuse its first memory-growing command, and a script whose
   * first write frees memory (ZREMRANGEBYSCORE, DEL) would then be let write past maxmemory.
   * A reading script runs throughout.
   */
  writes: boolean;
  /** KEYS, in order; each becomes a Lua local of that name. */
  keys: readonly K[];
  /** The fixed ARGV, in order; each becomes a Lua local of that name. Anything after them is `REST`. */
  args: readonly A[];
  /** Lua that the keys' and args' locals are in scope for (functions of the prelude, then the body). */
  body: string;
}

/** A bound script: called with its keys and args by name, plus the variadic rest after them. */
export type ScriptCall<K extends string, A extends string> = (
  keys: Record<K, string>,
  args: Record<A, ScriptValue>,
  rest?: readonly ScriptValue[],
) => Promise<unknown>;

/**
 * A Redis Lua script whose KEYS and ARGV are named once: the Lua text starts with one local
 * per name (`local ttl = ARGV[2]`), and callers pass objects keyed by the same names, so a
 * missing, extra or misplaced argument is a compile error rather than a shifted ARGV.
 * Variadic values follow the named ones; the Lua sees where they start as `REST`.
 */
export class RedisScript<K extends string, A extends string> {
  /** The script as Redis 7 takes it: declared writing or reading (see ScriptSpec.writes). */
  readonly lua: string;

  constructor(private readonly spec: ScriptSpec<K, A>) {
    const keys = spec.keys.map((name, i) => `local ${name} = KEYS[${i + 1}]`);
    const args = spec.args.map((name, i) => `local ${name} = ARGV[${i + 1}]`);
    // Redis 7 script flags (MAWS refuses an older Redis at start-up): with a shebang and no
    // `allow-oom`, a script is refused at entry under OOM (and, unless `no-writes`, under
    // MISCONF and on a read-only replica).
    this.lua = [
      spec.writes ? '#!lua' : '#!lua flags=no-writes',
      ...keys,
      ...args,
      `local REST = ${spec.args.length + 1}`,
      spec.body,
    ].join('\n');
  }

  get name(): string {
    return this.spec.name;
  }

  /** The flat KEYS-then-ARGV list that EVALSHA takes, in the declared order. */
  argv(keys: Record<K, string>, args: Record<A, ScriptValue>, rest: readonly ScriptValue[] = []): ScriptValue[] {
    return [...this.spec.keys.map((k) => keys[k]), ...this.spec.args.map((a) => args[a]), ...rest];
  }

  /** Defines the script on `redis` (once per connection) and returns a caller for it. */
  bind(redis: RedisClient): ScriptCall<K, A> {
    const command = `maws_${this.spec.name}`;
    if (!(command in redis)) redis.defineCommand(command, { numberOfKeys: this.spec.keys.length, lua: this.lua });
    const run = (redis as unknown as Record<string, (...values: ScriptValue[]) => Promise<unknown>>)[command].bind(
      redis,
    );
    return (keys, args, rest) => run(...this.argv(keys, args, rest));
  }
}

import type { RedisClient, RedisTarget } from '../store/redis-connection';
import type { InputKind, InputResolution, PlanUpdateReason } from '../contract';
import { openRedis } from '../store/redis-connection';
import { STATS_KEY } from '../store/redis-keys';
import { writeRefusalOf } from '../store/write-refusal';
import { CountBatcher } from './count-batcher';

/** Upper bounds (seconds) of the tool call duration histogram. */
export const TOOL_DURATION_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Upper bounds (seconds) of the histogram of how long input requests waited for the person. */
export const INPUT_WAIT_BUCKETS = [10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600];

/**
 * The STATS_KEY fields of what runs did. Label values go into the field as a JSON array (as the
 * token counts do), so any tool name round-trips; a histogram's buckets end with the bound.
 */
export const WorkField = {
  toolCalls: 'toolcalls:',
  toolDuration: 'tooldur:',
  toolDurationSum: 'tooldursum:',
  inputsAsked: 'inputsasked:',
  inputsResolved: 'inputsresolved:',
  inputWait: 'inputwait:',
  inputWaitSum: 'inputwaitsum:',
  replans: 'replans:',
  steers: 'steers',
} as const;

const SUM_FIELDS: string[] = [WorkField.toolDurationSum, WorkField.inputWaitSum];

/** How long counts wait to be written together. */
const FLUSH_MS = 250;

type Increment = [field: string, by: number];

/**
 * What runs did, counted where it happens (tool calls, requests to the person, replans,
 * steers) and added to the deployment's figures in Redis in batches; the gateway renders them
 * on /metrics beside the run counters. Best-effort, like the token counts: counting never
 * holds up or fails a run.
 */
export class WorkCounters {
  constructor(
    private readonly add: (increment: Increment) => void,
    /** INPUT_TTL_SECONDS in ms: a request's ask time is its expiry less this. */
    private readonly inputTtlMs: number,
  ) {}

  /** A tool call's outcome (`ok`, or its TOOL_* code) and duration. */
  toolCall(tool: string, outcome: string, ms: number): void {
    this.add([WorkField.toolCalls + JSON.stringify([tool, outcome]), 1]);
    this.observe(WorkField.toolDuration, WorkField.toolDurationSum, [tool], ms / 1000, TOOL_DURATION_BUCKETS);
  }

  inputAsked(kind: InputKind): void {
    this.add([WorkField.inputsAsked + JSON.stringify([kind]), 1]);
  }

  /** A request answered, cancelled or expired, and how long it waited for that. */
  inputResolved(kind: InputKind, status: InputResolution, expiresAt: string): void {
    this.add([WorkField.inputsResolved + JSON.stringify([kind, status]), 1]);
    const askedAt = Date.parse(expiresAt) - this.inputTtlMs;
    if (Number.isNaN(askedAt)) return;
    const waited = Math.max(0, (Date.now() - askedAt) / 1000);
    this.observe(WorkField.inputWait, WorkField.inputWaitSum, [kind], waited, INPUT_WAIT_BUCKETS);
  }

  replanned(reason: PlanUpdateReason): void {
    this.add([WorkField.replans + JSON.stringify([reason]), 1]);
  }

  /** Instructions a run took in (run.steered). */
  steered(count: number): void {
    this.add([WorkField.steers, count]);
  }

  /** A cumulative histogram: every bucket the value fits in, `+Inf` (the count), and the sum. */
  private observe(prefix: string, sumPrefix: string, labels: string[], value: number, buckets: number[]): void {
    for (const le of buckets) if (value <= le) this.add([prefix + JSON.stringify([...labels, String(le)]), 1]);
    this.add([prefix + JSON.stringify([...labels, '+Inf']), 1]);
    this.add([sumPrefix + JSON.stringify(labels), value]);
  }
}

/** Counts nothing: the process's counters until startWorkCounters (unit tests, the clarifier thread). */
let current = new WorkCounters(() => undefined, 0);

/** The process's counters (set once at start-up, as the logger is). */
export function workCounters(): WorkCounters {
  return current;
}

/**
 * Counts into Redis from now on, on a connection of its own opened at the first write.
 * `flush` writes what is held; `close` (at shutdown) also closes the connection.
 */
export function startWorkCounters(
  target: RedisTarget,
  inputTtlSeconds: number,
): { flush(): Promise<void>; close(): Promise<void> } {
  let redis: RedisClient | undefined;
  const batcher = new CountBatcher<Increment>(
    async (increments) => {
      redis ??= openRedis(target, 'work-metrics', { lazyConnect: true, maxRetriesPerRequest: 1 });
      const summed = new Map<string, number>();
      for (const [field, by] of increments) summed.set(field, (summed.get(field) ?? 0) + by);
      const tx = redis.multi();
      for (const [field, by] of summed) {
        // Sums (seconds) are floats in Redis; HINCRBY on one would be refused.
        if (SUM_FIELDS.some((prefix) => field.startsWith(prefix))) tx.hincrbyfloat(STATS_KEY, field, by);
        else tx.hincrby(STATS_KEY, field, by);
      }
      await tx.exec();
    },
    FLUSH_MS,
    (err) => writeRefusalOf(err) !== undefined,
    'what runs did',
  );
  current = new WorkCounters(batcher.add, inputTtlSeconds * 1000);
  return {
    flush: () => batcher.flush(),
    close: async () => {
      await batcher.flush();
      redis?.disconnect();
    },
  };
}

/** Injection tokens for values that are not classes. */
export const REDIS = Symbol('REDIS');
export const REDIS_SUBSCRIBER = Symbol('REDIS_SUBSCRIBER');
export const MODEL_PROVIDER = Symbol('MODEL_PROVIDER');
/** `() => Promise<QueueJobCounts>`: the queues' jobs by state, for /metrics. */
export const QUEUE_JOB_COUNTS = Symbol('QUEUE_JOB_COUNTS');

/** Jobs per queue and state (waiting, active, delayed, prioritized, failed). */
export type QueueJobCounts = Record<string, Record<string, number>>;

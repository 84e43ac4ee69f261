import type Redis from 'ioredis';
import { EventLog, RUN_DURATION_BUCKETS } from '../events/event-log';

/**
 * Run figures for the whole deployment, kept in Redis by the run-ending script (any
 * worker may end a run) and rendered in Prometheus text format on scrape.
 */
export async function renderClusterMetrics(redis: Redis): Promise<string> {
  const stats = await redis.hgetall(EventLog.statsKey());
  const n = (field: string): number => Number(stats[field] ?? 0);
  const lines = [
    '# HELP maws_runs_total Runs ended, by outcome (whole deployment, from Redis)',
    '# TYPE maws_runs_total counter',
    ...(['completed', 'failed', 'cancelled'] as const).map((o) => `maws_runs_total{outcome="${o}"} ${n(`runs:${o}`)}`),
    '# HELP maws_run_duration_seconds Time from a run being queued to its end (whole deployment)',
    '# TYPE maws_run_duration_seconds histogram',
    ...RUN_DURATION_BUCKETS.map((le) => `maws_run_duration_seconds_bucket{le="${le}"} ${n(`duration:le:${le}`)}`),
    `maws_run_duration_seconds_bucket{le="+Inf"} ${n('duration:count')}`,
    `maws_run_duration_seconds_sum ${n('duration:sum')}`,
    `maws_run_duration_seconds_count ${n('duration:count')}`,
  ];
  return `${lines.join('\n')}\n`;
}

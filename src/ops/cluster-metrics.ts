import type { RedisClient } from '../store/redis-connection';
import { RUN_DURATION_BUCKETS, STATS_KEY } from '../store/redis-keys';
import { INPUT_WAIT_BUCKETS, TOOL_DURATION_BUCKETS, WorkField } from './work-counters';

/** One model call's tokens (and cost, when LLM_PRICES prices its model). */
export interface ModelUsageRecord {
  provider: string;
  model: string;
  agent: string;
  inputTokens: number;
  outputTokens: number;
  cost?: number;
}

// Label values are kept in the field name as JSON, so any model name round-trips.
const TOKENS_PREFIX = 'tokens:';
const COST_PREFIX = 'cost:';

/**
 * Adds model calls' usage to the deployment's figures in Redis, in one transaction. Workers
 * have no HTTP port, so they count here and the gateway renders the totals on /metrics.
 */
export async function recordModelUsage(redis: RedisClient, records: ModelUsageRecord[]): Promise<void> {
  const tokens = new Map<string, number>();
  const costs = new Map<string, number>();
  const add = (into: Map<string, number>, field: string, n: number): void => {
    if (n > 0) into.set(field, (into.get(field) ?? 0) + n);
  };
  for (const r of records) {
    const field = (direction: string): string =>
      TOKENS_PREFIX + JSON.stringify([r.provider, r.model, r.agent, direction]);
    add(tokens, field('input'), r.inputTokens);
    add(tokens, field('output'), r.outputTokens);
    add(costs, COST_PREFIX + JSON.stringify([r.provider, r.model]), r.cost ?? 0);
  }
  if (tokens.size === 0 && costs.size === 0) return;
  const key = STATS_KEY;
  const tx = redis.multi();
  for (const [field, n] of tokens) tx.hincrby(key, field, n);
  for (const [field, n] of costs) tx.hincrbyfloat(key, field, n);
  await tx.exec();
}

/**
 * Run figures for the whole deployment, kept in Redis by the run-ending script (any
 * worker may end a run) and rendered in Prometheus text format on scrape.
 */
export async function renderClusterMetrics(redis: RedisClient): Promise<string> {
  const stats = await redis.hgetall(STATS_KEY);
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
    '# HELP maws_model_tokens_total Model tokens by provider, model, agent and direction (whole deployment)',
    '# TYPE maws_model_tokens_total counter',
    ...labelled(stats, TOKENS_PREFIX, ['provider', 'model', 'agent', 'direction']).map(
      ([labels, value]) => `maws_model_tokens_total{${labels}} ${value}`,
    ),
  ];
  lines.push(...renderWorkMetrics(stats));
  const costs = labelled(stats, COST_PREFIX, ['provider', 'model']);
  if (costs.length > 0) {
    lines.push(
      '# HELP maws_model_cost_total Model cost from the LLM_PRICES table, in its currency (whole deployment)',
      '# TYPE maws_model_cost_total counter',
      ...costs.map(([labels, value]) => `maws_model_cost_total{${labels}} ${value}`),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** What runs did (see WorkCounters): tool calls, requests to the person, replans, steers. */
function renderWorkMetrics(stats: Record<string, string>): string[] {
  const counter = (name: string, help: string, prefix: string, labels: string[]): string[] => [
    `# HELP ${name} ${help}`,
    `# TYPE ${name} counter`,
    ...labelled(stats, prefix, labels).map(([l, v]) => `${name}{${l}} ${v}`),
  ];
  // Every bound of every label set, 0 where nothing fell in it, as Prometheus expects.
  const histogram = (
    name: string,
    help: string,
    prefix: string,
    sumPrefix: string,
    labels: string[],
    bounds: number[],
  ): string[] => {
    const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
    for (const [field, sum] of Object.entries(stats).sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (!field.startsWith(sumPrefix)) continue;
      const values = parseLabels(field.slice(sumPrefix.length), labels.length);
      if (!values) continue;
      const set = labels.map((l, i) => `${l}="${escapeLabel(values[i])}"`).join(',');
      const bucket = (le: string): number => Number(stats[prefix + JSON.stringify([...values, le])] ?? 0);
      for (const le of [...bounds.map(String), '+Inf']) lines.push(`${name}_bucket{${set},le="${le}"} ${bucket(le)}`);
      lines.push(`${name}_sum{${set}} ${Number(sum)}`, `${name}_count{${set}} ${bucket('+Inf')}`);
    }
    return lines;
  };
  // Open requests: asked, less resolved, by kind.
  const resolved = new Map<string, number>();
  for (const [l, v] of labelled(stats, WorkField.inputsResolved, ['kind', 'status'])) {
    const kind = l.slice(0, l.indexOf(',status='));
    resolved.set(kind, (resolved.get(kind) ?? 0) + Number(v));
  }
  const asked = labelled(stats, WorkField.inputsAsked, ['kind']);
  return [
    ...counter(
      'maws_tool_calls_total',
      'Tool calls by tool and outcome (ok or the TOOL_* code; whole deployment)',
      WorkField.toolCalls,
      ['tool', 'outcome'],
    ),
    ...histogram(
      'maws_tool_call_duration_seconds',
      'Tool call duration by tool (whole deployment)',
      WorkField.toolDuration,
      WorkField.toolDurationSum,
      ['tool'],
      TOOL_DURATION_BUCKETS,
    ),
    ...counter(
      'maws_input_requests_total',
      'Input requests to the person, by kind (whole deployment)',
      WorkField.inputsAsked,
      ['kind'],
    ),
    ...counter(
      'maws_input_requests_resolved_total',
      'Input requests resolved, by kind and status (answered, expired, cancelled)',
      WorkField.inputsResolved,
      ['kind', 'status'],
    ),
    '# HELP maws_input_requests_open Input requests waiting for the person now, by kind (asked less resolved)',
    '# TYPE maws_input_requests_open gauge',
    ...asked.map(([l, v]) => `maws_input_requests_open{${l}} ${Math.max(0, Number(v) - (resolved.get(l) ?? 0))}`),
    ...histogram(
      'maws_input_wait_seconds',
      'How long input requests waited until resolved, by kind',
      WorkField.inputWait,
      WorkField.inputWaitSum,
      ['kind'],
      INPUT_WAIT_BUCKETS,
    ),
    ...counter('maws_replans_total', 'Plan revisions by reason (step_failed, steer)', WorkField.replans, ['reason']),
    '# HELP maws_steers_total Instructions running runs took in (run.steered; whole deployment)',
    '# TYPE maws_steers_total counter',
    `maws_steers_total ${Number(stats[WorkField.steers] ?? 0)}`,
  ];
}

/** The label values a field holds (a JSON array of `count` strings), or undefined. */
function parseLabels(json: string, count: number): string[] | undefined {
  try {
    const values: unknown = JSON.parse(json);
    return Array.isArray(values) && values.length === count ? values.map(String) : undefined;
  } catch {
    return undefined;
  }
}

/** Fields `<prefix>["a","b"]` as `name="a",other="b"` label sets with their values, sorted. */
function labelled(stats: Record<string, string>, prefix: string, names: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (const [field, value] of Object.entries(stats)) {
    if (!field.startsWith(prefix)) continue;
    let values: unknown;
    try {
      values = JSON.parse(field.slice(prefix.length));
    } catch {
      continue;
    }
    if (!Array.isArray(values) || values.length !== names.length) continue;
    const labels = names.map((name, i) => `${name}="${escapeLabel(String(values[i]))}"`).join(',');
    out.push([labels, String(Number(value))]);
  }
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

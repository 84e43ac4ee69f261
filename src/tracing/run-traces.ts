import { context, trace, type Context, type Link, type Span } from '@opentelemetry/api';
import type { RedisClient } from '../store/redis-connection';
import { ThrottledErrorLog } from '../common/error-log';
import { SessionKeys } from '../store/redis-keys';
import { contextUnder, spanContextOf, traceParentOf } from './trace-parent';
import { tracingActive } from './tracing';

/** The run's trace hash: the activation in progress (who asked for it, when) and the last run span. */
const Field = { activation: 'activation', last: 'last' } as const;

interface StoredActivation {
  /** The span the activation's spans hang under (a gateway command, or the first run span). */
  parent: string;
  /** When the person asked for it (a wake-up): the queue wait starts there. */
  at?: number;
}

/** Where a run activation's spans go. */
export interface ActivationTrace {
  /** The parent of its `maws.run` span (BullMQ's job span, for a first activation). */
  parent: Context;
  /** A new trace: a run woken with nobody asking (its request expired). */
  root: boolean;
  /** The run's previous activation, in another trace. */
  links: Link[];
  /** Since when the activation waited in the queue, if known here. */
  queuedSince?: number;
  /** Whether the activation's parent is stored yet (a retry of it finds it). */
  stored: boolean;
}

/**
 * One trace per run activation (v2 "Observability"). A run's first activation is carried by
 * BullMQ in its job from the gateway's command; a run woken after waiting for the person has
 * the same job, so the command that woke it is kept here, beside the run, and the woken run
 * starts under it, linked to its previous activation. A retry of an activation (a crash, a
 * stall) finds the same parent and joins the same trace. Nothing is read or written with
 * tracing off.
 */
export class RunTraces {
  /** Tracing never fails a command or a run: a read or write Redis refuses is logged and skipped. */
  private readonly errors = new ThrottledErrorLog('Tracing', "a run's trace context could not be kept in Redis");

  constructor(
    private readonly redis: RedisClient,
    /** How long the hash outlives its last write (the session's history TTL). */
    private readonly ttlSeconds: number,
  ) {}

  /** The gateway: the active span (a command) is what the run's next activation hangs under. */
  async wokenBy(sessionKey: string, runId: string): Promise<void> {
    const span = trace.getActiveSpan();
    if (!tracingActive() || !span?.isRecording()) return;
    const stored: StoredActivation = { parent: traceParentOf(span.spanContext()), at: Date.now() };
    await this.write(sessionKey, runId, { [Field.activation]: JSON.stringify(stored) });
  }

  /** The worker, before the activation's `maws.run` span starts. */
  async activationOf(sessionKey: string, runId: string): Promise<ActivationTrace | undefined> {
    if (!tracingActive()) return undefined;
    const [activation, last] = await this.redis
      .hmget(new SessionKeys(sessionKey).runTrace(runId), Field.activation, Field.last)
      .catch((err: unknown) => {
        this.errors.report(err);
        return [null, null];
      });
    const stored = parseActivation(activation);
    const lastRun = spanContextOf(last);
    const parent = spanContextOf(stored?.parent);
    const traceId = parent?.traceId;
    const links = lastRun && lastRun.traceId !== traceId ? [{ context: lastRun }] : [];
    if (parent) return { parent: contextUnder(parent), root: false, links, queuedSince: stored?.at, stored: true };
    // Nothing stored and an earlier activation: woken by its request's expiry, not by a person.
    if (lastRun) return { parent: context.active(), root: true, links, stored: false };
    return { parent: context.active(), root: false, links, stored: false };
  }

  /** The worker, once `maws.run` started: a retry of this activation goes under the same parent. */
  async activated(sessionKey: string, runId: string, run: Span, activation: ActivationTrace): Promise<void> {
    // A new trace hangs under its own first run span; any other under its parent. Stored
    // without `at`: a retry did not wait in the queue for the person.
    const parent = activation.root ? undefined : trace.getSpanContext(activation.parent);
    const stored: StoredActivation = { parent: traceParentOf(parent ?? run.spanContext()) };
    await this.write(sessionKey, runId, {
      [Field.activation]: JSON.stringify(stored),
      [Field.last]: traceParentOf(run.spanContext()),
    });
  }

  /** The worker, parking the run: its next activation belongs to whoever wakes it. */
  async parked(sessionKey: string, runId: string): Promise<void> {
    if (!tracingActive()) return;
    await this.redis
      .hdel(new SessionKeys(sessionKey).runTrace(runId), Field.activation)
      .catch((err: unknown) => this.errors.report(err));
  }

  private async write(sessionKey: string, runId: string, fields: Record<string, string>): Promise<void> {
    const key = new SessionKeys(sessionKey).runTrace(runId);
    await this.redis
      .multi()
      .hset(key, fields)
      .expire(key, this.ttlSeconds)
      .exec()
      .catch((err: unknown) => this.errors.report(err));
  }
}

function parseActivation(raw: string | null): StoredActivation | undefined {
  if (!raw) return undefined;
  try {
    const parsed = JSON.parse(raw) as StoredActivation;
    return typeof parsed.parent === 'string' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

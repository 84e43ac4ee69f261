import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { StoreWrites } from '../store/store-writes';

/** This process's own metrics; cluster-wide run figures are read from Redis on scrape. */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly socketsConnected = new Gauge({
    name: 'maws_connected_sockets',
    help: 'WebSocket connections open on this gateway',
    registers: [this.registry],
  });
  /** Bumped on the relay's hot path as a plain number; the counter reads it on scrape. */
  relayedCount = 0;
  readonly eventsRelayed = new Counter({
    name: 'maws_events_relayed_total',
    help: 'Durable event frames sent to sockets by this gateway',
    registers: [this.registry],
    collect: ((metrics: GatewayMetrics) =>
      function (this: Counter) {
        const delta = metrics.relayedCount - metrics.relayedReported;
        metrics.relayedReported = metrics.relayedCount;
        if (delta > 0) this.inc(delta);
      })(this),
  });
  private relayedReported = 0;
  readonly framesRejected = new Counter({
    name: 'maws_client_errors_total',
    help: 'Error replies sent to clients, by code',
    labelNames: ['code'],
    registers: [this.registry],
  });

  constructor(writes: StoreWrites) {
    collectDefaultMetrics({ register: this.registry, prefix: 'maws_' });
    new Gauge({
      name: 'maws_redis_writes_refused',
      help: 'Whether Redis refuses writes now, as this process last saw it (1 = refusing: out of memory, MISCONF, READONLY)',
      registers: [this.registry],
      collect(this: Gauge) {
        this.set(writes.refusal ? 1 : 0);
      },
    });
    new Counter({
      name: 'maws_redis_write_refusals_total',
      help: 'Times Redis began refusing writes, as this process saw it (each lasts until a probe write is taken)',
      registers: [this.registry],
      collect(this: Counter) {
        this.reset();
        this.inc(writes.conditions);
      },
    });
  }
}

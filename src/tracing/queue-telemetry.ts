import { BullMQOtel } from 'bullmq-otel';
import { tracingActive } from './tracing';

/**
 * BullMQ's own spans (a job added, a job processed, carried from producer to worker in the
 * job's options) when tracing is on; none otherwise, so BullMQ does no tracing work at all.
 */
export function queueTelemetry(): { telemetry: BullMQOtel } | Record<string, never> {
  return tracingActive() ? { telemetry: new BullMQOtel({ tracerName: 'maws.queue' }) } : {};
}

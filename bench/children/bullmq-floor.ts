/**
 * The runs floor: a bare BullMQ worker whose job is five no-op steps, one job per run (the
 * shape MAWS's resolver has, without the agents and the event log).
 * argv: redisUrl queueName concurrency. Notes each finished job: {queuedUs, startUs, endUs}.
 */
import { Worker } from 'bullmq';
import { notify, serve } from '../lib/ipc';
import { hrUs } from '../lib/util';

const [redisUrl, queueName, concurrency] = process.argv.slice(2);
const url = new URL(redisUrl);
const started = new Map<string, number>();

const worker = new Worker(
  queueName,
  async (job) => {
    started.set(job.id ?? '', hrUs());
    let acc = 0;
    for (let step = 0; step < 5; step++) acc += await Promise.resolve(step);
    return acc;
  },
  {
    connection: { host: url.hostname, port: Number(url.port), maxRetriesPerRequest: null },
    prefix: 'bench:q',
    concurrency: Number(concurrency),
  },
);
worker.on('error', () => undefined);
worker.on('completed', (job) => {
  const id = job.id ?? '';
  notify('done', { queuedUs: (job.data as { queuedUs: number }).queuedUs, startUs: started.get(id), endUs: hrUs() });
  started.delete(id);
});

serve({
  ready: async () => {
    await worker.waitUntilReady();
    return true;
  },
  close: async () => {
    await worker.close();
    return true;
  },
});

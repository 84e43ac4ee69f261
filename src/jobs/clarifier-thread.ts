import { Logger } from '@nestjs/common';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { AppConfig } from '../config/config';

export type ClarifierThreadMessage = { type: 'ready' } | { type: 'stop' } | { type: 'stopped' };

const RESTART_DELAY_MS = 1000;
const STOP_TIMEOUT_MS = 30_000;

/**
 * The worker process's Clarifier runs on a thread of its own. With a busy model (or none:
 * OFFLINE_TOKEN_DELAY_MS=0) the runs keep the main thread's event loop full, and a chat job
 * sharing it waited behind them; on its own thread it is taken and answered at once.
 * A thread that dies is started again.
 */
export class ClarifierThread {
  private readonly logger = new Logger('ClarifierThread');
  private thread?: Worker;
  private stopping = false;
  private restartTimer?: NodeJS.Timeout;

  constructor(private readonly config: AppConfig) {}

  /** Resolves once the thread's BullMQ worker is taking jobs. */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const thread = new Worker(join(__dirname, 'clarifier-thread-entry.js'), {
        workerData: { config: { ...this.config } },
        name: 'maws-clarifier',
      });
      this.thread = thread;
      let ready = false;
      thread.on('message', (message: ClarifierThreadMessage) => {
        if (message.type !== 'ready') return;
        ready = true;
        resolve();
      });
      thread.on('error', (err) => {
        this.logger.error(`the clarifier thread failed: ${err.message}`);
        if (!ready) reject(err);
      });
      thread.on('exit', (code) => {
        if (this.thread !== thread || this.stopping) return;
        this.thread = undefined;
        this.logger.warn(`the clarifier thread exited (code ${code}); starting it again`);
        this.restartTimer = setTimeout(() => {
          this.start().catch((err: unknown) =>
            this.logger.error(`restarting the clarifier thread failed: ${String(err)}`),
          );
        }, RESTART_DELAY_MS);
      });
    });
  }

  /** Lets answers in progress finish, then ends the thread. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const thread = this.thread;
    if (!thread) return;
    const stopped = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, STOP_TIMEOUT_MS);
      thread.on('message', (message: ClarifierThreadMessage) => {
        if (message.type === 'stopped') {
          clearTimeout(timer);
          resolve();
        }
      });
      thread.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    thread.postMessage({ type: 'stop' } satisfies ClarifierThreadMessage);
    await stopped;
    await thread.terminate();
  }
}

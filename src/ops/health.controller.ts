import { Controller, Get, HttpCode, Inject, ServiceUnavailableException } from '@nestjs/common';
import { isCluster, type RedisClient } from '../store/redis-connection';
import { REDIS } from '../common/tokens';
import { StoreWrites } from '../store/store-writes';

const CHECK_TIMEOUT_MS = 1000;

@Controller('health')
export class HealthController {
  constructor(
    @Inject(REDIS) private readonly redis: RedisClient,
    @Inject(StoreWrites) private readonly writes: StoreWrites,
  ) {}

  @Get('live')
  @HttpCode(200)
  live(): { status: string } {
    return { status: 'ok' };
  }

  /**
   * Ready when Redis answers and takes a write (a small probe): without either no command
   * can be carried out. Out of memory, MISCONF or READONLY, it is not ready, and says which.
   */
  @Get('ready')
  async ready(): Promise<{ status: string; redis: string }> {
    let refusal;
    try {
      const pong = await withTimeout(this.redis.ping());
      if (pong !== 'PONG') throw new Error(String(pong));
      const clusterState = await withTimeout(this.clusterState());
      if (clusterState !== 'ok') {
        throw new ServiceUnavailableException({ status: 'unavailable', redis: `cluster_state:${clusterState}` });
      }
      refusal = await withTimeout(this.writes.probe());
    } catch (err) {
      if (err instanceof ServiceUnavailableException) throw err;
      // Under MISCONF Redis refuses even PING.
      refusal = this.writes.noteError(err);
      if (!refusal) throw new ServiceUnavailableException({ status: 'unavailable', redis: 'down' });
    }
    if (refusal)
      throw new ServiceUnavailableException({ status: 'unavailable', redis: 'refusing writes', reason: refusal });
    return { status: 'ok', redis: 'up' };
  }

  /**
   * On a cluster, what CLUSTER INFO says of it (`ok`, or `fail` while some slot has no
   * master, as during a failover): MAWS is only ready when every session's slot is served.
   */
  private async clusterState(): Promise<string> {
    if (!isCluster(this.redis)) return 'ok';
    const info = await this.redis.cluster('INFO');
    return /^cluster_state:(\w+)/m.exec(info)?.[1] ?? 'unknown';
  }
}

function withTimeout<T>(work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timeout')), CHECK_TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
}

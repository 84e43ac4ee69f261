import { Controller, Get, HttpCode, Inject, ServiceUnavailableException } from '@nestjs/common';
import type Redis from 'ioredis';
import { REDIS } from '../common/tokens';

@Controller('health')
export class HealthController {
  constructor(@Inject(REDIS) private readonly redis: Redis) {}

  @Get('live')
  @HttpCode(200)
  live(): { status: string } {
    return { status: 'ok' };
  }

  /** Ready when Redis answers: without it no command can be taken. */
  @Get('ready')
  async ready(): Promise<{ status: string; redis: string }> {
    try {
      const pong = await Promise.race([
        this.redis.ping(),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), 1000)),
      ]);
      if (pong !== 'PONG') throw new Error(String(pong));
      return { status: 'ok', redis: 'up' };
    } catch {
      throw new ServiceUnavailableException({ status: 'unavailable', redis: 'down' });
    }
  }
}

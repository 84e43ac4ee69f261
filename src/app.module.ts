import { DynamicModule, Module } from '@nestjs/common';
import { DevAuthModule } from './auth/dev-auth.module';
import { AppConfig } from './config/config';
import { CoreModule } from './core.module';
import { GatewayModule } from './gateway/gateway.module';
import { WorkerModule } from './jobs/worker.module';

export type Role = 'all' | 'gateway' | 'worker';
export const ROLES: Role[] = ['all', 'gateway', 'worker'];

/** One codebase, three roles: they differ only in which modules start. */
@Module({})
export class AppModule {
  static forRole(role: Role, config: AppConfig): DynamicModule {
    const serves = role !== 'worker';
    const works = role !== 'gateway';
    return {
      module: AppModule,
      imports: [
        CoreModule.forConfig(config),
        ...(serves ? [GatewayModule] : []),
        ...(serves && config.AUTH_DEV_TOKENS ? [DevAuthModule] : []),
        ...(works ? [WorkerModule] : []),
      ],
    };
  }
}

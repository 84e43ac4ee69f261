import { Module } from '@nestjs/common';
import { GatewayModule } from '../gateway/gateway.module';
import { DevTokenController } from './dev-token.controller';

/** Mounted only with AUTH_DEV_TOKENS=true. */
@Module({ imports: [GatewayModule], controllers: [DevTokenController] })
export class DevAuthModule {}

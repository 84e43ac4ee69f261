import { Module } from '@nestjs/common';
import { AuthModule } from './auth.module';
import { DevTokenController } from './dev-token.controller';

/** Mounted only with AUTH_DEV_TOKENS=true. */
@Module({ imports: [AuthModule], controllers: [DevTokenController] })
export class DevAuthModule {}

import { Module } from '@nestjs/common';
import { AppConfig } from '../config/config';
import { TokenService } from './token-service';

/** Client tokens: verified on every upgrade and refresh, signed by the dev-token route. */
@Module({
  providers: [
    {
      provide: TokenService,
      useFactory: (config: AppConfig) =>
        new TokenService({
          secret: config.JWT_SECRET,
          jwksUrl: config.JWKS_URL,
          issuer: config.JWT_ISSUER,
          audience: config.JWT_AUDIENCE,
        }),
      inject: [AppConfig],
    },
  ],
  exports: [TokenService],
})
export class AuthModule {}

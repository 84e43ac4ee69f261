import { Body, Controller, HttpCode, HttpException, HttpStatus, Inject, Ip, Post } from '@nestjs/common';
import { IsString, Matches } from 'class-validator';
import { AppConfig } from '../config/config';
import { TokenService } from './token-service';

export class DevTokenRequest {
  @IsString()
  @Matches(/^[A-Za-z0-9_.@-]{1,64}$/, { message: 'user must be 1 to 64 of A-Z a-z 0-9 _ . @ -' })
  user!: string;
}

/** Only mounted when AUTH_DEV_TOKENS=true: hands out a token for any user name. */
@Controller('auth')
export class DevTokenController {
  /** Tokens issued per client address in the current minute. */
  private readonly issued = new Map<string, { minute: number; count: number }>();

  constructor(
    @Inject(TokenService) private readonly tokens: TokenService,
    @Inject(AppConfig) private readonly config: AppConfig,
  ) {}

  @Post('dev-token')
  @HttpCode(200)
  async issue(@Body() body: DevTokenRequest, @Ip() ip: string): Promise<{ token: string }> {
    this.countAgainstLimit(ip || 'unknown');
    return { token: await this.tokens.signDevToken(body.user) };
  }

  private countAgainstLimit(ip: string): void {
    const minute = Math.floor(Date.now() / 60_000);
    const entry = this.issued.get(ip);
    if (!entry || entry.minute !== minute) {
      if (this.issued.size > 10_000) this.issued.clear(); // bounded memory under a spray of addresses
      this.issued.set(ip, { minute, count: 1 });
      return;
    }
    if (++entry.count > this.config.DEV_TOKENS_PER_MINUTE) {
      throw new HttpException('too many dev tokens from this address; wait a minute', HttpStatus.TOO_MANY_REQUESTS);
    }
  }
}

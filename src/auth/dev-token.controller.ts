import { Body, Controller, HttpCode, Inject, Post } from '@nestjs/common';
import { IsString, Matches } from 'class-validator';
import { TokenService } from './token-service';

export class DevTokenRequest {
  @IsString()
  @Matches(/^[A-Za-z0-9_.@-]{1,64}$/, { message: 'user must be 1 to 64 of A-Z a-z 0-9 _ . @ -' })
  user!: string;
}

/** Only mounted when AUTH_DEV_TOKENS=true: hands out a token for any user name. */
@Controller('auth')
export class DevTokenController {
  constructor(@Inject(TokenService) private readonly tokens: TokenService) {}

  @Post('dev-token')
  @HttpCode(200)
  async issue(@Body() body: DevTokenRequest): Promise<{ token: string }> {
    return { token: await this.tokens.signDevToken(body.user) };
  }
}

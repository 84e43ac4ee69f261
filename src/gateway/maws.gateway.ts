import { Inject, UseFilters } from '@nestjs/common';
import {
  ConnectedSocket,
  MessageBody,
  OnGatewayConnection,
  OnGatewayDisconnect,
  SubscribeMessage,
  WebSocketGateway,
} from '@nestjs/websockets';
import type { WebSocket } from 'ws';
import { ClientError } from '../common/client-error';
import { SessionCommands } from '../session/session-commands';
import { TokenService } from '../auth/token-service';
import type { ClientFrame, ResumeData, TextData, TokenData } from './client-frames';
import { contextOf } from './maws-ws-adapter';
import { RethrowWsFilter } from './rethrow-ws.filter';
import { SessionHub } from './session-hub';

/** The client commands of the contract. Frames arrive here already validated. */
@WebSocketGateway({ path: '/ws' })
@UseFilters(RethrowWsFilter)
export class MawsGateway implements OnGatewayConnection, OnGatewayDisconnect {
  constructor(
    @Inject(SessionHub) private readonly hub: SessionHub,
    @Inject(SessionCommands) private readonly commands: SessionCommands,
    @Inject(TokenService) private readonly tokens: TokenService,
  ) {}

  async handleConnection(ws: WebSocket): Promise<void> {
    const context = contextOf.get(ws);
    if (!context) {
      ws.close(1011, 'no connection context');
      return;
    }
    await this.hub.attach(ws, context.sessionKey, context.resumeAfter, context.expiresAt);
  }

  handleDisconnect(ws: WebSocket): void {
    this.hub.detach(ws);
  }

  @SubscribeMessage('message')
  async onMessage(@ConnectedSocket() ws: WebSocket, @MessageBody() frame: ClientFrame<TextData>): Promise<void> {
    const result = await this.commands.message(this.sessionOf(ws), frame.data.text, frame.id);
    this.ack(ws, frame, result.runId);
  }

  @SubscribeMessage('task.start')
  async onTaskStart(@ConnectedSocket() ws: WebSocket, @MessageBody() frame: ClientFrame<TextData>): Promise<void> {
    const result = await this.commands.startTask(this.sessionOf(ws), frame.data.text);
    this.ack(ws, frame, result.runId);
  }

  @SubscribeMessage('task.refine')
  async onTaskRefine(@ConnectedSocket() ws: WebSocket, @MessageBody() frame: ClientFrame<TextData>): Promise<void> {
    const result = await this.commands.refine(this.sessionOf(ws), frame.data.text);
    this.ack(ws, frame, result.runId);
  }

  @SubscribeMessage('chat.send')
  async onChat(@ConnectedSocket() ws: WebSocket, @MessageBody() frame: ClientFrame<TextData>): Promise<void> {
    await this.commands.chat(this.sessionOf(ws), frame.data.text, frame.id);
    this.ack(ws, frame);
  }

  @SubscribeMessage('task.cancel')
  async onCancel(@ConnectedSocket() ws: WebSocket, @MessageBody() frame: ClientFrame): Promise<void> {
    const result = await this.commands.cancel(this.sessionOf(ws));
    this.ack(ws, frame, result.runId);
  }

  @SubscribeMessage('resume')
  async onResume(@ConnectedSocket() ws: WebSocket, @MessageBody() frame: ClientFrame<ResumeData>): Promise<void> {
    await this.hub.resume(ws, frame.data.afterSeq, frame.id);
  }

  /** A fresh token for the same user keeps the socket open past the old token's expiry. */
  @SubscribeMessage('auth.refresh')
  async onAuthRefresh(@ConnectedSocket() ws: WebSocket, @MessageBody() frame: ClientFrame<TokenData>): Promise<void> {
    const context = contextOf.get(ws);
    let verified;
    try {
      verified = await this.tokens.verify(frame.data.token);
    } catch (err) {
      throw new ClientError('VALIDATION_FAILED', `token refused: ${err instanceof Error ? err.message : 'invalid'}`);
    }
    if (!context || verified.sub !== context.sub) {
      throw new ClientError('VALIDATION_FAILED', 'the new token is for another user');
    }
    context.expiresAt = verified.exp !== undefined ? verified.exp * 1000 : undefined;
    this.hub.refreshExpiry(ws, context.expiresAt);
    this.ack(ws, frame);
  }

  @SubscribeMessage('ping')
  onPing(@ConnectedSocket() ws: WebSocket): void {
    this.hub.reply(ws, 'pong', {});
  }

  private sessionOf(ws: WebSocket): string {
    const key = this.hub.sessionKeyOf(ws);
    if (!key) throw new ClientError('INTERNAL', 'this socket has no session');
    return key;
  }

  private ack(ws: WebSocket, frame: ClientFrame<unknown>, runId?: string): void {
    this.hub.reply(ws, 'ack', {
      ...(frame.id !== undefined ? { replyTo: frame.id } : {}),
      ...(runId ? { runId } : {}),
    });
  }
}

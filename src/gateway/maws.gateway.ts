import { Inject } from '@nestjs/common';
import { WebSocketGateway } from '@nestjs/websockets';
import type { WebSocket } from 'ws';
import { TokenService } from '../auth/token-service';
import { ClientError } from '../common/client-error';
import { SpanKind, trace } from '@opentelemetry/api';
import { withLogContext } from '../logging/log-context';
import { inSpan } from '../tracing/spans';
import { SessionCommands } from '../session/session-commands';
import { StoreWrites } from '../store/store-writes';
import { REFUSAL_MEANING } from '../store/write-refusal';
import type { ClientCommand, TokenCommandData } from '../contract';
import { ClientCommands, contextOf } from './maws-ws-adapter';
import { SessionHub } from './session-hub';

/** Commands that act on runs or chat: each gets a span (pings, resumes and token refreshes do not). */
const TRACED_COMMANDS = new Set<ClientCommand['event']>([
  'message',
  'task.start',
  'task.refine',
  'chat.send',
  'task.cancel',
  'run.respond',
  'run.steer',
]);

/**
 * The client commands of the contract. Frames arrive here already validated, through
 * MawsWsAdapter's one shared listener (see its onMessage for why not per-socket
 * @SubscribeMessage bindings); the adapter also opens and closes the sockets (SessionHub).
 */
@WebSocketGateway({ path: '/ws' })
export class MawsGateway implements ClientCommands {
  constructor(
    @Inject(SessionHub) private readonly hub: SessionHub,
    @Inject(SessionCommands) private readonly commands: SessionCommands,
    @Inject(TokenService) private readonly tokens: TokenService,
    @Inject(StoreWrites) private readonly writes: StoreWrites,
  ) {}

  /**
   * Carries a command out. While Redis refuses writes the command is answered at once with
   * UNAVAILABLE: nothing was done (a refused write changes nothing), and the person may try again.
   */
  async handle(ws: WebSocket, command: ClientCommand): Promise<void> {
    const session = this.hub.sessionKeyOf(ws);
    try {
      // Lines logged while the command is carried out name its session; a command that may
      // start, wake or change a run is the root of that run activation's trace.
      await withLogContext(session ? { session } : {}, () =>
        TRACED_COMMANDS.has(command.event)
          ? inSpan(
              `maws.command ${command.event}`,
              { kind: SpanKind.SERVER, attributes: { 'maws.command': command.event, 'maws.session': session } },
              () => this.carryOut(ws, command),
            )
          : this.carryOut(ws, command),
      );
    } catch (err) {
      const refusal = this.writes.noteError(err);
      if (!refusal) throw err;
      throw new ClientError(
        'UNAVAILABLE',
        `${REFUSAL_MEANING[refusal]}: nothing was done. Please try again in a moment; a run already going waits and goes on by itself.`,
      );
    }
  }

  private async carryOut(ws: WebSocket, command: ClientCommand): Promise<void> {
    const session = this.sessionOf(ws);
    switch (command.event) {
      case 'message':
        return this.ack(ws, command, (await this.commands.message(session, command.data.text, command.id)).runId);
      case 'task.start':
        return this.ack(
          ws,
          command,
          (await this.commands.startTask(session, command.data.text, command.data.review)).runId,
        );
      case 'task.refine':
        return this.ack(ws, command, (await this.commands.refine(session, command.data.text)).runId);
      case 'chat.send':
        await this.commands.chat(session, command.data.text, command.id);
        return this.ack(ws, command);
      case 'task.cancel':
        return this.ack(ws, command, (await this.commands.cancel(session)).runId);
      case 'run.respond':
        return this.ack(
          ws,
          command,
          (await this.commands.respond(session, command.data.requestId, command.data.answer)).runId,
        );
      case 'run.steer':
        return this.ack(ws, command, (await this.commands.steer(session, command.data.text)).runId);
      case 'resume':
        return this.hub.resume(ws, command.data.afterSeq, command.id);
      case 'auth.refresh':
        return this.refreshAuth(ws, command.data, command);
      case 'ping':
        return this.hub.reply(ws, 'pong', {});
    }
  }

  /** A fresh token for the same user keeps the socket open past the old token's expiry. */
  private async refreshAuth(ws: WebSocket, data: TokenCommandData, command: ClientCommand): Promise<void> {
    const context = contextOf.get(ws);
    let verified;
    try {
      verified = await this.tokens.verify(data.token);
    } catch (err) {
      throw new ClientError('VALIDATION_FAILED', `token refused: ${err instanceof Error ? err.message : 'invalid'}`);
    }
    if (!context || verified.sub !== context.sub) {
      throw new ClientError('VALIDATION_FAILED', 'the new token is for another user');
    }
    context.expiresAt = verified.exp !== undefined ? verified.exp * 1000 : undefined;
    this.hub.refreshExpiry(ws, context.expiresAt);
    this.ack(ws, command);
  }

  private sessionOf(ws: WebSocket): string {
    const key = this.hub.sessionKeyOf(ws);
    if (!key) throw new ClientError('INTERNAL', 'this socket has no session');
    return key;
  }

  private ack(ws: WebSocket, command: ClientCommand, runId?: string): void {
    if (runId) trace.getActiveSpan()?.setAttribute('maws.run_id', runId);
    this.hub.reply(ws, 'ack', {
      ...(command.id !== undefined ? { replyTo: command.id } : {}),
      ...(runId ? { runId } : {}),
    });
  }
}

import type { INestApplicationContext } from '@nestjs/common';
import { Logger } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import type { MessageMappingProperties } from '@nestjs/websockets';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { isObservable, lastValueFrom, Observable } from 'rxjs';
import { WebSocket, WebSocketServer } from 'ws';
import type { TokenService } from '../auth/token-service';
import { ClientError } from '../common/client-error';
import { ConnectionContext, authorizeUpgrade } from './upgrade-auth';
import { isClientEvent, parseEnvelope, validateData } from './client-frames';
import type { SessionHub } from './session-hub';

export interface MawsWsOptions {
  tokens: TokenService;
  hub: SessionHub;
  maxFrameBytes: number;
  maxInputChars: number;
}

const HTTP_REASONS: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 404: 'Not Found' };

/** The socket's connection context, attached at upgrade time. */
export const contextOf = new WeakMap<WebSocket, ConnectionContext>();

/**
 * Nest's ws adapter, with the contract's upgrade (auth before any socket exists, a
 * session id in the path) and frame handling (every bad frame answered with a code).
 */
export class MawsWsAdapter extends WsAdapter {
  private readonly log = new Logger('WebSocket');

  constructor(
    app: INestApplicationContext,
    private readonly options: MawsWsOptions,
  ) {
    super(app);
  }

  override create(port: number, options: Record<string, unknown> = {}): WebSocketServer {
    const httpServer = this.httpServer as HttpServer;
    if (port !== 0 || !httpServer) throw new Error('MAWS serves WebSockets on the HTTP server port only');
    void options;
    const wss = new WebSocketServer({ noServer: true, maxPayload: this.options.maxFrameBytes });
    wss.on('error', (err) => this.log.error(err.message));
    httpServer.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => socket.destroy());
      void this.upgrade(wss, req, socket, head);
    });
    return wss;
  }

  private async upgrade(wss: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const decision = await authorizeUpgrade(req, this.options.tokens);
    if (!decision.ok) {
      const body = `${decision.message}\n`;
      socket.end(
        `HTTP/1.1 ${decision.status} ${HTTP_REASONS[decision.status]}\r\n` +
          'Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\n' +
          `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      contextOf.set(ws, decision.context);
      ws.on('error', () => undefined);
      wss.emit('connection', ws, req);
    });
  }

  override bindMessageHandlers(
    client: WebSocket,
    handlers: MessageMappingProperties[],
    transform: (data: unknown) => Observable<unknown>,
  ): void {
    const byEvent = new Map(handlers.map((h) => [String(h.message), h]));
    client.on('message', (raw: Buffer, isBinary: boolean) => {
      void this.dispatch(client, raw, isBinary, byEvent, transform);
    });
  }

  private async dispatch(
    client: WebSocket,
    raw: Buffer,
    isBinary: boolean,
    byEvent: Map<string, MessageMappingProperties>,
    transform: (data: unknown) => Observable<unknown>,
  ): Promise<void> {
    let replyTo: string | undefined;
    try {
      const frame = parseEnvelope(raw, isBinary);
      replyTo = frame.id;
      const handler = byEvent.get(frame.event);
      if (!isClientEvent(frame.event) || !handler) {
        throw new ClientError('UNKNOWN_EVENT', `unknown event "${frame.event}"`);
      }
      const data = validateData(frame.event, frame.data, this.options.maxInputChars);
      const result: unknown = await handler.callback({ event: frame.event, data, id: frame.id }, frame.event);
      if (isObservable(result)) await lastValueFrom(result, { defaultValue: undefined });
      void transform;
    } catch (err) {
      const known = err instanceof ClientError;
      if (!known) this.log.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
      this.options.hub.error(
        client,
        known ? err.code : 'INTERNAL',
        known ? err.message : 'something went wrong on the server; the command was not carried out',
        replyTo ?? (known ? err.replyTo : undefined),
      );
    }
  }
}

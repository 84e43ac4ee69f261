import { spawn, type ChildProcess } from 'node:child_process';
import { validateJSONRPCMessage, type JSONRPCMessage, type MCPTransport } from '@ai-sdk/mcp';
import type { McpStdioServerConfig } from '../../config/mcp-servers-file';
import { stdioGuardSource } from './stdio-guard';

/** The worker's variables a stdio server gets (as MCP's own SDKs pass them); its secrets stay. */
const PASSED_ENV = ['HOME', 'LOGNAME', 'PATH', 'SHELL', 'TERM', 'USER', 'LANG', 'TMPDIR'];

/** How long close() waits for the guard to end its server before killing the guard itself. */
const CLOSE_GRACE_MS = 3_000;

/**
 * MCP over a stdio server's stdin and stdout, one JSON-RPC message per line, with the server
 * started behind the stdio guard (it never outlives this worker). A line longer than
 * `maxMessageBytes` ends the connection: memory stays bounded whatever the server sends.
 */
export class GuardedStdioTransport implements MCPTransport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  /** True once the server's process has ended or close() was called: a new transport is needed. */
  closed = false;
  private process?: ChildProcess;
  private chunks: Buffer[] = [];
  private buffered = 0;

  constructor(
    private readonly server: McpStdioServerConfig,
    private readonly maxMessageBytes: number,
  ) {}

  start(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const env: Record<string, string> = {};
      for (const key of PASSED_ENV) {
        const value = process.env[key];
        if (value !== undefined) env[key] = value;
      }
      const child = spawn(process.execPath, ['-e', stdioGuardSource, this.server.command, ...this.server.args], {
        stdio: ['pipe', 'pipe', 'inherit'],
        env: { ...env, ...this.server.env },
        ...(this.server.cwd !== undefined ? { cwd: this.server.cwd } : {}),
      });
      this.process = child;
      child.once('spawn', () => resolve());
      child.once('error', (err) => {
        reject(err);
        this.ended(err);
      });
      child.once('close', (code, signal) => this.ended(new Error(`exited (${signal ?? `code ${code}`})`)));
      child.stdin?.on('error', (err) => this.onerror?.(err));
      child.stdout?.on('data', (chunk: Buffer) => this.read(chunk));
    });
  }

  send(message: JSONRPCMessage): Promise<void> {
    const stdin = this.process?.stdin;
    if (this.closed || !stdin || stdin.destroyed) {
      return Promise.reject(new Error(`MCP server ${this.server.name} is not running`));
    }
    return new Promise<void>((resolve, reject) => {
      stdin.write(`${JSON.stringify(message)}\n`, (err) => (err ? reject(err) : resolve()));
    });
  }

  close(): Promise<void> {
    const child = this.process;
    this.ended();
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    // The guard ends the server when its stdin closes; it is killed itself if it does not go.
    child.stdin?.end();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve();
      }, CLOSE_GRACE_MS);
      child.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private read(chunk: Buffer): void {
    let start = 0;
    let newline = chunk.indexOf(0x0a, start);
    while (newline !== -1) {
      this.chunks.push(chunk.subarray(start, newline));
      const line = Buffer.concat(this.chunks).toString('utf8');
      this.chunks = [];
      this.buffered = 0;
      this.deliver(line);
      start = newline + 1;
      newline = chunk.indexOf(0x0a, start);
    }
    if (start < chunk.length) {
      this.chunks.push(chunk.subarray(start));
      this.buffered += chunk.length - start;
      if (this.buffered > this.maxMessageBytes) {
        this.onerror?.(new Error(`MCP server ${this.server.name} sent a message over ${this.maxMessageBytes} bytes`));
        void this.close();
      }
    }
  }

  private deliver(line: string): void {
    if (line.trim() === '' || this.closed) return;
    try {
      this.onmessage?.(validateJSONRPCMessage(JSON.parse(line)));
    } catch (err) {
      this.onerror?.(new Error(`MCP server ${this.server.name} sent a line that is not JSON-RPC: ${String(err)}`));
    }
  }

  private ended(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.chunks = [];
    this.buffered = 0;
    if (error) this.onerror?.(error);
    this.onclose?.();
  }
}

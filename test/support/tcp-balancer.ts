/**
 * Test support: a TCP balancer on loopback in front of several gateways. By default it hands
 * each new connection to the next backend in turn (round robin, no health checks: a frozen
 * gateway still accepts TCP, as its kernel does). With `healthCheck`, it sends new
 * connections to the first backend whose `GET /health/live` answered within the timeout at
 * its last check (every `intervalMs`), as a load balancer with active health checks does; a
 * frozen gateway fails its checks and stops getting new connections, while those it holds stay
 * open. It remembers which backend the latest connection went to.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import { registerCleanup } from './cleanup';

export interface TcpBalancer {
  /** `127.0.0.1:PORT`. */
  readonly host: string;
  /** The backend port the latest connection was handed to. */
  readonly lastBackend: number | undefined;
  close(): Promise<void>;
}

export interface HealthCheckOptions {
  intervalMs: number;
  timeoutMs: number;
}

export async function startTcpBalancer(
  backendPorts: number[],
  opts: { healthCheck?: HealthCheckOptions } = {},
): Promise<TcpBalancer> {
  const sockets = new Set<net.Socket>();
  let next = 0;
  let lastBackend: number | undefined;
  const healthy = new Map(backendPorts.map((port) => [port, true]));
  let checker: NodeJS.Timeout | undefined;
  if (opts.healthCheck) {
    const { intervalMs, timeoutMs } = opts.healthCheck;
    const check = (port: number): void => {
      const req = http.get({ host: '127.0.0.1', port, path: '/health/live', timeout: timeoutMs }, (res) => {
        healthy.set(port, res.statusCode === 200);
        res.resume();
      });
      req.on('timeout', () => {
        healthy.set(port, false);
        req.destroy();
      });
      req.on('error', () => healthy.set(port, false));
    };
    checker = setInterval(() => backendPorts.forEach(check), intervalMs);
  }
  const pickBackend = (): number => {
    if (opts.healthCheck) return backendPorts.find((port) => healthy.get(port)) ?? backendPorts[0];
    const port = backendPorts[next % backendPorts.length];
    next += 1;
    return port;
  };
  const server = net.createServer((client) => {
    const port = pickBackend();
    lastBackend = port;
    const upstream = net.connect({ host: '127.0.0.1', port });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const balancer: TcpBalancer = {
    host: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    get lastBackend() {
      return lastBackend;
    },
    close() {
      clearInterval(checker);
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  registerCleanup(() => balancer.close());
  return balancer;
}

/**
 * Test support: a TCP balancer on loopback in front of several gateways, handing each new
 * connection to the next backend in turn (round robin, no health checks: a frozen gateway
 * still accepts TCP, as its kernel does). It remembers which backend the latest connection
 * went to.
 */
import * as net from 'node:net';
import { registerCleanup } from './cleanup';

export interface TcpBalancer {
  /** `127.0.0.1:PORT`. */
  readonly host: string;
  /** The backend port the latest connection was handed to. */
  readonly lastBackend: number | undefined;
  close(): Promise<void>;
}

export async function startTcpBalancer(backendPorts: number[]): Promise<TcpBalancer> {
  const sockets = new Set<net.Socket>();
  let next = 0;
  let lastBackend: number | undefined;
  const server = net.createServer((client) => {
    const port = backendPorts[next % backendPorts.length];
    next += 1;
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
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  registerCleanup(() => balancer.close());
  return balancer;
}

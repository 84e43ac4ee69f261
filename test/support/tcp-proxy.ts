/**
 * Test support: a TCP proxy on loopback between one process and Redis, to cut the network
 * between them (a partition) and heal it again. While cut, the proxy stops moving bytes in
 * both directions but keeps every connection open: what either side sends waits, as TCP keeps
 * retransmitting through a real partition, and is delivered once it heals. With
 * `latencyMs`, every chunk is delivered that much later, in order (a link to a far Redis).
 */
import * as net from 'node:net';
import { registerCleanup } from './cleanup';
import { stopEach } from './stop-all';

export interface TcpProxy {
  /** `redis://127.0.0.1:PORT`: give it to the process whose link is to be cut. */
  readonly url: string;
  /** Stops forwarding (both directions, every connection, new ones too). */
  cut(): void;
  /** Forwards again, delivering what waited. */
  heal(): void;
  close(): Promise<void>;
}

const proxies = new Set<TcpProxy>();

function closeAllProxies(): Promise<void> {
  return stopEach(proxies, (proxy) => proxy.close());
}

/** One direction of one connection: bytes held while the link is cut, then delivered in order. */
class Direction {
  private held: Buffer[] = [];

  constructor(
    from: net.Socket,
    private readonly to: net.Socket,
    private readonly isCut: () => boolean,
    latencyMs = 0,
  ) {
    from.on('data', (chunk: Buffer) => {
      if (this.isCut()) this.held.push(chunk);
      else if (latencyMs > 0) setTimeout(() => to.write(chunk), latencyMs);
      else to.write(chunk);
    });
  }

  flush(): void {
    for (const chunk of this.held) this.to.write(chunk);
    this.held = [];
  }
}

/** A proxy on a free loopback port to Redis on `targetPort` (127.0.0.1). */
export async function startTcpProxy(
  targetPort: number,
  {
    latencyMs = 0,
    holdCloses = false,
  }: {
    latencyMs?: number;
    /**
     * While cut, a close on one side does not reach the other either (a FIN is bytes on the
     * wire too): each side sees its connection open until the link heals. By default a close
     * passes at once.
     */
    holdCloses?: boolean;
  } = {},
): Promise<TcpProxy> {
  const connections = new Set<{ sockets: net.Socket[]; directions: Direction[] }>();
  const heldCloses = new Set<() => void>();
  let isCut = false;
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    const connection = {
      sockets: [client, upstream],
      directions: [
        new Direction(client, upstream, () => isCut, latencyMs),
        new Direction(upstream, client, () => isCut, latencyMs),
      ],
    };
    connections.add(connection);
    const end = (): void => {
      if (holdCloses && isCut) {
        heldCloses.add(end);
        return;
      }
      connections.delete(connection);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of connection.sockets) socket.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = (server.address() as net.AddressInfo).port;
  const proxy: TcpProxy = {
    url: `redis://127.0.0.1:${port}`,
    cut() {
      isCut = true;
    },
    heal() {
      isCut = false;
      for (const connection of connections) for (const direction of connection.directions) direction.flush();
      for (const end of heldCloses) end();
      heldCloses.clear();
    },
    close() {
      for (const connection of connections) for (const socket of connection.sockets) socket.destroy();
      connections.clear();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  proxies.add(proxy);
  registerCleanup(closeAllProxies);
  return proxy;
}

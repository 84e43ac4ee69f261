import { BlockList, isIP } from 'node:net';

/** What an IP address is, for http_fetch: only `public` is fetched unless listed literally. */
export type AddressKind = 'public' | 'loopback' | 'private' | 'link-local' | 'reserved';

type Range = [address: string, prefix: number, family: 'ipv4' | 'ipv6'];

/** Ranges by kind. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) match the IPv4 rules too. */
const RANGES: Record<Exclude<AddressKind, 'public'>, Range[]> = {
  loopback: [
    ['127.0.0.0', 8, 'ipv4'],
    ['::1', 128, 'ipv6'],
  ],
  private: [
    ['10.0.0.0', 8, 'ipv4'],
    ['172.16.0.0', 12, 'ipv4'],
    ['192.168.0.0', 16, 'ipv4'],
    ['100.64.0.0', 10, 'ipv4'], // carrier-grade NAT
    ['fc00::', 7, 'ipv6'], // unique local
  ],
  'link-local': [
    ['169.254.0.0', 16, 'ipv4'], // cloud metadata services live here
    ['fe80::', 10, 'ipv6'],
  ],
  reserved: [
    ['0.0.0.0', 8, 'ipv4'],
    ['192.0.0.0', 24, 'ipv4'],
    ['192.0.2.0', 24, 'ipv4'],
    ['198.18.0.0', 15, 'ipv4'],
    ['198.51.100.0', 24, 'ipv4'],
    ['203.0.113.0', 24, 'ipv4'],
    ['224.0.0.0', 4, 'ipv4'],
    ['240.0.0.0', 4, 'ipv4'],
    ['::', 128, 'ipv6'],
    ['64:ff9b::', 96, 'ipv6'], // NAT64: would reach an IPv4 address the rules above may refuse
    ['2002::', 16, 'ipv6'], // 6to4: the same
    ['ff00::', 8, 'ipv6'], // multicast
  ],
};

const LISTS = Object.entries(RANGES).map(([kind, ranges]) => {
  const list = new BlockList();
  for (const [address, prefix, family] of ranges) list.addSubnet(address, prefix, family);
  return [kind as AddressKind, list] as const;
});

/** The kind of `ip` (an IPv4 or IPv6 address, brackets allowed). */
export function addressKind(ip: string): AddressKind {
  const address = ip.replace(/^\[|\]$/g, '');
  const family = isIP(address);
  if (family === 0) throw new Error(`not an IP address: ${ip}`);
  for (const [kind, list] of LISTS) if (list.check(address, family === 4 ? 'ipv4' : 'ipv6')) return kind;
  return 'public';
}

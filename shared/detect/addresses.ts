import { BlockList, isIP } from 'node:net';
import { parseCidr, type Cidr } from '../cidr.js';
import { remembered } from './remembered.js';

/** Private, loopback, link-local, shared (CGNAT) and unique-local ranges: not public. */
const NOT_PUBLIC = new BlockList();
for (const [net, prefix] of [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['127.0.0.0', 8], ['169.254.0.0', 16], ['100.64.0.0', 10], ['0.0.0.0', 8]] as const) NOT_PUBLIC.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [['::1', 128], ['fc00::', 7], ['fe80::', 10], ['::', 128]] as const) NOT_PUBLIC.addSubnet(net, prefix, 'ipv6');

/** An IPv4 address written as IPv6 (`::ffff:1.2.3.4`) as the IPv4 address it is. */
export function plainAddress(ip: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return m ? m[1]! : ip;
}

/** Whether `ip` is a valid address outside the private and special ranges. */
export const isPublicAddress = remembered((address: string): boolean => {
  const ip = plainAddress(address);
  const family = isIP(ip);
  return family !== 0 && !NOT_PUBLIC.check(ip, family === 6 ? 'ipv6' : 'ipv4');
});

/** A list of addresses and CIDR blocks; `find` names the entry that holds an address. */
export class AddressList {
  private constructor(private readonly entries: readonly Cidr[]) {}

  /** Parses a list from the config; an entry that is not an address names `where[i]`. */
  static of(texts: readonly string[], where: string): AddressList {
    return new AddressList(texts.map((t, i) => parseCidr(t, `${where}[${i}]`)));
  }

  /** Parses a file of addresses: one per line, `#` starts a comment. */
  static ofText(text: string, file: string): AddressList {
    const entries: Cidr[] = [];
    text.split(/\r?\n/).forEach((line, i) => {
      const entry = line.replace(/#.*/, '').trim();
      if (entry) entries.push(parseCidr(entry, `${file}:${i + 1}`));
    });
    return new AddressList(entries);
  }

  get size(): number {
    return this.entries.length;
  }

  /** The entry that holds `address`, or null. */
  readonly find = remembered((address: string): string | null => {
    if (this.entries.length === 0) return null;
    const ip = plainAddress(address);
    return this.entries.find((c) => c.contains(ip))?.text ?? null;
  });
}

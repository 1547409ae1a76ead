import { BlockList, isIP } from 'node:net';
import { InputError } from './errors.js';

/** An address block (`10.0.0.0/8`, `2001:db8::/32`; a bare address is a /32 or /128). */
export interface Cidr {
  text: string;
  contains(ip: string): boolean;
}

/** Parses a CIDR block; InputError naming `param` when it is not one. */
export function parseCidr(text: string, param: string): Cidr {
  const [address, prefixText, ...rest] = text.trim().split('/');
  const family = isIP(address ?? '');
  const max = family === 6 ? 128 : 32;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (family === 0 || rest.length > 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > max || (prefixText !== undefined && !/^\d+$/.test(prefixText))) {
    throw new InputError(`${param}: expected an IP address or CIDR block such as 10.0.0.0/8 or 2001:db8::/32, got '${text}'`);
  }
  const type = family === 6 ? 'ipv6' : 'ipv4';
  const block = new BlockList();
  block.addSubnet(address!, prefix, type);
  return {
    text,
    contains: (ip) => {
      const f = isIP(ip);
      return f !== 0 && block.check(ip, f === 6 ? 'ipv6' : 'ipv4');
    },
  };
}

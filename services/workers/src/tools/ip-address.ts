import { BlockList, isIP } from 'node:net';

/** IPv4 ranges that are not the public internet: this-network, private, CGNAT, loopback, link-local, … */
const PRIVATE_V4 = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  PRIVATE_V4.addSubnet(net, bits, 'ipv4');

/** IPv6 ranges that are never the public internet, whatever they embed. */
const PRIVATE_V6 = new BlockList();
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['100::', 64], // discard-only
  ['64:ff9b:1::', 48], // local-use NAT64 (RFC 8215)
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated, still routed by some stacks)
  ['ff00::', 8], // multicast
] as const)
  PRIVATE_V6.addSubnet(net, bits, 'ipv6');

/**
 * The 16 bytes of a valid IPv6 address (zone id dropped; a trailing dotted quad accepted), or
 * undefined. Hand-written because Node has no IPv6-to-bytes function and `ipaddr.js` is only a
 * transitive dependency here; the input is validated by `net.isIP` first.
 */
export function ipv6Bytes(address: string): Uint8Array | undefined {
  if (isIP(address) !== 6) return undefined;
  let text = address.replace(/%.*$/, '').toLowerCase();
  const tail: number[] = [];
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    tail.push(...quad.slice(1).map(Number));
    if (tail.some((n) => n > 255)) return undefined;
    text = text.slice(0, quad.index) + '0:0';
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const words = (s: string) => (s === '' ? [] : s.split(':').map((w) => parseInt(w, 16)));
  const head = words(halves[0]!);
  const rest = halves.length === 2 ? words(halves[1]!) : [];
  const fill = 8 - head.length - rest.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) return undefined;
  const all = [...head, ...new Array<number>(fill).fill(0), ...rest];
  if (all.some((w) => Number.isNaN(w) || w < 0 || w > 0xffff)) return undefined;
  const bytes = new Uint8Array(16);
  all.forEach((w, i) => {
    bytes[2 * i] = w >> 8;
    bytes[2 * i + 1] = w & 0xff;
  });
  if (quad) bytes.set(tail, 12);
  return bytes;
}

const v4 = (b: Uint8Array, at: number, invert = false): string =>
  Array.from(b.subarray(at, at + 4), (x) => (invert ? ~x & 0xff : x)).join('.');
const zero = (b: Uint8Array, from: number, to: number): boolean => b.subarray(from, to).every((x) => x === 0);

/**
 * Every IPv4 address an IPv6 address carries, in each standard embedding: IPv4-mapped
 * (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), IPv4-translated (`::ffff:0:a.b.c.d`), NAT64
 * (`64:ff9b::/96`), 6to4 (`2002::/16`), Teredo (`2001::/32`, server and obfuscated client) and ISATAP
 * interface ids (`…:0:5efe:a.b.c.d`).
 */
export function embeddedIpv4(b: Uint8Array): string[] {
  const out: string[] = [];
  if (zero(b, 0, 10) && b[10] === 0xff && b[11] === 0xff) out.push(v4(b, 12)); // mapped
  if (zero(b, 0, 12)) out.push(v4(b, 12)); // compatible (and :: / ::1)
  if (zero(b, 0, 8) && b[8] === 0xff && b[9] === 0xff && zero(b, 10, 12)) out.push(v4(b, 12)); // translated
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zero(b, 4, 12)) out.push(v4(b, 12)); // NAT64
  if (b[0] === 0x20 && b[1] === 0x02) out.push(v4(b, 2)); // 6to4
  if (b[0] === 0x20 && b[1] === 0x01 && b[2] === 0 && b[3] === 0) out.push(v4(b, 4), v4(b, 12, true)); // Teredo
  if ((b[8] === 0x00 || b[8] === 0x02) && b[9] === 0x00 && b[10] === 0x5e && b[11] === 0xfe) out.push(v4(b, 12)); // ISATAP
  return out;
}

/**
 * True for an address a worker must not reach unless private addresses are allowed: a private IPv4
 * address, a private IPv6 range, or an IPv6 address that embeds a private IPv4 address in any form.
 * Anything that does not parse counts as private (fail closed).
 * @example isPrivateAddress('::ffff:0:7f00:1') // true: IPv4-translated 127.0.0.1
 */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return PRIVATE_V4.check(address, 'ipv4');
  const bytes = family === 6 ? ipv6Bytes(address) : undefined;
  if (!bytes) return true;
  const canonical = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i]! << 8) | bytes[2 * i + 1]!).toString(16)).join(
    ':',
  );
  if (PRIVATE_V6.check(canonical, 'ipv6')) return true;
  return embeddedIpv4(bytes).some((a) => PRIVATE_V4.check(a, 'ipv4'));
}

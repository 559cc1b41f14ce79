import { embeddedIpv4, ipv6Bytes, isPrivateAddress } from './ip-address';

describe('isPrivateAddress: every IPv6 form that embeds IPv4 is judged by the IPv4 address', () => {
  it.each([
    ['127.0.0.1'],
    ['10.1.2.3'],
    ['169.254.169.254'],
    ['::1'],
    ['::'],
    ['::127.0.0.1'], // IPv4-compatible loopback
    ['::7f00:1'], // the same, hex words
    ['::ffff:127.0.0.1'], // IPv4-mapped
    ['::ffff:7f00:1'], // IPv4-mapped, hex words
    ['::ffff:0:7f00:1'], // IPv4-translated
    ['::ffff:0:127.0.0.1'],
    ['0:0:0:0:0:ffff:a9fe:a9fe'], // mapped metadata address, long form
    ['64:ff9b::7f00:1'], // NAT64 of loopback
    ['64:ff9b::10.0.0.1'],
    ['64:ff9b:1::1'], // local-use NAT64
    ['2002:7f00:1::1'], // 6to4 of 127.0.0.1
    ['2002:c0a8:101::'], // 6to4 of 192.168.1.1
    ['2001:0:7f00:1::'], // Teredo with a loopback server
    ['2001:0:4136:e378:8000:63bf:80ff:fffe'], // Teredo client 127.0.0.1 (obfuscated)
    ['fe80::1:0:5efe:10.0.0.1'], // ISATAP
    ['2600::0:5efe:192.168.0.1'], // ISATAP id on a public prefix
    ['fe80::1%eth0'],
    ['fd00::1'],
    ['ff02::1'],
    ['2001:db8::1'],
    ['not-an-address'],
  ])('%s is private', (a) => expect(isPrivateAddress(a)).toBe(true));

  it.each([
    ['93.184.216.34'],
    ['2606:2800:220:1:248:1893:25c8:1946'],
    ['::ffff:93.184.216.34'],
    ['64:ff9b::5db8:d822'],
    ['2002:5db8:d822::1'],
  ])('%s is public', (a) => expect(isPrivateAddress(a)).toBe(false));

  it('parses every spelling to the same bytes', () => {
    expect(ipv6Bytes('::ffff:0:127.0.0.1')).toEqual(ipv6Bytes('0:0:0:0:ffff:0:7f00:0001'));
    expect(ipv6Bytes('1::2:3::4')).toBeUndefined();
    expect(embeddedIpv4(ipv6Bytes('::127.0.0.1')!)).toContain('127.0.0.1');
  });
});

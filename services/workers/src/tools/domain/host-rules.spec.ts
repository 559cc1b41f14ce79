import { defaultToolSettings } from './tool';
import { allowedHosts, hostAllowed } from './host-rules';

describe('hostAllowed', () => {
  it('given an exact entry, then only that host matches (any letter case, a trailing dot ignored)', () => {
    expect(hostAllowed('API.example.com.', ['api.example.com'])).toBe(true);
    expect(hostAllowed('www.example.com', ['api.example.com'])).toBe(false);
  });

  it('given a *. entry, then its subdomains match but not the bare domain or a look-alike', () => {
    expect(hostAllowed('a.b.example.com', ['*.example.com'])).toBe(true);
    expect(hostAllowed('example.com', ['*.example.com'])).toBe(false);
    expect(hostAllowed('evilexample.com', ['*.example.com'])).toBe(false);
  });

  it('given an empty allow-list, then nothing matches', () => {
    expect(hostAllowed('example.com', [])).toBe(false);
  });
});

describe('allowedHosts', () => {
  const settings = defaultToolSettings({
    http: { allowedHosts: ['worker.example'], allowPrivate: false, maxBytes: 1, timeoutMs: 1 },
  });

  it("given a decision naming http_hosts (or allowed_hosts), then those replace the worker's list", () => {
    expect(allowedHosts({ root: '/w', settings, constraints: { http_hosts: ['a.example'] } })).toEqual(['a.example']);
    expect(allowedHosts({ root: '/w', settings, constraints: { allowed_hosts: ['b.example'] } })).toEqual([
      'b.example',
    ]);
  });

  it("given no usable constraint, then the worker's list applies", () => {
    expect(allowedHosts({ root: '/w', settings })).toEqual(['worker.example']);
    expect(allowedHosts({ root: '/w', settings, constraints: { http_hosts: [1] } })).toEqual(['worker.example']);
  });

  it('given no worker settings either, then the tool is not configured', () => {
    expect(() => allowedHosts({ root: '/w' })).toThrow(expect.objectContaining({ code: 'TOOL.NOT_CONFIGURED' }));
  });
});

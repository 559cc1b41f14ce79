import { settingsOf, type ToolContext } from './tool';

/** True if `host` matches an allow-list entry (`example.com`, or `*.example.com` for its subdomains). */
export function hostAllowed(host: string, allowed: readonly string[]): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  return allowed.some((entry) => {
    const e = entry.toLowerCase().trim();
    if (e.startsWith('*.')) return h.endsWith(e.slice(1)) && h.length > e.length - 1;
    return h === e;
  });
}

/** The host allow-list: the decision's `constraints.http_hosts` if it names one, else the worker's. */
export function allowedHosts(ctx: ToolContext): string[] {
  const c = ctx.constraints?.http_hosts ?? ctx.constraints?.allowed_hosts;
  if (Array.isArray(c) && c.every((x) => typeof x === 'string')) return c;
  return settingsOf(ctx, 'http').http.allowedHosts;
}

/** The environment every program starts with: no secrets of the worker, a fixed PATH and locale. */
export function scrubbedEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    HOME: '/nonexistent',
    ...extra,
  };
}

import { Logger } from './logger';

describe('Logger', () => {
  let out: string[];
  let spies: jest.SpyInstance[];
  beforeEach(() => {
    out = [];
    const capture = ((chunk: string) => {
      out.push(String(chunk));
      return true;
    }) as never;
    spies = [
      jest.spyOn(process.stdout, 'write').mockImplementation(capture),
      jest.spyOn(process.stderr, 'write').mockImplementation(capture),
    ];
  });
  afterEach(() => spies.forEach((s) => s.mockRestore()));

  it('never prints secret-looking fields, and drops undefined ones', () => {
    const log = new Logger('t', 'json', 'debug');
    log.info('hello', {
      token: 'abc',
      api_key: 'k',
      Authorization: 'Bearer x',
      signature: 's',
      run_id: 'r1',
      missing: undefined,
    });
    const line = JSON.parse(out[0]!) as Record<string, unknown>;
    expect(line).toMatchObject({
      msg: 'hello',
      run_id: 'r1',
      token: '[redacted]',
      api_key: '[redacted]',
      Authorization: '[redacted]',
      signature: '[redacted]',
    });
    expect(out[0]).not.toMatch(/abc|Bearer x/);
    expect('missing' in line).toBe(false);
  });

  it('filters below its level and writes warnings and errors to stderr', () => {
    const log = new Logger('t', 'text', 'warn');
    log.info('quiet');
    log.warn('loud', { error: new Error('boom') });
    expect(out).toHaveLength(1);
    expect(out[0]).toBe('WARN  [t] loud error=boom\n');
  });
});

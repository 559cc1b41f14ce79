import { defaultToolSettings } from '../../tools/domain/tool';
import { constrainedEnv, executionLimits, outputCap } from './constraints';

describe('decision constraints → execution limits', () => {
  const settings = defaultToolSettings();

  it('timeout_seconds clamps the wall clock and every tool time cap, never extends them', () => {
    const l = executionLimits({ timeout_seconds: 2 }, 60_000, settings);
    expect(l.timeoutMs).toBe(2000);
    expect(l.settings.shell.timeoutMs).toBe(2000);
    expect(l.settings.http.timeoutMs).toBe(2000);
    expect(l.settings.email.timeoutMs).toBe(2000);
    expect(l.settings.endpoints.timeoutMs).toBe(2000);
    expect(executionLimits({ timeout_seconds: 600 }, 60_000, settings).timeoutMs).toBe(60_000);
    expect(executionLimits({}, 60_000, settings).timeoutMs).toBe(60_000);
    expect(executionLimits({ timeout_seconds: -1 }, 60_000, settings).timeoutMs).toBe(60_000);
  });

  it('max_output_bytes caps the output and the program output, at most the contract’s 64 KiB', () => {
    const l = executionLimits({ max_output_bytes: 300 }, 60_000, settings);
    expect(l.maxOutputBytes).toBe(300);
    expect(l.settings.maxProgramOutput).toBe(300);
    expect(outputCap({ max_output_bytes: 10_000_000 })).toBe(64 * 1024);
    expect(outputCap(undefined)).toBe(64 * 1024);
  });

  it('env_allow keeps only listed names of the fixed environment, and adds nothing', () => {
    const base = { PATH: '/bin', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8', HOME: '/w' };
    expect(constrainedEnv({ env_allow: ['PATH', 'LC_*', 'SECRET'] }, base)).toEqual({
      PATH: '/bin',
      LC_ALL: 'C.UTF-8',
    });
    expect(constrainedEnv({ env_allow: [] }, base)).toEqual({});
    expect(constrainedEnv({}, base)).toBe(base);
  });
});

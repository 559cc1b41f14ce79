import { launchStdio, resolveCommand } from './upstream-launch';

const server = {
  name: 'everything',
  transport: 'stdio' as const,
  command: 'node',
  args: ['server.js', 'stdio'],
  env: { TOKEN: 't' },
  role: 'research',
  cwd: '/srv',
};
const limits = { memoryMb: 512, cpuSeconds: 10, nproc: 64, fsizeMb: 8 };

describe('launching a stdio upstream server', () => {
  it('runs it under prlimit and setpriv with only the base env and its own', () => {
    const l = launchStdio(server, limits, () => true);
    const argv = [l.command, ...l.args];
    expect(argv.slice(0, 6)).toEqual([
      'prlimit',
      `--as=${512 * 1024 * 1024}`,
      '--cpu=10',
      '--nproc=64',
      `--fsize=${8 * 1024 * 1024}`,
      '--',
    ]);
    expect(argv).toContain('--no-new-privs');
    const env = argv.indexOf('-i');
    expect(argv[env - 1]).toBe('/usr/bin/env');
    expect(argv.slice(env + 1, env + 7)).toEqual([
      'PATH=/usr/local/bin:/usr/bin:/bin',
      'LANG=C.UTF-8',
      'HOME=/nonexistent',
      'NODE_ENV=production',
      'TMPDIR=/tmp',
      'TOKEN=t',
    ]);
    expect(argv.slice(-3)).toEqual([process.execPath, 'server.js', 'stdio']);
    expect(l.cwd).toBe('/srv');
  });

  it('says what the host cannot give, never silently', () => {
    const l = launchStdio(server, limits, () => false);
    expect(l.command).toBe('/usr/bin/env');
    expect(l.warnings.join('\n')).toMatch(/prlimit is unavailable[\s\S]*setpriv is unavailable/);
  });

  it('resolves commands: node is this Node, relative paths from cwd', () => {
    expect(resolveCommand('node', '/x')).toBe(process.execPath);
    expect(resolveCommand('./bin/srv', '/opt/s')).toBe('/opt/s/bin/srv');
    expect(resolveCommand('sh', '/x', '/usr/bin:/bin')).toMatch(/\/sh$/);
  });
});

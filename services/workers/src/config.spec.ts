import { loadConfig } from './config';

describe('workers config', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({});
    expect(c.WORKERS_PORT).toBe(7105);
    expect(c.WORKER_ROLES).toEqual(['dev', 'research', 'outreach']);
    expect(c.WARDEN_WORKSPACE).toBe('./var/workspace');
    expect(c.WORKER_ID).toMatch(new RegExp(`-${process.pid}$`));
  });

  it('parses and validates the role list', () => {
    expect(loadConfig({ WORKER_ROLES: ' dev , research,dev ' }).WORKER_ROLES).toEqual(['dev', 'research']);
    expect(() => loadConfig({ WORKER_ROLES: 'dev,Bad Role' })).toThrow(/WORKER_ROLES\.1: each role/);
    expect(() => loadConfig({ WORKER_ROLES: ' , ' })).toThrow(/WORKER_ROLES: name at least one role/);
  });
});

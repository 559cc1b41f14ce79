import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { waitFor } from '@warden/testing';
import { DashboardWorld } from './support/dashboard-world';

/** Debian's chromium (`apt-get install -y chromium`); CI installs it. Never skipped: missing means failed. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

describe('the operator dashboard in a real browser (headless Chromium, all five services)', () => {
  const w = new DashboardWorld();
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(
        `Chromium not found at ${CHROMIUM}: install it with "apt-get install -y chromium" (or set CHROMIUM_PATH). ` +
          'This browser test is never skipped.',
      );
    await w.start();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
    page = await browser.newPage();
    page.on('pageerror', (err) => pageErrors.push(err.message));
    // the 401 of the bad token and the 409 of the double vote are expected; anything else is not
    page.on('response', (r) => {
      if (r.status() >= 400 && ![401, 409].includes(r.status())) pageErrors.push(`${r.status()} ${r.url()}`);
    });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await w.stop();
  });

  async function signIn(token: string, name: string) {
    await page.getByLabel('Operator token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText(new RegExp(`^${name} \\(approver`)).waitFor();
    await page.locator('#live-state[data-state="live"]').waitFor();
  }

  it('signs in, approves an escalation by clicking (two approvers for tier 3), and watches the run finish', async () => {
    const alice = await w.operator('alice');
    const bob = await w.operator('bob');
    await page.goto(`${w.url}/`);
    await expect(page.title()).resolves.toBe('Warden approvals');

    // a bad token is refused with a message, and nothing else shows
    await page.getByLabel('Operator token').fill('wop_wrong');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'not valid' }).waitFor();
    expect(await page.locator('#app').isHidden()).toBe(true);

    await signIn(alice.token, 'alice');
    await expect(page.getByRole('heading', { name: /Pending approvals/ }).isVisible()).resolves.toBe(true);

    // the escalation arrives live (SSE): tier 3, two approvers
    const runId = await w.submit('fs.write_file', { path: 'prod/ui.yaml', content: 'replicas: 5' });
    const card = page.locator('li.card', { hasText: 'prod/ui.yaml' });
    await card.waitFor({ timeout: 15_000 });
    await expect(card.getByRole('heading').textContent()).resolves.toContain('fs.write_file');
    await expect(card.textContent()).resolves.toMatch(/writing under prod\/ needs two approvers/);
    await expect(card.textContent()).resolves.toMatch(/expires in \d+/);
    await expect(card.textContent()).resolves.toMatch(/0 of 2 approvals/);

    await card.getByLabel('Comment (optional)').fill('checked the replica count');
    await card.getByRole('button', { name: 'Approve' }).click();
    await card.getByText(/1 of 2 approvals \(alice approved\)/).waitFor();
    await page.locator('#announcer', { hasText: /recorded; 1 of 2 approvals/ }).waitFor();

    // the same operator cannot count twice: the engine says so, the page shows it
    await card.getByRole('button', { name: 'Approve' }).click();
    await card
      .getByRole('alert')
      .filter({ hasText: /already voted/ })
      .waitFor();

    // a second operator signs in, opens the run's timeline, approves, and watches the run finish
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Operator token').waitFor();
    await signIn(bob.token, 'bob');
    const bobCard = page.locator('li.card', { hasText: 'prod/ui.yaml' });
    await bobCard.getByRole('button', { name: runId.slice(0, 8) }).click();
    await page.getByRole('heading', { name: /Run timeline/ }).waitFor();
    await expect(page.evaluate('document.activeElement && document.activeElement.id')).resolves.toBe(
      'timeline-heading',
    );
    await page.locator('[data-run-status]', { hasText: 'awaiting approval' }).waitFor();

    // the live region holds only the latest message, and the run may finish (announcing that) right after
    // the grant: record every announcement instead of racing to see one
    // (typed through globalThis: the tests compile without DOM types)
    type Page = {
      announced: string[];
      document: { getElementById(id: string): { textContent: string | null } };
      MutationObserver: new (cb: () => void) => { observe(node: unknown, opts: object): void };
    };
    await page.evaluate(() => {
      const g = globalThis as unknown as Page;
      g.announced = [];
      const node = g.document.getElementById('announcer');
      new g.MutationObserver(() => g.announced.push(node.textContent ?? '')).observe(node, {
        childList: true,
        characterData: true,
        subtree: true,
      });
    });
    await bobCard.getByRole('button', { name: 'Approve' }).click();
    await page.waitForFunction(() => (globalThis as unknown as Page).announced.some((t) => /granted/.test(t)));
    await expect(bobCard.count()).resolves.toBe(0);
    await page.locator('[data-run-status]', { hasText: 'succeeded' }).waitFor({ timeout: 20_000 });
    const timeline = page.locator('#timeline');
    for (const type of [
      'task_received',
      'decision_made',
      'approval_requested',
      'approval_granted',
      'run_queued',
      'run_succeeded',
    ])
      await timeline.getByText(type, { exact: true }).first().waitFor();
    const traceId = await page.locator('#run-facts dd code').nth(1).textContent();
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);

    // what the browser showed is what happened
    await waitFor(() => existsSync(join(w.workspace, 'prod/ui.yaml')), 'the file written by the worker');
    expect(readFileSync(join(w.workspace, 'prod/ui.yaml'), 'utf8')).toBe('replicas: 5');
    const approvals = await w.api<{ items: { votes: { operator: string; channel: string }[] }[] }>(
      '/v1/approvals?status=granted',
      bob.token,
    );
    const votes = approvals.body.items.flatMap((a) => a.votes);
    expect(
      votes
        .filter((v) => v.channel === 'dashboard')
        .map((v) => v.operator)
        .sort(),
    ).toEqual(['alice', 'bob']);

    // keyboard: Escape closes the timeline and returns focus to where it was opened from
    await page.keyboard.press('Escape');
    await expect(page.locator('#timeline-panel').isHidden()).resolves.toBe(true);
    expect(pageErrors).toEqual([]);
  });
});

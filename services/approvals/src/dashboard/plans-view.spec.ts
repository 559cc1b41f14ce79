import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';

interface Item {
  index: number;
  status: string;
  reason?: string;
  approval?: { status: string; tier: number; required_votes: number; votes: { vote: string }[] };
}
interface Plans {
  voteBody(plan: { items: Item[] }, ticked: number[], rest: string): { approve: 'all' | number[]; rest: string };
  itemState(i: Item): string;
}

/** The dashboard's plans.js, loaded as the browser would but without a document (its pure helpers only). */
function load(): Plans {
  const window: { WardenPlans?: Plans } = {};
  runInNewContext(readFileSync(join(__dirname, 'static/plans.js'), 'utf8'), { window });
  return window.WardenPlans!;
}

const pending = (tier: number, votes = 0) => ({
  status: 'pending',
  tier,
  required_votes: tier === 3 ? 2 : 1,
  votes: Array.from({ length: votes }, () => ({ vote: 'approve' })),
});

describe('dashboard plan view (plans.js)', () => {
  const { voteBody, itemState } = load();
  const plan = {
    items: [
      { index: 0, status: 'awaiting_approval', approval: pending(2) },
      { index: 1, status: 'awaiting_approval', approval: pending(3, 1) },
      { index: 2, status: 'succeeded' },
      { index: 3, status: 'denied', reason: 'secrets are never read' },
    ],
  };

  it('ticking every waiting item approves all; a subset names its indexes; the rest follows the choice', () => {
    expect(voteBody(plan, [0, 1], 'reject')).toEqual({ approve: 'all', rest: 'reject' });
    expect(voteBody(plan, [1], 'pending')).toEqual({ approve: [1], rest: 'pending' });
    // a tick on an item that needs no approval is not a vote
    expect(voteBody(plan, [0, 2], 'anything')).toEqual({ approve: [0], rest: 'reject' });
    expect(voteBody(plan, [], 'reject')).toEqual({ approve: [], rest: 'reject' });
  });

  it('says what each item waits for or what became of it', () => {
    expect(plan.items.map((i) => itemState(i))).toEqual([
      'needs approval · tier 2 · 0 of 1',
      'needs approval · tier 3 · 1 of 2',
      'no approval needed · run succeeded',
      'denied by policy: secrets are never read',
    ]);
  });
});

import { EventAuthenticity, installEventAuthenticity } from '@warden/bus';
import { newId } from '@warden/kernel';
import { forgeAs, receivedEnvelope, sealAs, testKeyring } from '@warden/testing';
import { receivedAlone } from './slack-plans';

const receipt = (runId: string, plan?: { id: string; index: number; count: number }) =>
  receivedEnvelope(runId, plan ? { plan } : {});

const bytes = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));

describe('receivedAlone: a run is judged alone at once only on its own genuine, plan-less task_received', () => {
  afterEach(() => installEventAuthenticity(undefined));

  it('is true for a genuine task_received of the run that names no plan', () => {
    installEventAuthenticity(new EventAuthenticity(testKeyring('approvals')));
    const runId = newId();
    expect(receivedAlone(bytes(sealAs(receipt(runId))), runId)).toBe(true);
  });

  it('is false for a genuine receipt that names a plan: plan membership decides', () => {
    installEventAuthenticity(new EventAuthenticity(testKeyring('approvals')));
    const runId = newId();
    expect(receivedAlone(bytes(sealAs(receipt(runId, { id: newId(), index: 0, count: 2 }))), runId)).toBe(false);
  });

  it('is false for a forged plan-less receipt (a plan item cannot be posted alone by a forgery)', () => {
    installEventAuthenticity(new EventAuthenticity(testKeyring('approvals')));
    const runId = newId();
    expect(receivedAlone(bytes(forgeAs(receipt(runId))), runId)).toBe(false);
    // unsigned, or signed and then altered to drop the plan
    expect(receivedAlone(bytes(receipt(runId)), runId)).toBe(false);
    const sealed = sealAs(receipt(runId, { id: newId(), index: 1, count: 2 }));
    const altered = { ...sealed, data: { ...sealed.data, submission: { ...sealed.data.submission, plan: undefined } } };
    expect(receivedAlone(bytes(altered), runId)).toBe(false);
  });

  it("is false for another run's genuine receipt replayed on this run's subject, and for garbage", () => {
    installEventAuthenticity(new EventAuthenticity(testKeyring('approvals')));
    const runId = newId();
    expect(receivedAlone(bytes(sealAs(receipt(newId()))), runId)).toBe(false);
    expect(receivedAlone(bytes('{not json'), runId)).toBe(false);
    expect(receivedAlone(bytes({ type: 'task_received' }), runId)).toBe(false);
  });

  it('is false when this process checks no signatures: nothing on the bus is taken at its word', () => {
    const runId = newId();
    expect(receivedAlone(bytes(sealAs(receipt(runId))), runId)).toBe(false);
  });
});

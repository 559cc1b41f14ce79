/* Warden dashboard: plans awaiting approval (a plan's escalated items decided in one action). Plain JS. */
/* global window, document, sessionStorage */
'use strict';

(function () {
  const TOKEN_KEY = 'warden.token';
  const POLL_MS = 3000;

  /**
   * The body of `POST /v1/plans/:id/votes` for the items ticked: every pending item ticked is
   * `'all'`; otherwise their indexes. `rest` says what happens to the pending items not ticked.
   */
  function voteBody(plan, ticked, rest) {
    const pending = plan.items.filter((i) => i.approval && i.approval.status === 'pending').map((i) => i.index);
    const chosen = pending.filter((n) => ticked.includes(n));
    const all = chosen.length === pending.length && pending.length > 0;
    return { approve: all ? 'all' : chosen, rest: rest === 'pending' ? 'pending' : 'reject' };
  }

  /** One item's state in words. */
  function itemState(i) {
    const a = i.approval;
    if (a) {
      const yes = a.votes.filter((v) => v.vote === 'approve').length;
      if (a.status === 'pending') return `needs approval · tier ${a.tier} · ${yes} of ${a.required_votes}`;
      return `${a.status} · tier ${a.tier}${a.status === 'granted' ? ` · run ${i.status.replace(/_/g, ' ')}` : ''}`;
    }
    if (i.status === 'denied') return `denied by policy${i.reason ? `: ${i.reason}` : ''}`;
    return `no approval needed · run ${i.status.replace(/_/g, ' ')}`;
  }

  window.WardenPlans = { voteBody, itemState };
  if (typeof document === 'undefined' || !document.getElementById) return;

  const $ = (id) => document.getElementById(id);
  // the element builder and the screen-reader announcer of app.js (index.html loads it first)
  const { el, announce } = window.WardenDom;
  let timer = null;
  let busy = false;

  async function api(path, opts = {}) {
    const token = sessionStorage.getItem(TOKEN_KEY) || '';
    const res = await window.fetch(path, {
      ...opts,
      headers: {
        Accept: 'application/json',
        Authorization: `Bearer ${token}`,
        'X-Warden-Channel': 'dashboard',
        ...(opts.headers || {}),
      },
    });
    const body = await res.json().catch(() => null);
    if (!res.ok) throw new Error((body && (body.detail || body.title)) || `HTTP ${res.status}`);
    return body;
  }

  /** The panel, made once, just above the approval inbox. */
  function panel() {
    let p = $('plans-panel');
    if (p) return p;
    const inbox = $('inbox-heading');
    if (!inbox) return null;
    p = el(
      'section',
      { id: 'plans-panel', class: 'panel', 'aria-labelledby': 'plans-heading', hidden: true },
      el('h2', { id: 'plans-heading' }, 'Plans awaiting approval ', el('span', { id: 'plans-count', class: 'count' })),
      el('ul', { id: 'plans', class: 'cards' }),
    );
    inbox.closest('section').before(p);
    return p;
  }

  function planCard(plan) {
    const form = el('form', { class: 'card', 'aria-label': `Plan ${plan.id.slice(0, 8)}` });
    form.append(
      el('h3', { text: `${plan.agent.id} (${plan.agent.role}) · ${plan.count} item${plan.count === 1 ? '' : 's'}` }),
    );
    if (plan.intent) form.append(el('p', { class: 'meta', text: plan.intent }));
    const list = el('ol', { class: 'plan-items' });
    for (const i of plan.items) {
      const pending = Boolean(i.approval && i.approval.status === 'pending');
      const id = `plan-${plan.id}-${i.index}`;
      const box = el('input', { type: 'checkbox', id, name: 'item', value: String(i.index), disabled: !pending });
      box.checked = pending;
      list.append(
        el(
          'li',
          {},
          box,
          el('label', { for: id }, el('code', { text: i.action.tool }), ` ${JSON.stringify(i.action.args)} — `),
          el('span', { class: 'meta', text: itemState(i) }),
        ),
      );
    }
    form.append(list);
    const rest = el(
      'select',
      { name: 'rest', 'aria-label': 'Items not ticked' },
      el('option', { value: 'reject', text: 'Reject the items not ticked' }),
      el('option', { value: 'pending', text: 'Leave the items not ticked pending' }),
    );
    const error = el('p', { class: 'error', role: 'alert' });
    const send = async (approveNone) => {
      const ticked = approveNone
        ? []
        : [...form.querySelectorAll('input[name=item]:checked')].map((b) => Number(b.value));
      const body = approveNone ? { approve: [], rest: 'reject' } : voteBody(plan, ticked, rest.value);
      error.textContent = '';
      try {
        const r = await api(`/v1/plans/${plan.id}/votes`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
        });
        announce(`Plan of ${plan.agent.id}: ${r.votes.length} vote${r.votes.length === 1 ? '' : 's'} recorded.`);
        await refresh();
      } catch (err) {
        error.textContent = err.message;
      }
    };
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void send(false);
    });
    form.append(
      el(
        'div',
        { class: 'actions' },
        rest,
        el('button', { type: 'submit', text: 'Approve ticked' }),
        el('button', { type: 'button', class: 'secondary', text: 'Reject all', onclick: () => void send(true) }),
      ),
      error,
    );
    return el('li', {}, form);
  }

  async function refresh() {
    const p = panel();
    const app = $('app');
    if (!p || !app || app.hidden || !sessionStorage.getItem(TOKEN_KEY) || busy) return;
    // a form the operator is working in is not redrawn under them
    if (p.contains(document.activeElement) && document.activeElement !== document.body) return;
    busy = true;
    try {
      const { items } = await api('/v1/plans?status=pending&limit=20');
      const list = $('plans');
      list.replaceChildren(...items.map(planCard));
      $('plans-count').textContent = String(items.length);
      p.hidden = items.length === 0;
    } catch {
      // the inbox shows each item too; a failed refresh is retried on the next tick
    } finally {
      busy = false;
    }
  }

  function start() {
    if (timer) return;
    void refresh();
    timer = window.setInterval(() => void refresh(), POLL_MS);
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();

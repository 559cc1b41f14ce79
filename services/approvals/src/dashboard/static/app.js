/* Warden operator dashboard: plain JS, no build step, no dependencies. */
/* global window, document, sessionStorage, requestAnimationFrame, TextDecoderStream */
'use strict';

(function () {
  const TOKEN_KEY = 'warden.token';
  // the run status machine, served from @warden/contracts as /dashboard/run-status.js
  const RunStatus = window.WardenRunStatus;
  const TERMINAL = new Set(RunStatus.TERMINAL_STATUSES);
  const CLOSED = { approval_granted: 'granted', approval_rejected: 'rejected', approval_expired: 'expired' };

  const $ = (id) => document.getElementById(id);
  const state = {
    token: sessionStorage.getItem(TOKEN_KEY) || '',
    me: null,
    inbox: new Map(), // approval id -> view
    runs: new Map(), // run id -> summary
    view: 'active',
    selected: null, // run id whose timeline is open
    timeline: [], // envelopes of the selected run
    stream: null, // AbortController of the live stream
    renderQueued: false,
    session: 0, // bumped on sign-out: late answers of an earlier session are dropped
    closed: new Set(), // approvals seen closing on the stream (a lagging snapshot must not bring them back)
  };

  // ---------- small helpers ----------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }
  function announce(text) {
    const a = $('announcer');
    if (!a) return;
    a.textContent = '';
    // a fresh text node makes screen readers read it even when it repeats
    window.setTimeout(() => (a.textContent = text), 30);
  }
  // for the dashboard's other scripts (plans.js, loaded after this one)
  window.WardenDom = { el, announce };
  function duration(ms) {
    const s = Math.max(0, Math.round(Math.abs(ms) / 1000));
    if (s < 60) return `${s}s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m}m ${s % 60}s`;
    const h = Math.floor(m / 60);
    if (h < 48) return `${h}h ${m % 60}m`;
    return `${Math.floor(h / 24)}d ${h % 24}h`;
  }
  function timeEl(iso, text) {
    return el('time', { datetime: iso, title: new Date(iso).toLocaleString() }, text);
  }
  function shortId(id) {
    return String(id || '').slice(0, 8);
  }
  function statusLabel(s) {
    return String(s || '').replace(/_/g, ' ');
  }

  async function api(path, opts = {}) {
    const res = await window.fetch(path, {
      ...opts,
      headers: { Accept: 'application/json', Authorization: `Bearer ${state.token}`, ...(opts.headers || {}) },
    });
    if (res.status === 401) {
      signOut('Your session is no longer valid; sign in again.');
      throw new Error('unauthenticated');
    }
    const body = res.status === 204 ? null : await res.json().catch(() => null);
    if (!res.ok) {
      const err = new Error((body && (body.detail || body.title)) || `HTTP ${res.status}`);
      err.status = res.status;
      err.body = body;
      throw err;
    }
    return body;
  }

  // ---------- sign in / out ----------
  async function signIn(token) {
    state.token = token;
    const me = await api('/v1/dashboard/me');
    state.me = me;
    sessionStorage.setItem(TOKEN_KEY, token);
    $('who-name').textContent = `${me.name} (${me.roles.join(', ')}, tier ≤ ${me.max_tier})`;
    $('who').hidden = false;
    $('sign-in').hidden = true;
    $('app').hidden = false;
    $('live-state').hidden = false;
    await refreshAll();
    connectStream();
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    state.session++;
    state.closed.clear();
    state.token = '';
    state.me = null;
    if (state.stream) state.stream.abort();
    state.stream = null;
    state.inbox.clear();
    state.runs.clear();
    closeTimeline(false);
    $('app').hidden = true;
    $('who').hidden = true;
    $('live-state').hidden = true;
    $('sign-in').hidden = false;
    $('token').value = '';
    $('sign-in-error').textContent = message || '';
    $('token').focus();
  }

  // ---------- data ----------
  /** The read models may lag the live stream by a moment: never let a snapshot undo what the stream said. */
  function newer(a, b) {
    if (!a) return b;
    if (TERMINAL.has(a.status) && !TERMINAL.has(b.status)) return { ...b, ...a };
    return a.updated_at > b.updated_at ? { ...b, ...a } : { ...a, ...b };
  }

  async function refreshAll() {
    const session = state.session;
    const [inbox, runs] = await Promise.all([
      api('/v1/dashboard/inbox'),
      api(`/v1/dashboard/runs?view=${state.view}&limit=100`),
    ]);
    if (session !== state.session) return;
    state.inbox = new Map(inbox.items.filter((a) => !state.closed.has(a.id)).map((a) => [a.id, a]));
    const before = state.runs;
    state.runs = new Map(runs.runs.map((r) => [r.run_id, newer(before.get(r.run_id), r)]));
    if (state.selected) await loadTimeline(state.selected, false);
    render();
  }

  async function loadTimeline(runId, focus) {
    const session = state.session;
    const data = await api(`/v1/dashboard/runs/${encodeURIComponent(runId)}`);
    if (session !== state.session) return;
    // events the stream brought that the snapshot does not hold yet stay, after it
    const ids = new Set(data.events.map((e) => e.id));
    const extra = state.selected === runId ? state.timeline.filter((e) => !ids.has(e.id)) : [];
    state.selected = runId;
    state.timeline = [...data.events, ...extra];
    const run = newer(state.runs.get(runId), data.run);
    state.runs.set(runId, run);
    renderTimeline(run);
    if (focus) $('timeline-heading').focus();
  }

  function closeTimeline(focus) {
    const was = state.selected;
    state.selected = null;
    state.timeline = [];
    $('timeline-panel').hidden = true;
    if (focus && was) {
      const btn = document.querySelector(`[data-open-run="${was}"]`);
      if (btn) btn.focus();
    }
  }

  // ---------- live updates (SSE over fetch, so the token travels in a header, never in a URL) ----------
  function setLive(kind, text) {
    $('live-state').dataset.state = kind;
    $('live-text').textContent = text;
  }

  function connectStream() {
    if (state.stream) state.stream.abort();
    const ctrl = new window.AbortController();
    state.stream = ctrl;
    let first = true;
    const run = async () => {
      while (!ctrl.signal.aborted) {
        try {
          setLive('connecting', 'Connecting…');
          const res = await window.fetch('/v1/stream', {
            headers: { Accept: 'text/event-stream', Authorization: `Bearer ${state.token}` },
            signal: ctrl.signal,
            cache: 'no-store',
          });
          if (res.status === 401) return signOut('Your session is no longer valid; sign in again.');
          if (!res.ok || !res.body) throw new Error(`stream answered ${res.status}`);
          setLive('live', 'Live');
          // whatever happened while disconnected: catch up once
          if (!first) await refreshAll();
          first = false;
          const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
          let buf = '';
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buf += value;
            let i;
            while ((i = buf.indexOf('\n\n')) >= 0) {
              onFrame(buf.slice(0, i));
              buf = buf.slice(i + 2);
            }
          }
        } catch (err) {
          if (ctrl.signal.aborted) return;
          first = false;
        }
        if (ctrl.signal.aborted) return;
        setLive('connecting', 'Reconnecting…');
        await new Promise((r) => window.setTimeout(r, 2000));
      }
    };
    run();
  }

  function onFrame(frame) {
    let event = 'message';
    const data = [];
    for (const line of frame.split('\n')) {
      if (line.startsWith(':')) continue;
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (event !== 'run-event' || data.length === 0) return;
    try {
      applyEvent(JSON.parse(data.join('\n')));
    } catch (err) {
      /* a frame we cannot read changes nothing */
    }
  }

  function applyEvent(env) {
    if (!env || !env.run_id) return;
    const d = env.data || {};
    // runs
    let run = state.runs.get(env.run_id);
    if (!run && env.type === 'task_received') {
      const sub = d.submission || {};
      run = {
        run_id: env.run_id,
        status: 'received',
        agent: sub.agent || null,
        tool: sub.action ? sub.action.tool : null,
        tier: null,
        trace_id: env.trace_id,
        created_at: env.occurred_at,
        updated_at: env.occurred_at,
        last_event: env.type,
      };
      state.runs.set(env.run_id, run);
    }
    if (run) {
      const before = run.status;
      // the snapshot may lag the stream: move to the event's status unless the run is terminal
      run.status = RunStatus.catchUpStatus(run.status, env.type);
      if (env.type === 'decision_made') run.tier = d.tier;
      run.updated_at = env.occurred_at;
      run.last_event = env.type;
      if (env.run_id === state.selected && before !== run.status && TERMINAL.has(run.status))
        announce(`Run ${run.tool || shortId(run.run_id)} ${statusLabel(run.status)}.`);
    }
    // inbox
    if (env.type === 'approval_requested') {
      if (!state.inbox.has(d.approval_id)) {
        state.inbox.set(d.approval_id, {
          id: d.approval_id,
          run_id: env.run_id,
          tier: d.tier,
          status: 'pending',
          required_votes: d.required_votes,
          votes: [],
          expires_at: d.expires_at,
          created_at: env.occurred_at,
          agent: d.agent,
          session_id: d.session_id,
          action: d.action,
          decision: d.decision,
          reasons: (d.decision && d.decision.reasons) || [],
          trace_id: env.trace_id,
        });
        announce(`New approval request: ${d.action.tool}, tier ${d.tier}.`);
      }
    } else if (env.type === 'approval_vote') {
      const a = state.inbox.get(d.approval_id);
      if (a && !a.votes.some((v) => v.operator === d.operator))
        a.votes.push({ operator: d.operator, vote: d.vote, comment: d.comment, at: env.occurred_at });
    } else if (CLOSED[env.type]) {
      state.closed.add(d.approval_id);
      const a = state.inbox.get(d.approval_id);
      if (a) {
        state.inbox.delete(d.approval_id);
        const by = (d.operators || []).join(', ');
        announce(`Approval of ${a.action.tool} ${CLOSED[env.type]}${by ? ` by ${by}` : ''}.`);
      }
    }
    // timeline
    if (env.run_id === state.selected && !state.timeline.some((e) => e.id === env.id)) state.timeline.push(env);
    scheduleRender();
  }

  // ---------- rendering ----------
  function scheduleRender() {
    if (state.renderQueued) return;
    state.renderQueued = true;
    requestAnimationFrame(() => {
      state.renderQueued = false;
      render();
    });
  }

  function render() {
    renderInbox();
    renderRuns();
    if (state.selected) renderTimeline(state.runs.get(state.selected));
  }

  function renderInbox() {
    const list = $('inbox');
    const items = [...state.inbox.values()].sort((a, b) => Date.parse(a.expires_at) - Date.parse(b.expires_at));
    $('inbox-count').textContent = String(items.length);
    $('inbox-empty').hidden = items.length > 0;
    // keep cards that still exist (and whatever the operator is typing in them)
    const keep = new Set(items.map((a) => a.id));
    for (const li of [...list.children]) if (!keep.has(li.dataset.id)) li.remove();
    let prev = null;
    for (const a of items) {
      let li = list.querySelector(`li[data-id="${a.id}"]`);
      if (!li) li = card(a);
      else updateVotes(li, a);
      if (prev ? prev.nextSibling !== li : list.firstChild !== li)
        list.insertBefore(li, prev ? prev.nextSibling : list.firstChild);
      prev = li;
    }
    tick();
  }

  function card(a) {
    const hid = `approval-${a.id}`;
    const comment = `comment-${a.id}`;
    const standing = `standing-${a.id}`;
    const reasons = a.reasons && a.reasons.length ? a.reasons : (a.decision && a.decision.reasons) || [];
    const canVote =
      state.me && state.me.roles.some((r) => r === 'approver' || r === 'admin') && state.me.max_tier >= a.tier;
    const li = el(
      'li',
      { class: 'card', 'data-id': a.id, 'aria-labelledby': hid },
      el('h3', { id: hid }, el('code', { text: a.action.tool }), el('span', { class: 'tier', text: `tier ${a.tier}` })),
      el(
        'p',
        { class: 'meta' },
        `Agent `,
        el('code', { text: a.agent ? a.agent.id : '?' }),
        ` (${a.agent ? a.agent.role : '?'})`,
        a.session_id ? ' · session ' : null,
        a.session_id ? el('code', { text: a.session_id }) : null,
        ' · requested ',
        el('span', { 'data-age': a.created_at }, timeEl(a.created_at, '')),
        ' ago · ',
        el('span', { 'data-expires': a.expires_at }, timeEl(a.expires_at, '')),
      ),
      el('p', { class: 'meta votes', 'data-votes': '' }),
      el('p', { class: 'meta', text: 'Why:' }),
      el('ul', {}, ...reasons.map((r) => el('li', { text: r }))),
      el('p', { class: 'meta', text: 'Arguments:' }),
      el(
        'pre',
        { class: 'args', tabindex: '0', 'aria-label': `Arguments of ${a.action.tool}` },
        JSON.stringify(a.action.args, null, 2),
      ),
      el(
        'p',
        { class: 'meta' },
        'Run ',
        el(
          'button',
          {
            type: 'button',
            class: 'secondary',
            'data-open-run': a.run_id,
            'aria-label': `Timeline of run ${shortId(a.run_id)}`,
            onclick: () => openRun(a.run_id),
          },
          shortId(a.run_id),
        ),
      ),
    );
    if (canVote) {
      const form = el(
        'form',
        { class: 'actions', 'aria-label': `Decide on ${a.action.tool}` },
        el(
          'div',
          { class: 'field' },
          el('label', { for: comment, text: 'Comment (optional)' }),
          el('textarea', { id: comment, name: 'comment', rows: '1', maxlength: '2000' }),
        ),
        el(
          'div',
          { class: 'field' },
          el('label', { for: standing, text: 'If approved, also allow' }),
          el(
            'select',
            { id: standing, name: 'standing' },
            el('option', { value: '', text: 'this action only' }),
            a.session_id
              ? el('option', { value: 'session:28800', text: 'this tool for the rest of the session (8 h max)' })
              : null,
            el('option', { value: 'agent:3600', text: 'this tool for this agent, 1 hour' }),
            el('option', { value: 'agent:28800', text: 'this tool for this agent, 8 hours' }),
          ),
        ),
        el('button', { type: 'submit', class: 'approve', value: 'approve', text: 'Approve' }),
        el('button', { type: 'submit', class: 'reject', value: 'reject', text: 'Reject' }),
        el('p', { class: 'error', role: 'alert', 'data-error': '' }),
      );
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        vote(a, e.submitter ? e.submitter.value : 'approve', form);
      });
      li.append(form);
    } else {
      li.append(
        el('p', { class: 'help', text: `You cannot vote on this one (needs the approver role and tier ≥ ${a.tier}).` }),
      );
    }
    updateVotes(li, a);
    return li;
  }

  function updateVotes(li, a) {
    const p = li.querySelector('[data-votes]');
    const approvals = a.votes.filter((v) => v.vote === 'approve').length;
    const who = a.votes.map((v) => `${v.operator} ${v.vote === 'approve' ? 'approved' : 'rejected'}`).join(', ');
    p.textContent = `${approvals} of ${a.required_votes} approval${a.required_votes === 1 ? '' : 's'}${who ? ` (${who})` : ''}`;
  }

  async function vote(a, kind, form) {
    const buttons = form.querySelectorAll('button');
    const error = form.querySelector('[data-error]');
    error.textContent = '';
    buttons.forEach((b) => (b.disabled = true));
    const body = {};
    const comment = form.elements.comment.value.trim();
    if (comment) body.comment = comment;
    const standing = form.elements.standing.value;
    if (kind === 'approve' && standing) {
      const [scope, ttl] = standing.split(':');
      body.standing = { scope, ttl_seconds: Number(ttl) };
    }
    try {
      const view = await api(`/v1/dashboard/approvals/${a.id}/${kind}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (view.status === 'pending') {
        state.inbox.set(a.id, view);
        announce(
          `Your ${kind} vote on ${a.action.tool} is recorded; ${view.votes.filter((v) => v.vote === 'approve').length} of ${view.required_votes} approvals.`,
        );
        buttons.forEach((b) => (b.disabled = false));
        form.elements.comment.value = '';
      } else {
        state.inbox.delete(a.id);
        announce(`Approval of ${a.action.tool} ${view.status}.`);
        $('inbox-heading').focus();
      }
      render();
    } catch (err) {
      buttons.forEach((b) => (b.disabled = false));
      error.textContent = `Not recorded: ${err.message}`;
      if (err.status === 409 && /already (granted|rejected|expired)|expired|has the votes/.test(err.message)) {
        // decided elsewhere meanwhile: the live stream removes it, but do not wait for it
        const session = state.session;
        window.setTimeout(() => session === state.session && refreshAll().catch(() => undefined), 500);
      }
    }
  }

  function renderRuns() {
    const body = $('runs-body');
    let runs = [...state.runs.values()];
    if (state.view === 'active') runs = runs.filter((r) => !TERMINAL.has(r.status));
    runs.sort((a, b) => (a.updated_at < b.updated_at ? 1 : a.updated_at > b.updated_at ? -1 : 0));
    runs = runs.slice(0, 100);
    $('runs-empty').hidden = runs.length > 0;
    $('runs-caption').textContent =
      `${state.view === 'active' ? 'Active' : 'Recent'} runs, most recently changed first`;
    const rows = runs.map((r) =>
      el(
        'tr',
        { 'data-run': r.run_id },
        el('td', {}, el('span', { class: 'status', 'data-status': r.status, text: statusLabel(r.status) })),
        el('td', {}, el('code', { text: r.tool || '?' })),
        el('td', { text: r.agent ? r.agent.id : '?' }),
        el('td', { text: r.tier ? String(r.tier) : '–' }),
        el('td', {}, timeEl(r.updated_at, new Date(r.updated_at).toLocaleTimeString())),
        el(
          'td',
          {},
          el(
            'button',
            {
              type: 'button',
              class: 'secondary',
              'data-open-run': r.run_id,
              'aria-label': `Timeline of ${r.tool || 'run'} ${shortId(r.run_id)}`,
              onclick: () => openRun(r.run_id),
            },
            'Timeline',
          ),
        ),
      ),
    );
    // keep focus on the same button across re-renders
    const focused =
      document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.openRun : null;
    body.replaceChildren(...rows);
    if (focused && body.contains(document.activeElement) === false) {
      const again = body.querySelector(`[data-open-run="${focused}"]`);
      if (again) again.focus();
    }
  }

  async function openRun(runId) {
    try {
      await loadTimeline(runId, true);
    } catch (err) {
      announce(`Could not open the run: ${err.message}`);
    }
  }

  function renderTimeline(run) {
    const panel = $('timeline-panel');
    panel.hidden = false;
    if (!run) return;
    $('timeline-heading').textContent = `Run timeline: ${run.tool || ''} ${shortId(run.run_id)}`;
    const facts = [
      [
        'Status',
        el('span', {
          class: 'status',
          'data-status': run.status,
          'data-run-status': '',
          text: statusLabel(run.status),
        }),
      ],
      ['Run id', el('code', { text: run.run_id })],
      ['Trace id', el('code', { text: run.trace_id || '' })],
      ['Agent', run.agent ? `${run.agent.id} (${run.agent.role})` : '?'],
      ['Session', run.session_id || '–'],
      ['Decision', run.outcome ? `${run.outcome}, tier ${run.tier}` : '–'],
    ];
    $('run-facts').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', {}, v)]));
    const items = state.timeline.map((e) => {
      const summary = el(
        'summary',
        {},
        el('span', { class: 'etype', text: e.type }),
        ' · ',
        timeEl(e.occurred_at, new Date(e.occurred_at).toLocaleTimeString()),
        ` · ${e.producer}`,
      );
      const detail = e.type === 'decision_made' ? decisionDetails(e.data) : null;
      return el(
        'li',
        {},
        el('details', {}, summary, detail, el('pre', { class: 'json', text: JSON.stringify(e, null, 2) })),
      );
    });
    $('timeline').replaceChildren(...items);
  }

  function decisionDetails(d) {
    return el(
      'dl',
      { class: 'facts' },
      el('dt', { text: 'Outcome' }),
      el('dd', { text: `${d.outcome} (tier ${d.tier}, ${d.mode})` }),
      el('dt', { text: 'Rules' }),
      el('dd', { text: (d.rule_ids || []).join(', ') || '–' }),
      el('dt', { text: 'Reasons' }),
      el('dd', { text: (d.reasons || []).join('; ') || '–' }),
      el('dt', { text: 'Policy' }),
      el('dd', { text: `${d.policy_version} ${d.policy_digest}` }),
      el('dt', { text: 'Input hash' }),
      el('dd', { text: d.input_hash }),
    );
  }

  /** Ages and expiry countdowns, once a second (not announced: it would drown everything else). */
  function tick() {
    const now = Date.now();
    for (const n of document.querySelectorAll('[data-age]'))
      n.firstChild.textContent = duration(now - Date.parse(n.dataset.age));
    for (const n of document.querySelectorAll('[data-expires]')) {
      const left = Date.parse(n.dataset.expires) - now;
      n.firstChild.textContent = left > 0 ? `expires in ${duration(left)}` : 'expired';
      n.classList.toggle('soon', left < 5 * 60_000);
    }
  }

  // ---------- wiring ----------
  document.addEventListener('DOMContentLoaded', () => {
    $('sign-in-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      const token = $('token').value.trim();
      if (!token) {
        $('sign-in-error').textContent = 'Enter your operator token.';
        return;
      }
      $('sign-in-error').textContent = '';
      try {
        await signIn(token);
        $('inbox-heading').focus();
        announce(`Signed in as ${state.me.name}.`);
      } catch (err) {
        if (err.message !== 'unauthenticated') signOut(`Sign-in failed: ${err.message}`);
        else $('sign-in-error').textContent = 'That token is not valid.';
      }
    });
    $('sign-out').addEventListener('click', () => signOut('Signed out.'));
    $('close-timeline').addEventListener('click', () => closeTimeline(true));
    for (const b of document.querySelectorAll('button.toggle')) {
      b.addEventListener('click', async () => {
        state.view = b.dataset.view;
        for (const o of document.querySelectorAll('button.toggle')) o.setAttribute('aria-pressed', String(o === b));
        try {
          const session = state.session;
          const runs = await api(`/v1/dashboard/runs?view=${state.view}&limit=100`);
          if (session !== state.session) return;
          const before = state.runs;
          state.runs = new Map(runs.runs.map((r) => [r.run_id, newer(before.get(r.run_id), r)]));
          renderRuns();
        } catch (err) {
          announce(`Could not load runs: ${err.message}`);
        }
      });
    }
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && state.selected) closeTimeline(true);
    });
    window.setInterval(tick, 1000);
    // a full resync now and then, in case the stream missed something
    window.setInterval(() => {
      if (state.token && state.me) refreshAll().catch(() => undefined);
    }, 60_000);
    if (state.token) {
      signIn(state.token).catch(() => signOut(''));
    } else {
      $('token').focus();
    }
  });
})();

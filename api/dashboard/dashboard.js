// The live dashboard's client (plain script, no build step; uPlot is the global from uPlot.iife.min.js).
// It asks for a bearer token, keeps it in this tab's sessionStorage, and reads /api/dashboard/stream with fetch
// and an Authorization header (EventSource cannot send one, and a token in a URL would be logged). Every value
// reaches the page through textContent or a property: no HTML is built from data.
'use strict';

(() => {
  const TOKEN_KEY = 'sync-orchestrator.dashboard.token';
  const params = new URLSearchParams(location.search);
  const interval = /^\d{3,5}$/.test(params.get('interval') ?? '') ? params.get('interval') : '2000';
  const $ = (id) => document.getElementById(id);
  let controller;
  let reconnectTimer;
  let charts;

  // ---- formatting ----
  const int = (n) => (n == null ? '–' : Math.round(n).toLocaleString('en'));
  const pct = (r) => (r == null ? '–' : `${(r * 100).toFixed(r >= 0.995 || r === 0 ? 0 : 1)} %`);
  const ms = (v) => (v == null ? '–' : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`);
  const duration = (s) => {
    if (s == null) return '–';
    if (s < 60) return `${Math.round(s)} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
    return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  };
  const set = (id, text) => {
    const el = $(id);
    if (el && el.textContent !== text) el.textContent = text;
  };
  const pill = (id, state) => {
    const el = $(id);
    el.textContent = state;
    el.dataset.state = state;
  };
  const el = (tag, text, cls) => {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  };
  const fill = (parent, children) => parent.replaceChildren(...children);

  // ---- connection ----
  function setConn(state, text) {
    const c = $('conn');
    c.dataset.state = state;
    c.textContent = text;
  }

  function showLogin(message) {
    controller?.abort();
    clearTimeout(reconnectTimer);
    $('board').hidden = true;
    $('forget').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = message ?? '';
    setConn('idle', 'not connected');
    $('token').focus();
  }

  function scheduleReconnect(ms) {
    clearTimeout(reconnectTimer);
    reconnectTimer = setTimeout(connect, ms);
  }

  async function connect() {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) return showLogin();
    $('login').hidden = true;
    $('forget').hidden = false;
    setConn('connecting', 'connecting…');
    controller?.abort();
    controller = new AbortController();
    let res;
    try {
      res = await fetch(`/api/dashboard/stream?intervalMs=${interval}`, {
        headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
        cache: 'no-store',
        signal: controller.signal,
      });
    } catch (err) {
      if (err.name === 'AbortError') return;
      setConn('error', 'offline, retrying');
      return scheduleReconnect(3000);
    }
    if (res.status === 401 || res.status === 403) {
      const problem = await res.json().catch(() => ({}));
      sessionStorage.removeItem(TOKEN_KEY);
      return showLogin(`${res.status}: ${problem.detail ?? problem.title ?? 'refused'}`);
    }
    if (!res.ok || !res.body) {
      setConn('error', `HTTP ${res.status}, retrying`);
      return scheduleReconnect(3000);
    }
    $('board').hidden = false;
    charts ??= makeCharts();
    try {
      await readEvents(res.body, onEvent);
      // The server ends a stream after a while (so the token is checked again): reconnect at once.
      scheduleReconnect(200);
    } catch (err) {
      if (err.name === 'AbortError') return;
      setConn('error', 'stream broke, retrying');
      scheduleReconnect(2000);
    }
  }

  /** Reads server-sent events from a byte stream: calls on(event, data) for each complete event. */
  async function readEvents(body, on) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value.replace(/\r\n?/g, '\n');
      let end;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        let event = 'message';
        const data = [];
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const i = line.indexOf(':');
          const field = i < 0 ? line : line.slice(0, i);
          const v = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
          if (field === 'event') event = v;
          else if (field === 'data') data.push(v);
        }
        if (data.length) on(event, data.join('\n'));
      }
    }
  }

  function onEvent(event, data) {
    if (event === 'snapshot') {
      render(JSON.parse(data));
      setConn('live', 'live');
    } else if (event === 'error') {
      setConn('error', JSON.parse(data).message);
    }
  }

  // ---- charts (uPlot) ----
  function makeCharts() {
    const HEIGHT = 160;
    const width = (id) => Math.max(240, $(id).clientWidth);
    const axes = (unit) => [{}, { size: 64, values: (u, vals) => vals.map((v) => (v == null ? '' : `${v}${unit}`)) }];
    const latency = new uPlot(
      {
        width: width('chart-latency'),
        height: HEIGHT,
        title: 'p95 latency to essential data ready',
        legend: { live: false },
        scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(100, max * 1.1)] } },
        axes: axes(' ms'),
        series: [
          {},
          { label: 'temporal p95', stroke: '#2b6cb0', width: 2, points: { show: true, size: 7 }, spanGaps: false },
          { label: 'direct p95', stroke: '#dd6b20', width: 2, points: { show: true, size: 7 }, spanGaps: false },
        ],
      },
      [[], [], []],
      $('chart-latency'),
    );
    const counts = new uPlot(
      {
        width: width('chart-counts'),
        height: HEIGHT,
        title: 'logins and fallbacks per minute',
        legend: { live: false },
        scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(4, max * 1.1)] } },
        axes: axes(''),
        series: [
          {},
          { label: 'temporal', stroke: '#2b6cb0', width: 2, points: { show: true, size: 6 } },
          { label: 'direct', stroke: '#dd6b20', width: 2, points: { show: true, size: 6 } },
          { label: 'fallbacks', stroke: '#c53030', fill: 'rgba(197,48,48,0.25)', width: 1, paths: uPlot.paths.bars({ size: [0.6, 40] }) },
        ],
      },
      [[], [], [], []],
      $('chart-counts'),
    );
    const resize = () => {
      latency.setSize({ width: width('chart-latency'), height: HEIGHT });
      counts.setSize({ width: width('chart-counts'), height: HEIGHT });
    };
    new ResizeObserver(resize).observe($('logins'));
    return { latency, counts };
  }

  // ---- sections ----
  function renderLogins(l) {
    if (!l) return;
    set('m-logins-temporal', int(l.methods.temporal.total));
    set('m-logins-direct', int(l.methods.direct.total));
    set('m-logins-fallbacks', int(l.fallbacks.total));
    set('m-logins-success', pct(l.finished ? l.successRate : null));
    const s = l.series;
    let latest = null;
    for (let i = s.t.length - 1; i >= 0 && latest == null; i--) latest = s.temporal[i].p95Ms ?? s.direct[i].p95Ms;
    set('m-logins-p95', ms(latest));
    const reasons = Object.entries(l.fallbacks.byReason).map(([r, n]) => `${r} ${n}`);
    set('m-fallback-reasons', reasons.length ? `Fallback reasons (window): ${reasons.join(', ')}` : 'No fallback in the window.');
    const zeroToNull = (n) => (n === 0 ? null : n);
    charts.latency.setData([s.t, s.temporal.map((p) => p.p95Ms), s.direct.map((p) => p.p95Ms)]);
    charts.counts.setData([
      s.t,
      s.temporal.map((p) => zeroToNull(p.count)),
      s.direct.map((p) => zeroToNull(p.count)),
      s.fallbacks.map(zeroToNull),
    ]);
  }

  function renderSyncs(s) {
    if (!s) return;
    set('m-syncs-active', int(s.active));
    set('m-syncs-stuck', int(s.stuck));
    set('m-syncs-findings', int(s.openFindings));
    set('m-syncs-inflight', int(s.inFlightLogins));
    pill('m-health', s.status);
    fill(
      $('stuck-list'),
      s.stuckRuns.map((r) => el('li', `${r.tenantId}: no progress since ${new Date(r.lastProgressAt).toLocaleTimeString()}`)),
    );
  }

  function batchRowEl(b) {
    const tr = document.createElement('tr');
    tr.dataset.batch = b.batchId;
    tr.dataset.state = b.state;
    const bar = document.createElement('progress');
    bar.max = 100;
    if (b.percent != null) bar.value = b.percent;
    bar.setAttribute('aria-label', `progress of ${b.batchId}`);
    const barCell = el('td', undefined, 'bar');
    const inner = el('div');
    inner.append(bar, el('span', b.percent == null ? '…' : `${b.percent.toFixed(1)} %`));
    barCell.append(inner);
    tr.append(
      el('td', b.batchId),
      el('td', `${b.tenantId ?? 'namespace'} / ${b.collection}${b.dryRun ? ' (dry run)' : ''}`),
      el('td', b.state),
      barCell,
      el('td', `${int(b.processed)} / ${b.total == null ? '?' : int(b.total)}`, 'processed'),
      el('td', b.ratePerSec ? `${int(b.ratePerSec)}/s` : '–'),
      el('td', duration(b.etaSeconds)),
      el('td', int(b.failed)),
    );
    return tr;
  }

  function renderReconcile(r) {
    if (!r) return;
    set('m-reconcile-running', `${r.running} running${r.truncated ? ' (more than shown)' : ''}`);
    fill($('batches'), r.batches.map(batchRowEl));
    $('no-batches').hidden = r.batches.length > 0;
  }

  function renderWork(w) {
    if (!w) {
      set('m-queue', 'Temporal did not answer: failed runs and the task queue are unknown.');
      return;
    }
    fill(
      $('failed-rows'),
      w.failedByType.map((f) => {
        const tr = document.createElement('tr');
        tr.dataset.type = f.workflowType;
        if (f.failed + f.timedOut + f.terminated > 0) tr.className = 'error';
        tr.append(
          el('td', f.workflowType),
          el('td', int(f.failed)),
          el('td', int(f.timedOut)),
          el('td', int(f.terminated)),
          el('td', int(f.canceled)),
        );
        return tr;
      }),
    );
    set(
      'm-queue',
      `Task queue: backlog ${int(w.backlog.workflow)} workflow / ${int(w.backlog.activity)} activity tasks; pollers ${w.pollers.workflow} / ${w.pollers.activity}.`,
    );
  }

  function renderQuotas(q, pauses) {
    const rows = [
      ['reconcile running (you see) / cap', `${q.reconcileRunning} / ${q.global.reconcileConcurrent}`],
      ['migrations at once', int(q.global.migrationsConcurrent)],
      ['logins per tenant per minute', int(q.tenantDefaults.ensurePerMinute)],
      ['batches per tenant at once', int(q.tenantDefaults.reconcileConcurrentBatches)],
      ['batch starts per tenant per hour', int(q.tenantDefaults.reconcileStartsPerHour)],
    ];
    fill(
      $('quota-list'),
      rows.flatMap(([k, v]) => [el('dt', k), el('dd', v)]),
    );
    if (pauses)
      fill(
        $('pause-list'),
        pauses.length
          ? pauses.map((p) =>
              el('li', `${p.kind}: paused by ${p.pausedBy} at ${new Date(p.pausedAt).toLocaleString()} (${p.reason})`, 'error'),
            )
          : [el('li', 'none', 'muted')],
      );
  }

  function renderCache(c) {
    set('m-cache-hit', pct(c.hitRate));
    set('m-cache-state', `cache ${c.enabled ? 'on' : 'off'}, Redis ${c.redis}`);
    fill(
      $('cache-list'),
      Object.entries(c.namespaces).map(([n, s]) =>
        el('li', `${n}: ${pct(s.hitRate)} (${s.hits} hits, ${s.misses} misses, ${s.bypassed} bypassed)`),
      ),
    );
  }

  function render(s) {
    set('updated', `updated ${new Date(s.generatedAt).toLocaleTimeString()}`);
    set('coverage', s.tenants === '*' ? 'all tenants' : `${s.tenants.length} tenant(s)`);
    renderLogins(s.logins);
    renderSyncs(s.syncs);
    pill('m-breaker', s.breaker.state);
    renderReconcile(s.reconcile);
    renderWork(s.work);
    renderQuotas(s.quotas, s.pauses);
    renderCache(s.cache);
    const errors = Object.entries(s.errors).map(([k, v]) => `${k}: ${v}`);
    set('errors', errors.length ? `Not read this time — ${errors.join('; ')}` : '');
  }

  // ---- start ----
  $('login').addEventListener('submit', (e) => {
    e.preventDefault();
    const token = $('token')
      .value.trim()
      .replace(/^Bearer\s+/i, '');
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    $('token').value = '';
    void connect();
  });
  $('forget').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin('Token forgotten.');
  });
  void connect();
})();

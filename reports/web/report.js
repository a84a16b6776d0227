// reports/web/report.js: draws report.html from the inlined result document (schema: reports/schema/result.schema.json).
// Tables are plain DOM; plots are Vega-Lite specs rendered by vega-embed, each only
// when its section scrolls into view (IntersectionObserver), so a report of hundreds
// of tensors opens fast.
(function () {
  'use strict';

  const doc = JSON.parse(document.getElementById('fpscope-result').textContent);
  const app = document.getElementById('app');

  // ---------- small helpers ----------
  // A schema "real": a number or "inf" / "-inf" / "nan".
  const real = (v) => (typeof v === 'number' ? v : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : NaN);
  const fmt = (v, digits = 4) => {
    const x = real(v);
    if (v === null || v === undefined) return '';
    if (!Number.isFinite(x)) return String(v);
    if (x === 0) return '0';
    const a = Math.abs(x);
    return a >= 1e5 || a < 1e-3 ? x.toExponential(digits - 2) : String(+x.toPrecision(digits));
  };
  const pct = (num, den) => (den > 0 ? (100 * num) / den : 0);
  const fmtPct = (p) => (p === 0 ? '0' : p < 0.01 ? p.toExponential(1) : String(+p.toPrecision(3))) + '%';
  const el = (tag, attrs, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c);
    return e;
  };
  const STATUS_LABEL = { tolerated: 'tolerated', marginal: 'marginal', not_tolerated: 'not tolerated' };
  const STATUS_GLYPH = { tolerated: '✓', marginal: '~', not_tolerated: '✗' };
  const STATUS_RANK = { tolerated: 0, marginal: 1, not_tolerated: 2 };
  const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  const failureText = (f) => {
    const lower = f.statistic === 'sqnr_db' || f.statistic === 'cosine';
    return `${f.statistic} = ${fmt(f.value)} (${lower ? 'needs ≥' : 'needs ≤'} ${fmt(f.limit)}; off by ${fmt(f.by, 3)}${
      f.statistic === 'sqnr_db' ? ' dB' : '×'})`;
  };
  const tensorName = (t) => t.name || t.file;
  // Matrix cells name the deciding statistic in a few letters (the full name is in the hover text).
  const SHORT = { underflow_pct: 'underflow', overflow_pct: 'overflow', sqnr_db: 'sqnr', mean_rel_error: 'rel err', max_rel_error: 'max rel', nan_pct: 'nan', cosine: 'cos' };
  const shortStat = (s) => SHORT[s] || s;

  const combos = doc.combinations;
  const comboById = new Map(combos.map((c) => [c.id, c]));
  const formats = [...new Set(combos.map((c) => c.format))];
  const tensors = doc.tensors;
  const steps = [...new Set(tensors.map((t) => t.step).filter((s) => s >= 0))].sort((a, b) => a - b);
  const roles = [...new Set(doc.layers.map((l) => l.role))];

  // Vega config matching the colour scheme (read once; the page follows the scheme on reload).
  const vegaConfig = () => {
    const fg = cssVar('--fg'), muted = cssVar('--muted'), grid = cssVar('--grid'), line = cssVar('--line');
    return {
      background: null,
      font: 'system-ui, sans-serif',
      view: { stroke: line },
      axis: { labelColor: muted, titleColor: fg, gridColor: grid, domainColor: line, tickColor: line, labelFontSize: 10, titleFontSize: 11 },
      legend: { labelColor: fg, titleColor: fg, labelFontSize: 10, titleFontSize: 11 },
      title: { color: fg, fontSize: 12, anchor: 'start', subtitleColor: muted },
      header: { labelColor: fg, titleColor: fg },
      text: { color: fg },
    };
  };
  const embed = (target, spec) =>
    vegaEmbed(target, spec, {
      mode: 'vega-lite',
      renderer: 'svg',
      actions: false,
      config: vegaConfig(),
    }).catch((err) => {
      target.textContent = 'plot failed: ' + err.message;
      console.error(err);
    });

  // Lazy plots: draw(target) runs once, when the target comes near the viewport.
  const pending = new Map();
  const observer = new IntersectionObserver(
    (entries) => {
      for (const entry of entries) {
        if (!entry.isIntersecting) continue;
        const draw = pending.get(entry.target);
        observer.unobserve(entry.target);
        pending.delete(entry.target);
        entry.target.classList.remove('pending');
        if (draw) draw(entry.target);
      }
    },
    { rootMargin: '300px 0px' },
  );
  const lazy = (target, draw) => {
    target.classList.add('pending');
    pending.set(target, draw);
    observer.observe(target);
    return target;
  };

  // Status colours for Vega (the CSS variables, so both schemes match the tables).
  const windowColours = () => ({
    domain: ['underflow', 'subnormal', 'normal', 'overflow'],
    range: ['#8c8c8c', cssVar('--warn') || '#b36b00', cssVar('--ok') || '#1a9850', cssVar('--bad') || '#c62828'],
  });

  // ---------- header ----------
  function header() {
    const s = doc.summary;
    const o = doc.options;
    const files = [...new Set(tensors.map((t) => t.file))];
    const thresholdRows = [];
    const limits = doc.thresholds.default || {};
    for (const [stat, lim] of Object.entries(limits)) {
      if (!lim) continue;
      const lower = stat === 'sqnr_db' || stat === 'cosine';
      thresholdRows.push(`${stat} ${lower ? '≥' : '≤'} ${fmt(lim.tolerated)} (marginal ${fmt(lim.marginal)})`);
    }
    const roleOverrides = Object.entries(doc.thresholds.roles || {}).map(
      ([role, lims]) =>
        `${role}: ` +
        Object.entries(lims)
          .filter(([, l]) => l)
          .map(([stat, l]) => `${stat} ${fmt(l.tolerated)}/${fmt(l.marginal)}`)
          .join(', '),
    );
    const facts = [
      ['Inputs', doc.inputs.join(', ')],
      ['Files', `${files.length}`],
      ['Tensors', `${s.tensors_analysed} analysed (${Number(s.elements).toLocaleString('en')} elements); ${s.tensors_failed} failed, ${s.tensors_unsupported} integer/bool, ${s.tensors_empty} empty, ${s.tensors_filtered_out} filtered out`],
      ['Steps', steps.length ? steps.join(', ') : 'unknown'],
      ['Formats', o.formats.join(', ')],
      ['Recipes', o.recipes.join(', ')],
      ['Rounding', o.rounding.join(', ') + (o.rounding.some((r) => r.startsWith('sr')) ? ` (seed ${o.seed})` : '')],
      ['Filter', o.filter || 'none'],
      ['Thresholds', thresholdRows.join('; ')],
      ['Per-role thresholds', roleOverrides.join(' · ') || 'none'],
      ['Tool', `${doc.tool.name} ${doc.tool.version} (${doc.tool.command}), result schema ${doc.schema_version}`],
    ];
    return el(
      'header',
      { id: 'top' },
      el('h1', { text: 'fpscope report' }),
      el('p', { class: 'lead', text: 'Which layers tolerate low-precision formats, and why: verdicts, magnitude histograms against each format\u2019s range, and every statistic.' }),
      el('nav', { class: 'toc' },
        el('a', { href: '#glance', text: 'At a glance' }),
        el('a', { href: '#matrix', text: 'Verdict matrix' }),
        el('a', { href: '#ranking', text: 'Most sensitive' }),
        steps.length > 1 ? el('a', { href: '#steps', text: 'Over steps' }) : null,
        el('a', { href: '#tensors', text: 'Tensors' }),
        el('a', { href: '#stats', text: 'All statistics' })),
      el('dl', { class: 'facts' }, facts.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })])),
    );
  }

  // ---------- at a glance: per format, how many (layer, role) tolerate it with their best recipe ----------
  function glance() {
    const panels = formats.map((format) => {
      const counts = { tolerated: 0, marginal: 0, not_tolerated: 0 };
      const reasons = new Map();
      const badLayers = [];
      const perRole = new Map();
      const perRecipe = new Map();
      for (const layer of doc.layers) {
        const roleCount = perRole.get(layer.role) || { ok: 0, all: 0 };
        perRole.set(layer.role, roleCount);
        const vs = layer.verdicts.filter((v) => comboById.get(v.combination)?.format === format);
        if (!vs.length) continue;
        const best = vs.reduce((a, b) => (STATUS_RANK[b.status] < STATUS_RANK[a.status] ? b : a));
        counts[best.status]++;
        roleCount.all++;
        if (best.status === 'tolerated') roleCount.ok++;
        for (const v of vs) {
          const recipe = comboById.get(v.combination).recipe + (new Set(combos.map((c) => c.rounding)).size > 1 ? '/' + comboById.get(v.combination).rounding : '');
          perRecipe.set(recipe, (perRecipe.get(recipe) || 0) + (v.status === 'tolerated' ? 1 : 0));
        }
        if (best.status !== 'tolerated') {
          const stat = best.failures && best.failures[0] ? best.failures[0].statistic : '?';
          reasons.set(stat, (reasons.get(stat) || 0) + 1);
          badLayers.push(`${layer.layer} (${layer.role})`);
        }
      }
      const total = counts.tolerated + counts.marginal + counts.not_tolerated;
      const bits = combos.find((c) => c.format === format)?.element_bits;
      const reasonText = [...reasons.entries()].sort((a, b) => b[1] - a[1]).map(([s, n]) => `${s} (${n})`).join(', ');
      return el('div', { class: 'panel' },
        el('h3', {}, el('span', { text: `${format}` }), el('span', { class: 'muted', text: ` · ${bits}-bit elements` })),
        el('div', { class: 'bar', title: `${counts.tolerated} tolerated, ${counts.marginal} marginal, ${counts.not_tolerated} not tolerated` },
          ['tolerated', 'marginal', 'not_tolerated'].map((s) =>
            el('span', { class: `st-${s}`, style: `width:${pct(counts[s], total)}%;background:var(--${s === 'tolerated' ? 'ok' : s === 'marginal' ? 'warn' : 'bad'})` }))),
        el('div', { text: `${counts.tolerated} of ${total} layer·roles tolerate ${format} with their best recipe; ${counts.marginal} marginal, ${counts.not_tolerated} not.` }),
        el('div', { class: 'muted', text: 'By role: ' + [...perRole.entries()].map(([r, c]) => `${r} ${c.ok}/${c.all}`).join(' · ') }),
        el('div', { class: 'muted', text: 'By recipe: ' + [...perRecipe.entries()].map(([r, n]) => `${r} ${n}`).join(' · ') }),
        reasonText ? el('div', { class: 'muted', text: `Deciding statistics: ${reasonText}.` }) : null,
        badLayers.length ? el('div', { class: 'muted', title: badLayers.join('\n'), text: `Not tolerated/marginal: ${badLayers.slice(0, 4).join(', ')}${badLayers.length > 4 ? `, … (${badLayers.length})` : ''}` }) : null);
    });
    return el('section', { id: 'glance' }, el('h2', { text: 'At a glance' }), headline(), el('div', { class: 'glance' }, panels));
  }

  // One sentence on the question the report is for: which layers tolerate 8-bit floats, and why not the others.
  function headline() {
    const fp8 = new Set(combos.filter((c) => c.element_bits === 8).map((c) => c.id));
    if (!fp8.size) return null;
    const names = [...new Set(combos.filter((c) => fp8.has(c.id)).map((c) => c.format))].join(', ');
    let ok = 0;
    const failing = new Map();  // role -> count
    const stats = new Map();  // deciding statistic of the best FP8 verdict -> count
    for (const layer of doc.layers) {
      const vs = layer.verdicts.filter((v) => fp8.has(v.combination));
      if (!vs.length) continue;
      const best = vs.reduce((a, b) => (STATUS_RANK[b.status] < STATUS_RANK[a.status] ? b : a));
      if (best.status === 'tolerated') { ok++; continue; }
      failing.set(layer.role, (failing.get(layer.role) || 0) + 1);
      const stat = best.failures && best.failures[0] ? best.failures[0].statistic : '?';
      stats.set(stat, (stats.get(stat) || 0) + 1);
    }
    const total = ok + [...failing.values()].reduce((a, b) => a + b, 0);
    const list = (m) => [...m.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} (${n})`).join(', ');
    return el('p', { class: 'panel', id: 'headline' },
      el('strong', { text: `FP8 (${names}): ${ok} of ${total} layer·roles are tolerated by at least one FP8 format and recipe.` }),
      failing.size ? ` The other ${total - ok} are ${list(failing)}; what decides against them: ${list(stats)}.` : ' Every layer tolerates FP8.');
  }

  // ---------- verdict matrix: layers (rows, grouped by role) x (format, recipe, rounding) ----------
  function matrix() {
    const table = el('table', { class: 'matrix', id: 'verdict-matrix' });
    const byFormat = formats.map((f) => combos.filter((c) => c.format === f));
    const multiRounding = new Set(combos.map((c) => c.rounding)).size > 1;
    table.append(el('thead', {},
      el('tr', {}, el('th', { class: 'layer', rowspan: 2, text: 'layer' }),
        byFormat.map((cs) => el('th', { class: 'fmt', colspan: cs.length, text: cs[0].format })),
        el('th', { rowspan: 2, text: 'cheapest tolerated' })),
      el('tr', {}, combos.map((c) => el('th', { class: 'fmt', title: c.id, text: c.recipe + (multiRounding ? '/' + c.rounding : '') })))));
    const body = el('tbody');
    for (const role of roles) {
      body.append(el('tr', { class: 'role-row' }, el('th', { colspan: combos.length + 2, text: `role: ${role}` })));
      for (const layer of doc.layers.filter((l) => l.role === role)) {
        const verdicts = new Map(layer.verdicts.map((v) => [v.combination, v]));
        const row = el('tr', { 'data-layer': layer.layer, 'data-role': role }, el('td', { class: 'layer mono', text: layer.layer }));
        for (const c of combos) {
          const v = verdicts.get(c.id);
          if (!v) { row.append(el('td', { class: 'cell', text: '' })); continue; }
          const first = v.failures && v.failures[0];
          const tip = [`${layer.layer} (${role}) · ${c.id}: ${STATUS_LABEL[v.status]}`,
            `${fmt(v.bits_per_element, 3)} bits/element; worst tensor: ${v.worst_tensor}`,
            ...(v.failures || []).map((f) => (f.marginal ? 'marginal: ' : 'fails: ') + failureText(f))].join('\n');
          row.append(el('td', { class: `cell st-${v.status}`, title: tip, 'data-status': v.status },
            STATUS_GLYPH[v.status] + (first ? ' ' + shortStat(first.statistic) : '')));
        }
        const ch = layer.cheapest_tolerated;
        const chName = ch ? (multiRounding ? ch.combination : ch.combination.replace(/\/[^/]*$/, '')) : '';
        row.append(el('td', { class: 'mono cheapest', title: ch ? `${ch.combination}: ${fmt(ch.bits_per_element, 4)} bits per element, scales included` : 'no combination tolerated',
          text: ch ? `${chName} (${fmt(ch.bits_per_element, 3)} b)` : 'none' }));
        body.append(row);
      }
    }
    table.append(body);
    return el('section', { id: 'matrix' },
      el('h2', { text: 'Verdict matrix' }),
      el('p', { class: 'muted', text: 'Rows: layers by role; columns: format and recipe. The worst tensor over all captured steps decides; a cell names the statistic that decided. Hover a cell for the numbers and the limit.' }),
      el('div', { class: 'legend' }, ['tolerated', 'marginal', 'not_tolerated'].map((s) => el('span', { class: `chip st-${s}`, text: `${STATUS_GLYPH[s]} ${STATUS_LABEL[s]}` }))),
      el('div', { class: 'scroll' }, table));
  }

  // ---------- ranking ----------
  function ranking() {
    const rows = doc.ranking.slice(0, 15).map((r) =>
      el('tr', {}, el('td', { class: 'num', text: r.rank }), el('td', { class: 'mono', text: r.layer }), el('td', { text: r.role }),
        el('td', { class: 'num', text: r.cheapest_bits_per_element === undefined ? '' : fmt(r.cheapest_bits_per_element, 3) }),
        el('td', { text: r.reason })));
    return el('section', { id: 'ranking' }, el('h2', { text: 'Most sensitive layers' }),
      el('p', { class: 'muted', text: `${doc.ranking.length} layer·roles ranked from most to least sensitive; the first ${rows.length}:` }),
      el('div', { class: 'scroll' }, el('table', {}, el('thead', {}, el('tr', {}, ['rank', 'layer', 'role', 'cheapest bits/element', 'why'].map((h) => el('th', { text: h })))), el('tbody', {}, rows))));
  }

  // ---------- layer by step ----------
  function overSteps() {
    if (steps.length < 2) return null;
    // amax per (layer, role, step): the largest over the layer's tensors of that role.
    const amax = new Map();
    const under = [];
    for (const t of tensors) {
      if (t.step < 0) continue;
      const key = `${t.layer}\u0000${t.role}\u0000${t.step}`;
      const a = real(t.source.amax);
      if (Number.isFinite(a) && a > 0) amax.set(key, Math.max(amax.get(key) || 0, a));
      for (const r of t.results) {
        under.push({ layer: t.layer, role: t.role, step: t.step, combination: r.combination,
          underflow: r.counts.underflow_to_zero, overflow: r.counts.overflow, elements: r.counts.elements });
      }
    }
    const amaxRows = [...amax.entries()].map(([k, a]) => { const [layer, role, step] = k.split('\u0000'); return { layer, role, step: +step, amax: a }; });
    // Delayed scaling takes the scale from earlier steps' amax: growth between captures is what it lags behind.
    const growth = [];
    const byLayer = new Map();
    for (const r of amaxRows) {
      const k = `${r.layer}\u0000${r.role}`;
      if (!byLayer.has(k)) byLayer.set(k, []);
      byLayer.get(k).push(r);
    }
    for (const rs of byLayer.values()) {
      rs.sort((a, b) => a.step - b.step);
      for (let i = 1; i < rs.length; ++i) {
        const g = rs[i].amax / rs[i - 1].amax;
        growth.push({ layer: rs[i].layer, role: rs[i].role, steps: `${rs[i - 1].step}→${rs[i].step}`, growth: g, log2_growth: Math.log2(g) });
      }
    }
    const defaultCombo = (combos.find((c) => c.element_bits === 8 && c.recipe === 'tensor') || combos.find((c) => c.element_bits === 8) || combos[0]).id;
    const sec = el('section', { id: 'steps' }, el('h2', { text: 'Over training steps' }),
      el('p', { class: 'muted', text: `${steps.length} captured steps. Left: each layer\u2019s amax per role (log scale). Right: the fraction of elements that underflow to zero in the selected combination. Below: amax growth between captures in binades: above 0, a delayed-scaling recipe that takes its scale from the previous amax would overflow (or saturate) by 2 to that power.` }));
    const a = el('div', { class: 'plot', id: 'plot-steps-amax' });
    const b = el('div', { class: 'plot', id: 'plot-steps-underflow' });
    const c = el('div', { class: 'plot', id: 'plot-steps-growth' });
    sec.append(el('div', { style: 'display:flex;flex-wrap:wrap;gap:16px' }, a, b), c);
    lazy(a, (t) => embed(t, {
      data: { values: amaxRows },
      facet: { field: 'role', type: 'nominal', title: null }, columns: 4,
      spec: { width: 140, height: 130, mark: { type: 'line', point: true }, encoding: {
        x: { field: 'step', type: 'quantitative', title: 'step' },
        y: { field: 'amax', type: 'quantitative', scale: { type: 'log' }, title: 'amax' },
        color: { field: 'layer', type: 'nominal', legend: { columns: 2, symbolLimit: 40 } },
        tooltip: [{ field: 'layer' }, { field: 'role' }, { field: 'step' }, { field: 'amax', format: '.4g' }] } },
      resolve: { scale: { y: 'independent' } },
    }));
    lazy(b, (t) => embed(t, {
      data: { values: under },
      params: [{ name: 'combination', value: defaultCombo, bind: { input: 'select', options: combos.map((x) => x.id), name: 'combination ' } }],
      transform: [{ filter: 'datum.combination === combination' },
        { aggregate: [{ op: 'sum', field: 'underflow', as: 'underflow' }, { op: 'sum', field: 'elements', as: 'elements' }], groupby: ['layer', 'role', 'step'] },
        { calculate: 'datum.elements > 0 ? datum.underflow / datum.elements : 0', as: 'underflow_fraction' }],
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'step', type: 'quantitative' },
        y: { field: 'underflow_fraction', type: 'quantitative', title: 'underflow fraction', axis: { format: '.1%' } },
        color: { field: 'layer', type: 'nominal', legend: null },
        strokeDash: { field: 'role', type: 'nominal' },
        tooltip: [{ field: 'layer' }, { field: 'role' }, { field: 'step' }, { field: 'underflow_fraction', format: '.3%' }] },
      width: 320, height: 220,
    }));
    lazy(c, (t) => embed(t, {
      data: { values: growth }, width: { step: 12 }, height: 70,
      mark: 'bar',
      encoding: {
        x: { field: 'layer', type: 'nominal', sort: null, axis: { labelAngle: -60, labelLimit: 160 } },
        xOffset: { field: 'steps', type: 'nominal' },
        y: { field: 'log2_growth', type: 'quantitative', title: ['log2 amax', 'growth'] },
        color: { field: 'steps', type: 'nominal', title: 'steps' },
        row: { field: 'role', type: 'nominal', title: null },
        tooltip: [{ field: 'layer' }, { field: 'role' }, { field: 'steps' }, { field: 'growth', format: '.3g' }] },
      resolve: { scale: { y: 'independent' } },
    }));
    return sec;
  }

  // ---------- per tensor ----------
  // The format's value windows as source-magnitude binades after the recipe's scaling:
  // a value x is rounded as x * scale, so a scaled boundary B sits at B / scale in the source.
  function windowOf(combo, result, binade) {
    if (combo.min_subnormal === undefined) return null;
    const sc = result.scales;
    if (sc.count > 1 && real(sc.min) !== real(sc.max)) return null;  // per-block scales: shown from the counts instead
    const scale = real(sc.min) > 0 ? real(sc.min) : 1;
    const lo = Math.pow(2, binade) * scale, hi = Math.pow(2, binade + 1) * scale;
    if (lo > real(combo.max_finite)) return 'overflow';
    if (lo >= real(combo.min_normal)) return 'normal';
    if (hi > real(combo.min_subnormal) / 2) return 'subnormal';
    return 'underflow';
  }

  function tensorSpec(t) {
    const h = t.source.binade_histogram;
    const hist = h.counts.map((n, i) => ({ binade: h.first_binade + i, count: n })).filter((d) => d.count > 0);
    let lo = hist.length ? hist[0].binade : 0, hi = hist.length ? hist[hist.length - 1].binade : 0;
    lo -= 3; hi += 3;
    const windows = [];
    const marks = [];
    for (const r of t.results) {
      const c = comboById.get(r.combination);
      const w = r.window_histogram;
      const observed = new Map();
      w.underflow.forEach((_, i) => observed.set(w.first_binade + i, { u: w.underflow[i], s: w.subnormal[i], n: w.normal[i], o: w.overflow[i] }));
      for (let b = lo; b <= hi; ++b) {
        let cls = c ? windowOf(c, r, b) : null;
        const obs = observed.get(b);
        const scaled = cls !== null;
        if (cls === null && obs) {
          const best = [['underflow', obs.u], ['subnormal', obs.s], ['normal', obs.n], ['overflow', obs.o]].reduce((a, x) => (x[1] > a[1] ? x : a));
          cls = best[1] > 0 ? best[0] : null;
        }
        if (cls !== null) windows.push({ combination: r.combination, binade: b, binade_end: b + 1, window: cls, basis: scaled ? 'range after scaling' : 'most elements of this binade (per-block scales)',
          underflow: obs ? obs.u : 0, subnormal: obs ? obs.s : 0, normal: obs ? obs.n : 0, overflow: obs ? obs.o : 0 });
        if (obs && (obs.u > 0 || obs.o > 0)) marks.push({ combination: r.combination, binade: b + 0.5, lost: obs.u + obs.o, kind: obs.o > 0 ? 'overflow' : 'underflow', underflow: obs.u, overflow: obs.o });
      }
    }
    const rel = [];
    for (const r of t.results) {
      const e = r.relative_error_histogram;
      const compared = r.counts.compared || 1;
      if (e.exact > 0) rel.push({ combination: r.combination, bin: 'exact', order: -999, count: e.exact, fraction: e.exact / compared });
      e.counts.forEach((n, i) => { if (n > 0) rel.push({ combination: r.combination, bin: `1e${e.first_decade + i}`, order: e.first_decade + i, count: n, fraction: n / compared }); });
    }
    const comboOrder = t.results.map((r) => r.combination);
    const x = { field: 'binade', type: 'quantitative', scale: { domain: [lo, hi + 1], nice: false }, title: 'log2 |x| (binade)', axis: { tickMinStep: 1 } };
    const colours = windowColours();
    return {
      vconcat: [
        { title: { text: 'magnitudes by binade', subtitle: `${t.source.zeros} zeros · amax ${fmt(t.source.amax)} · ${fmt(t.source.dynamic_range_binades, 3)} binades` },
          width: 560, height: 90, data: { values: hist },
          mark: { type: 'rect', color: cssVar('--accent') || '#2457c5', stroke: cssVar('--bg') || '#fff', strokeWidth: 0.5 },
          encoding: { x: Object.assign({}, x, { title: null }), x2: { field: 'binade_end' },
            y: { field: 'count', type: 'quantitative', scale: { type: 'symlog' }, title: 'elements' }, y2: { datum: 0 },
            tooltip: [{ field: 'binade', title: 'binade (2^b)' }, { field: 'count', format: ',' }] },
          transform: [{ calculate: 'datum.binade + 1', as: 'binade_end' }] },
        { title: { text: 'each format\u2019s windows after scaling; dots: elements lost per binade', subtitle: 'grey underflow · amber subnormal · green normal · red overflow' },
          width: 560, height: { step: 11 },
          layer: [
            { data: { values: windows }, mark: { type: 'rect', opacity: 0.55 },
              encoding: { x: x, x2: { field: 'binade_end' }, y: { field: 'combination', type: 'nominal', sort: comboOrder, title: null, axis: { labelFontSize: 9, labelLimit: 150 } },
                color: { field: 'window', type: 'nominal', scale: colours, legend: null },
                tooltip: [{ field: 'combination' }, { field: 'binade', title: 'binade (2^b)' }, { field: 'window' }, { field: 'basis' },
                  { field: 'underflow', format: ',' }, { field: 'subnormal', format: ',' }, { field: 'normal', format: ',' }, { field: 'overflow', format: ',' }] } },
            { data: { values: marks }, mark: { type: 'circle', opacity: 0.9, stroke: cssVar('--fg') || '#000', strokeWidth: 0.5 },
              encoding: { x: x, y: { field: 'combination', type: 'nominal', sort: comboOrder },
                size: { field: 'lost', type: 'quantitative', scale: { type: 'sqrt', range: [6, 90] }, legend: null },
                color: { field: 'kind', type: 'nominal', scale: colours, legend: null },
                tooltip: [{ field: 'combination' }, { field: 'underflow', title: 'underflowed to 0', format: ',' }, { field: 'overflow', title: 'overflowed', format: ',' }] } },
          ] },
        { title: { text: 'relative error |q−x|/|x| (share of compared elements)' },
          width: 560, height: { step: 11 }, data: { values: rel }, mark: 'rect',
          encoding: { x: { field: 'bin', type: 'ordinal', sort: { field: 'order' }, title: 'relative error at least', axis: { labelAngle: 0, labelFontSize: 9 } },
            y: { field: 'combination', type: 'nominal', sort: comboOrder, title: null, axis: { labelFontSize: 9, labelLimit: 150 } },
            color: { field: 'fraction', type: 'quantitative', scale: { type: 'log', scheme: 'viridis', domain: [1e-6, 1], clamp: true }, title: 'share', legend: { format: '.0e', gradientLength: 80 } },
            tooltip: [{ field: 'combination' }, { field: 'bin', title: 'error ≥' }, { field: 'count', format: ',' }, { field: 'fraction', format: '.3%' }] } },
      ],
      resolve: { scale: { color: 'independent', size: 'independent' } },
    };
  }

  function tensorCard(t, index) {
    const chips = t.results.map((r) => {
      const f = r.verdict.failures[0];
      return el('span', { class: `chip st-${r.verdict.status}`, title: `${r.combination}: ${STATUS_LABEL[r.verdict.status]}${f ? '\n' + r.verdict.failures.map(failureText).join('\n') : ''}` },
        `${STATUS_GLYPH[r.verdict.status]} ${r.combination}`);
    });
    const plot = el('div', { class: 'plot histogram', 'data-tensor': index });
    lazy(plot, (target) => embed(target, tensorSpec(t)));
    return el('article', { class: 'tensor', id: `tensor-${index}`, 'data-name': tensorName(t) },
      el('header', {}, el('h3', { class: 'mono', text: tensorName(t) }),
        el('span', { class: 'muted', text: `step ${t.step < 0 ? '?' : t.step} · ${t.role}${t.role_inferred ? ' (inferred)' : ''} · ${t.dtype} [${t.shape.join('×')}] · ${Number(t.elements).toLocaleString('en')} elements` })),
      el('div', {}, chips), plot);
  }

  function tensorSection() {
    const sec = el('section', { id: 'tensors' }, el('h2', { text: `Tensors (${tensors.length})` }),
      el('p', { class: 'muted', text: 'Per tensor: the binade histogram of |x|; under it, for every format and recipe, which binades land in underflow, subnormal, normal or overflow after the recipe\u2019s scaling (per-block recipes: what most elements of the binade did), with dots sized by the elements lost; then the relative-error histogram. Plots draw as they scroll into view.' }));
    const search = el('input', { type: 'search', placeholder: 'filter tensors by name (regular expression)', size: 40, id: 'tensor-filter' });
    sec.append(el('div', { class: 'controls' }, search));
    const groups = new Map();
    tensors.forEach((t, i) => {
      const k = t.layer || '(no layer)';
      if (!groups.has(k)) groups.set(k, []);
      groups.get(k).push([t, i]);
    });
    const cards = [];
    for (const [layer, items] of groups) {
      const details = el('details', { class: 'layer-group', open: '' }, el('summary', { class: 'mono', text: `${layer} (${items.length})` }));
      for (const [t, i] of items) { const c = tensorCard(t, i); cards.push(c); details.append(c); }
      sec.append(details);
    }
    search.addEventListener('input', () => {
      let re = null;
      try { re = new RegExp(search.value, 'i'); } catch (e) { re = null; }
      for (const c of cards) c.hidden = re !== null && !re.test(c.dataset.name);
    });
    return sec;
  }

  // ---------- statistics table: every tensor x combination, sortable and filterable ----------
  function statsTable() {
    const columns = [
      { key: 'tensor', label: 'tensor', text: true }, { key: 'layer', label: 'layer', text: true }, { key: 'role', label: 'role', text: true },
      { key: 'step', label: 'step' }, { key: 'combination', label: 'combination', text: true }, { key: 'status', label: 'verdict', text: true },
      { key: 'why', label: 'deciding statistic', text: true }, { key: 'bits', label: 'bits/elem' }, { key: 'sqnr_db', label: 'sqnr_db' },
      { key: 'cosine', label: 'cosine' }, { key: 'mean_rel', label: 'mean_rel' }, { key: 'max_rel', label: 'max_rel' }, { key: 'rmse', label: 'rmse' },
      { key: 'underflow', label: 'underflow %' }, { key: 'subnormal', label: 'subnormal %' }, { key: 'overflow', label: 'overflow %' },
      { key: 'amax', label: 'amax' }, { key: 'scale', label: 'scale min' }, { key: 'elements', label: 'elements' },
    ];
    const rows = [];
    for (const t of tensors) {
      for (const r of t.results) {
        const n = r.counts.elements;
        const f = r.verdict.failures[0];
        rows.push({ tensor: tensorName(t), layer: t.layer, role: t.role, step: t.step, combination: r.combination, status: r.verdict.status,
          why: f ? `${f.statistic} ${fmt(f.value)} ${f.statistic === 'sqnr_db' || f.statistic === 'cosine' ? '<' : '>'} ${fmt(f.limit)}` : '', bits: r.bits_per_element, sqnr_db: real(r.errors.sqnr_db), cosine: real(r.errors.cosine),
          mean_rel: real(r.errors.mean_rel), max_rel: real(r.errors.max_rel), rmse: real(r.errors.rmse),
          underflow: pct(r.counts.underflow_to_zero, n), subnormal: pct(r.counts.subnormal, n), overflow: pct(r.counts.overflow, n),
          amax: real(t.source.amax), scale: real(r.scales.min), elements: n });
      }
    }
    const PAGE = 250;
    let shown = PAGE;
    let sortKey = null, sortDir = 1;
    const table = el('table', { class: 'stats', id: 'stats-table' });
    const headRow = el('tr');
    for (const c of columns) {
      const th = el('th', { class: c.text ? '' : 'num', 'data-key': c.key, 'aria-sort': 'none', title: 'click to sort', text: c.label });
      th.addEventListener('click', () => {
        sortDir = sortKey === c.key ? -sortDir : c.text ? 1 : -1;
        sortKey = c.key;
        for (const h of headRow.children) h.setAttribute('aria-sort', 'none');
        th.setAttribute('aria-sort', sortDir > 0 ? 'ascending' : 'descending');
        render();
      });
      headRow.append(th);
    }
    table.append(el('thead', {}, headRow));
    const body = el('tbody');
    table.append(body);
    const search = el('input', { type: 'search', placeholder: 'filter: tensor, layer, role or combination (regular expression)', size: 50, id: 'stats-filter' });
    const statusSel = el('select', { id: 'stats-status' }, el('option', { value: '', text: 'every verdict' }),
      ['tolerated', 'marginal', 'not_tolerated'].map((s) => el('option', { value: s, text: STATUS_LABEL[s] })));
    const comboSel = el('select', { id: 'stats-combination' }, el('option', { value: '', text: 'every combination' }), combos.map((c) => el('option', { value: c.id, text: c.id })));
    const info = el('span', { class: 'muted' });
    const more = el('button', { type: 'button', text: 'show more rows' });
    more.addEventListener('click', () => { shown += PAGE * 4; render(); });
    // Numbers sort numerically with NaN last in both directions.
    const compare = (a, b) => {
      const x = a[sortKey], y = b[sortKey];
      if (typeof x === 'string' || typeof y === 'string') return sortDir * String(x).localeCompare(String(y), 'en', { numeric: true });
      const xn = Number.isNaN(x), yn = Number.isNaN(y);
      if (xn || yn) return xn === yn ? 0 : xn ? 1 : -1;
      return sortDir * (x < y ? -1 : x > y ? 1 : 0);
    };
    function render() {
      let re = null;
      try { re = search.value ? new RegExp(search.value, 'i') : null; } catch (e) { re = null; }
      let view = rows.filter((r) => (!statusSel.value || r.status === statusSel.value) && (!comboSel.value || r.combination === comboSel.value) &&
        (!re || re.test(r.tensor) || re.test(r.layer) || re.test(r.role) || re.test(r.combination)));
      if (sortKey) view = view.slice().sort(compare);
      body.replaceChildren(...view.slice(0, shown).map((r) => el('tr', {}, columns.map((c) => {
        const v = r[c.key];
        if (c.key === 'status') return el('td', { class: `st-${v}`, 'data-value': v, text: STATUS_LABEL[v] });
        if (c.text) return el('td', { class: c.key === 'tensor' || c.key === 'layer' ? 'mono' : '', text: v });
        const shownText = ['underflow', 'subnormal', 'overflow'].includes(c.key) ? fmtPct(v) : c.key === 'elements' ? Number(v).toLocaleString('en') : fmt(v);
        return el('td', { class: 'num', 'data-value': String(v), text: shownText });
      }))));
      info.textContent = `${Math.min(shown, view.length)} of ${view.length} rows shown (${rows.length} in all)`;
      more.hidden = view.length <= shown;
    }
    for (const c of [search, statusSel, comboSel]) c.addEventListener('input', () => { shown = PAGE; render(); });
    render();
    return el('section', { id: 'stats' }, el('h2', { text: 'All statistics' }),
      el('p', { class: 'muted', text: 'One row per tensor and combination. Click a column header to sort (again to reverse); filter by name or verdict. Percentages are of the tensor\u2019s elements.' }),
      el('div', { class: 'controls' }, search, statusSel, comboSel, info),
      el('div', { class: 'scroll' }, table), more);
  }

  function failures() {
    if (!doc.failures.length) return null;
    return el('section', { id: 'failures' }, el('h2', { text: `Read failures (${doc.failures.length})` }),
      el('table', {}, el('thead', {}, el('tr', {}, ['file', 'tensor', 'message'].map((h) => el('th', { text: h })))),
        el('tbody', {}, doc.failures.map((f) => el('tr', {}, el('td', { class: 'mono', text: f.file }), el('td', { class: 'mono', text: f.tensor }), el('td', { text: f.message }))))));
  }

  app.replaceChildren(header(), glance(), matrix(), ranking(), overSteps() || '', failures() || '', tensorSection(), statsTable());
  document.body.dataset.ready = 'true';
})();

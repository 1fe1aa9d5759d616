// The results table: metrics, ratios to the peers, the targets and pass/fail.
//
// Ratios are always cairn ÷ peer in the metric's own unit, so for throughputs (MB/s)
// higher is better and for times, memory and sizes lower is better; the target column
// says which way each one must go.

export const METRICS = [
  { key: 'first', label: 'first backup', unit: 'MB/s', targets: [['restic', '>=', 2.0], ['borg', '>=', 3.0]] },
  { key: 'unchanged', label: 'unchanged backup', unit: 's', targets: [['restic', '<=', 0.5]] },
  { key: 'changed', label: 'changed backup', unit: 's', targets: [['restic', '<=', 0.5]] },
  { key: 'restore', label: 'restore', unit: 'MB/s', targets: [['restic', '>=', 2.0]] },
  { key: 'verified', label: 'restore identical (sha256)', unit: '', targets: [['abs', '==', true]] },
  { key: 'check', label: 'check with data', unit: 'MB/s', targets: [['restic', '>=', 1.5]] },
  { key: 'rss', label: 'peak RSS', unit: 'MiB', targets: [['abs', '<=', 300]] },
  { key: 'repo', label: 'repository size', unit: 'MB', targets: [['restic', '<=', 1.02]] },
];

/** Turn one tool's raw measurements into the metric values (null = not measured / failed). */
export function metricsOf(raw, dataset) {
  const rate = (bytes, step) => (step?.status !== 'error' && step?.seconds > 0 && bytes ? bytes / 1e6 / step.seconds : null);
  const secs = (step) => (step && step.status !== 'error' ? step.seconds : null);
  return {
    first: rate(dataset.before.bytes, raw.first),
    unchanged: secs(raw.unchanged),
    changed: secs(raw.changed),
    // Over the bytes actually restored (equal to the dataset when the restore is right).
    restore: rate(raw.restore?.restoredBytes, raw.restore),
    verified: raw.restore ? raw.restore.verified === true : null,
    // Over the logical dataset size (the last snapshot), the same numerator for every tool,
    // so the ratio is simply the ratio of check times.
    check: rate(dataset.after.bytes, raw.check),
    rss: raw.rssKiB ? raw.rssKiB / 1024 : null,
    repo: raw.repoBytes ? raw.repoBytes / 1e6 : null,
  };
}

function fmt(v, unit) {
  if (v == null) return '—';
  if (typeof v === 'boolean') return v ? 'yes' : 'NO';
  if (unit === 's') return v.toFixed(2);
  return v >= 100 ? v.toFixed(0) : v.toFixed(1);
}

function fmtRatio(r) {
  return r == null ? '—' : `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
}

function targetText(m) {
  return m.targets.map(([who, op, x]) => {
    const sym = { '>=': '≥', '<=': '≤', '==': '' }[op];
    if (who === 'abs') return typeof x === 'boolean' ? 'identical' : `${sym} ${x} ${m.unit}`;
    return `${sym} ${x}× ${who}`;
  }).join(', ');
}

/**
 * Evaluate the targets. Returns rows [{ label, unit, cells{tool: text}, ratios{peer: r}, target, verdict }]
 * and a summary { pass, fail, na }. A target against a peer that did not run is n/a.
 */
export function buildTable(values, tools, { rssMeasured = true } = {}) {
  const rows = [];
  const summary = { pass: 0, fail: 0, na: 0 };
  for (const m of METRICS) {
    const c = values.cairn?.[m.key] ?? null;
    const ratio = (peer) => {
      const p = values[peer]?.[m.key];
      return c == null || p == null || typeof c === 'boolean' || p === 0 ? null : c / p;
    };
    const verdicts = m.targets.map(([who, op, x]) => {
      if (!tools.includes('cairn') || (m.key === 'rss' && !rssMeasured)) return 'n/a';
      if (c == null) return who === 'abs' || values[who] ? 'FAIL' : 'n/a'; // cairn failed the step
      const v = who === 'abs' ? c : ratio(who);
      if (v == null) return 'n/a';
      const ok = op === '>=' ? v >= x : op === '<=' ? v <= x : v === x;
      return ok ? 'PASS' : 'FAIL';
    });
    const verdict = verdicts.includes('FAIL') ? 'FAIL' : verdicts.includes('PASS') ? 'PASS' : 'n/a';
    summary[verdict === 'PASS' ? 'pass' : verdict === 'FAIL' ? 'fail' : 'na']++;
    rows.push({
      key: m.key,
      label: m.unit ? `${m.label} (${m.unit})` : m.label,
      cells: Object.fromEntries(['cairn', 'restic', 'borg'].map((t) => [t, tools.includes(t) ? fmt(values[t]?.[m.key], m.unit) : 'skipped'])),
      ratios: { restic: m.key === 'verified' ? '' : fmtRatio(ratio('restic')), borg: m.key === 'verified' ? '' : fmtRatio(ratio('borg')) },
      ratioValues: { restic: ratio('restic'), borg: ratio('borg') },
      target: targetText(m),
      verdict,
    });
  }
  return { rows, summary };
}

/** The table as Markdown, columns padded so it also reads well in a terminal. */
export function tableMarkdown({ rows }) {
  const head = ['metric', 'cairn', 'restic', 'borg', 'cairn/restic', 'cairn/borg', 'target', 'pass/fail'];
  const body = rows.map((r) => [r.label, r.cells.cairn, r.cells.restic, r.cells.borg, r.ratios.restic, r.ratios.borg, r.target, r.verdict]);
  const width = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const right = [false, true, true, true, true, true, false, false];
  const line = (cells) => `| ${cells.map((c, i) => (right[i] ? c.padStart(width[i]) : c.padEnd(width[i]))).join(' | ')} |`;
  const sep = `|${width.map((w, i) => (right[i] ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [line(head), sep, ...body.map(line)].join('\n');
}

/** One line for the History list: date, mode, versions and the headline numbers. */
export function historyLine({ when, modeText, versions, machine, table }) {
  const r = Object.fromEntries(table.rows.map((x) => [x.key, x]));
  const vs = (k, peer = 'restic') => (r[k].ratios[peer] && r[k].ratios[peer] !== '—' ? ` (${r[k].ratios[peer]} ${peer})` : '');
  return `${when}, ${modeText}, cairn ${versions.cairn ?? '?'}, ${machine.cores} × ${machine.cpu}: ` +
    `first backup ${r.first.cells.cairn} MB/s${vs('first')}, unchanged ${r.unchanged.cells.cairn} s${vs('unchanged')}, ` +
    `changed ${r.changed.cells.cairn} s${vs('changed')}, restore ${r.restore.cells.cairn} MB/s${vs('restore')}` +
    `${r.verified.cells.cairn === 'yes' ? '' : ' (NOT identical)'}, check ${r.check.cells.cairn} MB/s${vs('check')}, ` +
    `peak RSS ${r.rss.cells.cairn} MiB, repo ${r.repo.cells.cairn} MB${vs('repo')}; ` +
    `${table.summary.pass} of ${table.summary.pass + table.summary.fail} targets met`;
}

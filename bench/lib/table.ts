/** A result row, its console table and its Markdown table. */

export interface Target {
  /** How the row is judged: a ratio to the floor, or an absolute bound on MAWS's figure. */
  kind: 'ratio>=' | 'ratio<=' | 'abs<' | 'abs>=' | 'abs>' | 'added<';
  value: number;
  /** For 'abs>': the figure MAWS must beat (e.g. one worker's runs/s); value is unused. */
  label?: string;
}

export interface Row {
  workload: string;
  metric: string;
  unit: string;
  maws: number | null;
  floor: number | null;
  /** maws / floor. */
  ratio: number | null;
  target?: Target;
  targetText: string;
  met: boolean | null;
  note?: string;
}

export function makeRow(
  workload: string,
  metric: string,
  unit: string,
  maws: number | null,
  floor: number | null,
  target?: Target,
  note?: string,
): Row {
  const ratio = maws !== null && floor !== null && floor !== 0 ? maws / floor : null;
  let met: boolean | null = null;
  let targetText = '';
  if (target) {
    switch (target.kind) {
      case 'ratio>=':
        targetText = `≥ ${target.value}× floor`;
        met = ratio === null ? null : ratio >= target.value;
        break;
      case 'ratio<=':
        targetText = `≤ ${target.value}× floor`;
        met = ratio === null ? null : ratio <= target.value;
        break;
      case 'abs<':
        targetText = `< ${target.value} ${unit}`;
        met = maws === null ? null : maws < target.value;
        break;
      case 'abs>=':
        targetText = `≥ ${target.value} ${unit}`;
        met = maws === null ? null : maws >= target.value;
        break;
      case 'abs>':
        targetText = `> ${target.label ?? target.value}`;
        met = maws === null ? null : maws > target.value;
        break;
      case 'added<':
        // What MAWS adds to the floor's own time, e.g. a tool call's round beside the bare call.
        targetText = `floor + < ${target.value} ${unit}`;
        met = maws === null || floor === null ? null : maws - floor < target.value;
        break;
    }
  }
  return { workload, metric, unit, maws, floor, ratio, target, targetText, met, note };
}

export function fmt(n: number | null, unit = ''): string {
  if (n === null || !Number.isFinite(n)) return '—';
  const abs = Math.abs(n);
  let s: string;
  if (abs >= 10_000) s = Math.round(n).toLocaleString('en-US');
  else if (abs >= 100) s = n.toFixed(0);
  else if (abs >= 10) s = n.toFixed(1);
  else s = n.toFixed(2);
  return unit ? `${s} ${unit}` : s;
}

function cells(r: Row): string[] {
  return [
    r.metric,
    fmt(r.maws, r.unit),
    fmt(r.floor, r.floor === null ? '' : r.unit),
    r.ratio === null ? '—' : `${r.ratio.toFixed(2)}×`,
    r.targetText || '—',
    r.met === null ? (r.targetText ? 'n/a' : '') : r.met ? 'met' : 'NOT met',
  ];
}

const HEAD = ['metric', 'MAWS', 'floor', 'ratio', 'target', 'met'];

export function consoleTable(title: string, rows: Row[]): string {
  const body = rows.map(cells);
  const widths = HEAD.map((h, i) => Math.max(h.length, ...body.map((c) => c[i].length)));
  const line = (c: string[]): string =>
    c.map((x, i) => (i === 0 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join('  ');
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  const notes = rows.filter((r) => r.note).map((r) => `  * ${r.metric}: ${r.note}`);
  return [`\n== ${title} ==`, line(HEAD), rule, ...body.map(line), ...notes].join('\n');
}

export function markdownTable(rows: Row[]): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  const out = [`| ${HEAD.join(' | ')} |`, `|${HEAD.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const r of rows) out.push(`| ${cells(r).map(esc).join(' | ')} |`);
  return out.join('\n');
}

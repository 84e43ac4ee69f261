/**
 * What a heap is made of, from a V8 heap snapshot: object counts and self sizes grouped by
 * constructor (closures by function name), and the difference between two snapshots per
 * unit (here: per idle socket), so a per-socket cost can be read object by object.
 */
import { readFileSync } from 'node:fs';

interface RawSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

export type HeapCensus = Map<string, { count: number; bytes: number }>;

export function heapCensus(file: string): HeapCensus {
  const raw = JSON.parse(readFileSync(file, 'utf8')) as RawSnapshot;
  const fields = raw.snapshot.meta.node_fields;
  const types = raw.snapshot.meta.node_types[0];
  const width = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const census: HeapCensus = new Map();
  for (let i = 0; i < raw.nodes.length; i += width) {
    const type = types[raw.nodes[i + iType]];
    const name = raw.strings[raw.nodes[i + iName]];
    let key: string;
    if (type === 'object') key = name;
    else if (type === 'closure') key = `closure ${name || '(anonymous)'}`;
    else if (type === 'native') key = `native ${name.split(' ')[0]}`;
    else key = `(${type})`;
    const entry = census.get(key) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += raw.nodes[i + iSize];
    census.set(key, entry);
  }
  return census;
}

export interface CensusDiff {
  what: string;
  perUnitCount: number;
  perUnitBytes: number;
}

/** (after − before) / units, largest byte growth first. */
export function diffCensus(before: HeapCensus, after: HeapCensus, units: number, top = 20): CensusDiff[] {
  const out: CensusDiff[] = [];
  for (const [what, a] of after) {
    const b = before.get(what) ?? { count: 0, bytes: 0 };
    const bytes = (a.bytes - b.bytes) / units;
    if (bytes <= 0) continue;
    out.push({
      what,
      perUnitCount: Math.round(((a.count - b.count) / units) * 100) / 100,
      perUnitBytes: Math.round(bytes),
    });
  }
  return out.sort((x, y) => y.perUnitBytes - x.perUnitBytes).slice(0, top);
}

export function formatDiff(title: string, diff: CensusDiff[]): string {
  const total = diff.reduce((n, d) => n + d.perUnitBytes, 0);
  return [
    `${title} (top ${diff.length}, ${total} B of self size per socket):`,
    ...diff.map(
      (d) => `  ${String(d.perUnitBytes).padStart(6)} B  ${d.perUnitCount.toFixed(2).padStart(6)} ×  ${d.what}`,
    ),
  ].join('\n');
}

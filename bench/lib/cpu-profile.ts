/** Reads a V8 .cpuprofile and says where the time went: by function (self time) and by file. */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  /** Share of samples where the process was idle (waiting in epoll). */
  idlePct: number;
  topFunctions: { name: string; where: string; selfPct: number }[];
  /** Self time grouped by package or source file (node internals, ws, ioredis, dist/…). */
  byArea: { area: string; selfPct: number }[];
}

function areaOf(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native/V8)';
  const u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = u.slice(nm + 'node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (u.startsWith('node:')) return `node:${u.slice(5).split('/')[0]}`;
  const dist = u.indexOf('/dist/');
  if (dist >= 0) return `maws ${u.slice(dist + 1)}`;
  return path.basename(u);
}

export function summarizeProfile(file: string, top = 20): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  // Self time per node: sum of the time deltas of the samples that landed on it.
  const self = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    self.set(samples[i], (self.get(samples[i]) ?? 0) + Math.max(0, deltas[i + 1] ?? deltas[i] ?? 0));
  }
  let total = 0;
  for (const v of self.values()) total += v;
  let idle = 0;
  const fn = new Map<string, { name: string; where: string; us: number }>();
  const area = new Map<string, number>();
  for (const [id, us] of self) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)' || functionName === '(program)') {
      if (functionName === '(idle)') idle += us;
    }
    const name = functionName || '(anonymous)';
    const where = url ? `${areaOf(url, name)}:${lineNumber + 1}` : '';
    const key = `${name}@${where}`;
    const entry = fn.get(key) ?? { name, where, us: 0 };
    entry.us += us;
    fn.set(key, entry);
    const a = areaOf(url, name);
    area.set(a, (area.get(a) ?? 0) + us);
  }
  const busy = Math.max(1, total - idle);
  const pct = (us: number): number => Math.round((us / busy) * 1000) / 10;
  return {
    file,
    totalMs: Math.round(total / 1000),
    idlePct: Math.round((idle / Math.max(1, total)) * 1000) / 10,
    topFunctions: [...fn.values()]
      .filter((f) => f.name !== '(idle)')
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({ name: f.name, where: f.where, selfPct: pct(f.us) })),
    byArea: [...area.entries()]
      .filter(([a]) => a !== '(idle)')
      .sort((a, b) => b[1] - a[1])
      .slice(0, 15)
      .map(([a, us]) => ({ area: a, selfPct: pct(us) })),
  };
}

export function formatProfile(title: string, s: ProfileSummary): string {
  const lines = [`${title}: ${s.totalMs} ms sampled, ${s.idlePct}% idle; self time of the busy part:`];
  lines.push(`  by area: ${s.byArea.map((a) => `${a.area} ${a.selfPct}%`).join(', ')}`);
  for (const f of s.topFunctions.slice(0, 12))
    lines.push(`  ${f.selfPct.toFixed(1).padStart(5)}%  ${f.name}  ${f.where}`);
  return lines.join('\n');
}

interface AllocNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children?: AllocNode[];
}

/**
 * A sampled allocation profile (collected objects included) as bytes allocated per socket,
 * by function: what the garbage collector has to clear away.
 */
export function formatAllocations(title: string, file: string, sockets: number, top = 20): string {
  const { head } = JSON.parse(readFileSync(file, 'utf8')) as { head: AllocNode };
  const byFunction = new Map<string, number>();
  let total = 0;
  const walk = (node: AllocNode): void => {
    const { functionName, url, lineNumber } = node.callFrame;
    const key = `${functionName || '(anonymous)'}  ${areaOf(url, functionName)}:${lineNumber + 1}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + node.selfSize);
    total += node.selfSize;
    for (const child of node.children ?? []) walk(child);
  };
  walk(head);
  const lines = [...byFunction]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([key, bytes]) => `  ${(bytes / sockets).toFixed(0).padStart(6)} B  ${key}`);
  return [`${title}: ${(total / sockets).toFixed(0)} B allocated per socket, by function:`, ...lines].join('\n');
}

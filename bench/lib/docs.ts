/** Writes the latest results into docs/benchmarks.md, between its two markers. */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as prettier from 'prettier';
import type { MachineInfo } from './system';
import { markdownTable, type Row } from './table';

export const START = '<!-- bench:results:start -->';
export const END = '<!-- bench:results:end -->';

const TITLES: Record<string, string> = {
  relay: 'Relay',
  connections: 'Connections',
  runs: 'Runs',
  chat: 'Chat',
  'store-full': 'Redis full',
  tools: 'Tools',
  mcp: 'MCP servers',
  replanning: 'Replanning',
  waiting: 'Waiting on the person',
  steering: 'Steering',
  sessions: 'Sessions over HTTP',
  client: '@maws/client',
  agui: 'AG-UI',
  tracing: 'Tracing',
  storage: 'Storage',
  scaling: 'Scaling',
  cluster: 'Redis Cluster',
  storm: 'Reconnect storm',
};

export function resultsBlock(
  command: string,
  date: string,
  machine: MachineInfo,
  rows: Row[],
  notes: string[],
): string {
  const lines = [
    START,
    '',
    `Latest run: \`${command}\` on ${date.slice(0, 16).replace('T', ' ')} UTC.`,
    `Node ${machine.node}, Redis ${machine.redis}; ${machine.nproc} × ${machine.cpuModel} (nproc ${machine.nproc}), ` +
      `${machine.memoryGiB} GiB, Linux ${machine.kernel}; load average at start ${machine.loadavg.join(' / ')}.`,
    '',
  ];
  for (const n of notes) lines.push(`> ${n}`, '');
  for (const workload of Object.keys(TITLES)) {
    const part = rows.filter((r) => r.workload === workload);
    if (part.length === 0) continue;
    lines.push(`### ${TITLES[workload]}`, '', markdownTable(part), '');
    for (const r of part.filter((x) => x.note)) lines.push(`- ${r.metric}: ${r.note}`);
    if (part.some((x) => x.note)) lines.push('');
  }
  lines.push(END);
  return lines.join('\n');
}

/** Replaces the block between the markers (or appends it) and writes the file atomically. */
/**
 * Replaces the results block; the page is then formatted as `npm test`'s prettier check
 * expects, so a bench run leaves the repository passing it.
 */
export async function updateDocs(file: string, block: string): Promise<void> {
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  if (a >= 0 && b > a) text = text.slice(0, a) + block + text.slice(b + END.length);
  else text = `${text.trimEnd()}\n\n## Latest results\n\n${block}\n`;
  const options = (await prettier.resolveConfig(file)) ?? {};
  writeFileSync(`${file}.tmp`, await prettier.format(text, { ...options, filepath: file }));
  renameSync(`${file}.tmp`, file);
}

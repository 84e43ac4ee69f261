/**
 * Smoke test of `npm run bench` (issue 7): the bench runs in its quickest mode (--smoke), prints
 * a table per workload and writes its JSON. No timing is asserted: speed is measured by the
 * bench, not by tests. Needs `npm run build` (dist/) like every e2e test; compiles the bench.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { sleep } from './support/timing';

jest.setTimeout(300_000);

const ROOT = path.resolve(__dirname, '..');
const RUN_JS = path.join(ROOT, 'build-tools', 'bench', 'run.js');

let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'maws-bench-test-'));
  // tsc emits even when files outside the bench have type errors; the bench's own types are
  // checked by `npm run typecheck`. A missing run.js below is the failure that matters here.
  const tsc = require.resolve('typescript/bin/tsc');
  await new Promise<void>((resolve) =>
    execFile(process.execPath, [tsc, '-p', 'tsconfig.tools.json'], { cwd: ROOT }, () => resolve()),
  );
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function runBench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [RUN_JS, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

it('runs every workload, prints a table per workload and writes the results JSON', async () => {
  expect(existsSync(RUN_JS)).toBe(true);
  const out = path.join(dir, 'latest.json');
  const { code, stdout, stderr } = await runBench(['--smoke', '--out', out, '--no-docs']);
  if (code !== 0) throw new Error(`bench exited with ${code}\nstdout:\n${stdout}\nstderr:\n${stderr}`);

  for (const title of ['== Relay', '== Connections', '== Runs', '== Chat', '== Redis full', '== Tools', '== Summary']) {
    expect(stdout).toContain(title);
  }
  expect(stdout).toMatch(/metric\s+MAWS\s+floor\s+ratio\s+target\s+met/);

  const results = JSON.parse(readFileSync(out, 'utf8'));
  expect(results.mode).toBe('smoke');
  expect(results.failures).toEqual([]);
  expect(results.machine.node).toBe(process.version);
  const workloads = new Set(results.rows.map((r: { workload: string }) => r.workload));
  expect([...workloads].sort()).toEqual([
    'agui',
    'chat',
    'client',
    'cluster',
    'connections',
    'mcp',
    'relay',
    'replanning',
    'runs',
    'scaling',
    'sessions',
    'steering',
    'storage',
    'store-full',
    'storm',
    'tools',
    'tracing',
    'waiting',
  ]);
  for (const row of results.rows) {
    expect(row).toEqual(
      expect.objectContaining({ metric: expect.any(String), unit: expect.any(String), targetText: expect.any(String) }),
    );
  }
  // Every figure the relay and runs measured is there (numbers, not nulls), whatever they are.
  const relay = results.rows.filter((r: { workload: string }) => r.workload === 'relay');
  for (const row of relay) {
    expect(typeof row.maws).toBe('number');
    expect(typeof row.floor).toBe('number');
  }
});

it('stops every process it started when interrupted', async () => {
  const child = spawn(
    process.execPath,
    [RUN_JS, '--smoke', '--only', 'runs', '--out', path.join(dir, 'int.json'), '--no-docs'],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  // Interrupt once the workload is under way (its processes are up).
  const deadline = Date.now() + 60_000;
  while (!stderr.includes('single runs') && Date.now() < deadline) await sleep(100);
  const pids = childPids(child.pid!);
  expect(pids.length).toBeGreaterThan(0);
  child.kill('SIGINT');
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  expect(code).toBe(130);
  await sleep(500);
  expect(pids.filter(alive)).toEqual([]);
});

/** Descendants of `pid` (from /proc), depth first. */
function childPids(pid: number): number[] {
  const out: number[] = [];
  let children: string[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    return out;
  }
  for (const c of children.map(Number)) out.push(c, ...childPids(c));
  return out;
}

function alive(pid: number): boolean {
  try {
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
    return state !== undefined && state !== 'Z';
  } catch {
    return false;
  }
}

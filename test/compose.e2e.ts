/**
 * docker-compose.yml stays valid: there is no Docker engine in CI, so the file is checked with
 * `docker-compose config` (Debian's `docker-compose` package, installed by scripts/test.sh).
 * Only node built-ins are imported.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { range } from './support/frames';

const ROOT = path.resolve(__dirname, '..');
const COMPOSE_BIN = 'docker-compose';

/**
 * A clean environment: no JWT_SECRET, ADMIN_*, COMPOSE_* or anything else the file could
 * interpolate, so the defaults in docker-compose.yml are what gets validated.
 */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', LANG: 'C.UTF-8' };
  if (process.env.HOME) env.HOME = process.env.HOME;
  return env;
}

function compose(args: string[]): SpawnSyncReturns<string> {
  const result = spawnSync(COMPOSE_BIN, ['-f', 'docker-compose.yml', ...args], {
    cwd: ROOT,
    env: cleanEnv(),
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (result.error) {
    const code = (result.error as NodeJS.ErrnoException).code;
    throw new Error(
      code === 'ENOENT'
        ? `${COMPOSE_BIN} was not found on PATH: install it (Debian: apt-get install -y docker-compose; ` +
            `scripts/test.sh does this) to validate docker-compose.yml`
        : `${COMPOSE_BIN} ${args.join(' ')} could not run: ${result.error.message}`,
    );
  }
  return result;
}

/** stderr lines that mean something is wrong (warnings included: e.g. "variable is not set"). */
function problems(stderr: string): string[] {
  return stderr.split('\n').filter((line) => /error|warn|invalid|unsupported|not set/i.test(line));
}

/**
 * The lines nested under a chain of block-style mapping keys, e.g. ['services', 'worker'].
 * `config` prints normalised block YAML, so indentation is enough to find a section.
 */
function section(yaml: string, keys: string[]): string[] {
  let lines = yaml.split('\n').filter((l) => l.trim() !== '');
  for (const key of keys) {
    // Only direct children: keys at the block's own (smallest) indentation.
    const indent = Math.min(...lines.map((l) => l.search(/\S/)));
    const start = lines.findIndex(
      (l) => l.search(/\S/) === indent && (l.trim() === `${key}:` || l.trim().startsWith(`${key}: `)),
    );
    if (start < 0) return [];
    const body: string[] = [];
    for (const line of lines.slice(start + 1)) {
      const at = line.search(/\S/);
      // A list may sit at its key's indentation (PyYAML does this); anything else there ends it.
      if (at < indent || (at === indent && !line.trimStart().startsWith('- '))) break;
      body.push(line);
    }
    lines = body;
  }
  return lines;
}

describe('docker-compose.yml', () => {
  it('validates with `docker-compose config -q` and no JWT_SECRET in the environment', () => {
    const result = compose(['config', '-q']);
    expect({ status: result.status, problems: problems(result.stderr) }).toEqual({ status: 0, problems: [] });
    expect(result.stdout.trim()).toBe('');
  });

  it('defines redis (AOF, noeviction), a gateway and 3 worker replicas, and nothing else outside a profile', () => {
    const services = compose(['config', '--services']);
    expect(services.status).toBe(0);
    expect(
      services.stdout
        .split('\n')
        .map((s) => s.trim())
        .filter(Boolean)
        .sort(),
    ).toEqual([
      'gateway',
      'gateway-cluster',
      'grafana',
      'jaeger',
      'prometheus',
      'redis',
      'redis-cluster-init',
      ...range(1, 6).map((n) => `redis-node-${n}`),
      'worker',
      'worker-cluster',
    ]);

    const result = compose(['config']);
    expect({ status: result.status, problems: problems(result.stderr) }).toEqual({ status: 0, problems: [] });
    const yaml = result.stdout;

    for (const name of ['redis', 'gateway', 'worker']) {
      expect(section(yaml, ['services', name]).length).toBeGreaterThan(0);
      // `docker compose up` starts these: no profile.
      expect(section(yaml, ['services', name, 'profiles'])).toEqual([]);
    }
    const redisCommand = section(yaml, ['services', 'redis', 'command']).join('\n');
    expect(redisCommand).toMatch(/appendonly/);
    expect(redisCommand).toMatch(/noeviction/);

    const workerDeploy = section(yaml, ['services', 'worker', 'deploy']).map((l) => l.trim());
    expect(workerDeploy).toContain('replicas: 3');

    const gateway = section(yaml, ['services', 'gateway']).join('\n');
    expect(gateway).toMatch(/- gateway/);
    expect(gateway).toMatch(/8000/);
    expect(section(yaml, ['services', 'worker', 'ports'])).toEqual([]);

    // Without the environment, the documented placeholder secret (>= 16 chars) is used.
    const env = section(yaml, ['services', 'gateway', 'environment']).map((l) => l.trim());
    const secret = env.find((l) => l.startsWith('JWT_SECRET:'));
    expect(secret).toBeDefined();
    expect(secret!.replace(/^JWT_SECRET:\s*/, '').replace(/^['"]|['"]$/g, '').length).toBeGreaterThanOrEqual(16);
    expect(env).toContain('REDIS_URL: redis://redis:6379');
  });

  it('the observability profile: Jaeger taking OTLP, Prometheus scraping the gateway, Grafana with the MAWS dashboard', () => {
    const result = compose(['--profile', 'observability', 'config']);
    expect({ status: result.status, problems: problems(result.stderr) }).toEqual({ status: 0, problems: [] });
    const yaml = result.stdout;
    for (const name of ['jaeger', 'prometheus', 'grafana']) {
      expect(section(yaml, ['services', name, 'profiles']).map((l) => l.trim())).toEqual(['- observability']);
    }
    expect(section(yaml, ['services', 'jaeger', 'environment']).map((l) => l.trim())).toContain(
      'COLLECTOR_OTLP_ENABLED: "true"',
    );
    // Without the environment, tracing is off (an empty endpoint); the profile's README line sets it.
    const env = section(yaml, ['services', 'worker', 'environment']).map((l) => l.trim());
    expect(env).toContain("OTEL_EXPORTER_OTLP_ENDPOINT: ''");
    // Every file the profile mounts is in the repository, and fits what mounts it.
    const mounts = ['prometheus', 'grafana'].flatMap((name) =>
      section(yaml, ['services', name, 'volumes']).map((l) => l.trim().replace(/^- /, '').split(':')[0]),
    );
    expect(mounts.length).toBe(3);
    for (const mount of mounts) expect(existsSync(mount)).toBe(true);
    const prometheus = readFileSync(path.join(ROOT, 'docs/observability/prometheus.yml'), 'utf8');
    expect(prometheus).toMatch(/targets: \['gateway:8000'\]/);
    const datasources = readFileSync(
      path.join(ROOT, 'docs/observability/grafana/provisioning/datasources/maws.yml'),
      'utf8',
    );
    const dashboard = JSON.parse(
      readFileSync(path.join(ROOT, 'docs/observability/grafana/maws-dashboard.json'), 'utf8'),
    ) as { panels: { datasource: { uid: string }; targets: { expr: string }[] }[] };
    expect(dashboard.panels.length).toBeGreaterThan(10);
    for (const panel of dashboard.panels) {
      expect(datasources).toContain(`uid: ${panel.datasource.uid}`);
      expect(panel.targets.length).toBeGreaterThan(0);
    }
  });

  it('the cluster profile: six cluster nodes, a one-shot creator, and MAWS on REDIS_CLUSTER_NODES alone', () => {
    const result = compose(['--profile', 'cluster', 'config']);
    expect({ status: result.status, problems: problems(result.stderr) }).toEqual({ status: 0, problems: [] });
    const yaml = result.stdout;
    const nodes = range(1, 6).map((n) => `redis-node-${n}`);
    for (const name of [...nodes, 'redis-cluster-init', 'gateway-cluster', 'worker-cluster']) {
      expect({ name, profiles: section(yaml, ['services', name, 'profiles']).map((l) => l.trim()) }).toEqual({
        name,
        profiles: ['- cluster'],
      });
    }
    for (const node of nodes) {
      const command = section(yaml, ['services', node, 'command']).map((l) => l.trim());
      expect(command.slice(0, 3)).toEqual(['- redis-server', '- --cluster-enabled', '- "yes"']);
      expect(command).toContain('- noeviction');
    }
    const init = section(yaml, ['services', 'redis-cluster-init']).join('\n');
    expect(init).toMatch(/--cluster create/);
    expect(init).toMatch(/--cluster-replicas 1/);
    for (const node of nodes)
      expect(section(yaml, ['services', 'redis-cluster-init', 'depends_on', node]).join('')).toMatch(/service_healthy/);
    for (const name of ['gateway-cluster', 'worker-cluster']) {
      const env = section(yaml, ['services', name, 'environment']).map((l) => l.trim());
      expect(env).toContain('REDIS_CLUSTER_NODES: redis-node-1:6379,redis-node-2:6379,redis-node-3:6379');
      // An empty REDIS_URL is not set: the two are exclusive (src/config/redis-target.spec.ts).
      expect(env).toContain("REDIS_URL: ''");
      expect(section(yaml, ['services', name, 'depends_on', 'redis-cluster-init']).join('')).toMatch(
        /service_completed_successfully/,
      );
    }
  });
});

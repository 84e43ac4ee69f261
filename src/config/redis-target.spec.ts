import { configOf, configProblems } from '../../test/support/config-problems';

describe('where Redis is (REDIS_URL or REDIS_CLUSTER_NODES)', () => {
  it('is one server at REDIS_URL (or its default) when no cluster is named', () => {
    expect(configOf({}).redis).toEqual({ url: 'redis://127.0.0.1:6379' });
    expect(configOf({ REDIS_URL: 'redis://10.0.0.5:6380/2' }).redis).toEqual({ url: 'redis://10.0.0.5:6380/2' });
  });

  it('is a cluster seeded from REDIS_CLUSTER_NODES', () => {
    expect(configOf({ REDIS_CLUSTER_NODES: '127.0.0.1:7101, redis-2.internal:7102' }).redis).toEqual({
      clusterNodes: [
        { host: '127.0.0.1', port: 7101 },
        { host: 'redis-2.internal', port: 7102 },
      ],
    });
  });

  it('takes an empty REDIS_URL for not set (as docker-compose passes it beside the cluster nodes)', () => {
    expect(configOf({ REDIS_URL: '', REDIS_CLUSTER_NODES: 'redis-node-1:6379' }).redis).toEqual({
      clusterNodes: [{ host: 'redis-node-1', port: 6379 }],
    });
  });

  it('refuses both at once, and nodes that are not host:port, naming the variable', () => {
    expect(configProblems({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_CLUSTER_NODES: '127.0.0.1:7101' })).toContain(
      'REDIS_URL and REDIS_CLUSTER_NODES are exclusive',
    );
    for (const bad of ['127.0.0.1', 'redis://127.0.0.1:7101', '127.0.0.1:7101,', 'a:1:2']) {
      expect(configProblems({ REDIS_CLUSTER_NODES: bad })).toContain(
        'REDIS_CLUSTER_NODES must be a comma list of host:port',
      );
    }
  });
});

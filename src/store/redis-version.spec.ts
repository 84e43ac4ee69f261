import { redisVersionProblem } from './redis-version';

describe('redisVersionProblem', () => {
  it('accepts Redis 7 and newer', () => {
    expect(redisVersionProblem('# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n')).toBeUndefined();
    expect(redisVersionProblem('# Server\r\nredis_version:8.2.1\r\n')).toBeUndefined();
  });

  it('refuses Redis 6, naming the version found and the one needed', () => {
    const problem = redisVersionProblem('# Server\r\nredis_version:6.0.16\r\n');
    expect(problem).toContain('Redis 6.0.16 is too old');
    expect(problem).toContain('Redis 7 or newer');
  });

  it('leaves a server that does not say its version to its commands', () => {
    expect(redisVersionProblem('# Server\r\n')).toBeUndefined();
  });
});

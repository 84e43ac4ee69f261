import { redact } from './redact';

describe('redact', () => {
  it('masks tokens, credentials and JWTs', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl';
    const out = redact(
      `GET /ws/S1?token=${jwt}&lastSeq=3 Authorization: Bearer abc.def redis://:hunter2@db:6379 ${jwt}`,
    );
    expect(out).not.toContain('eyJ');
    expect(out).not.toContain('hunter2');
    expect(out).not.toContain('abc.def');
    expect(out).toContain('lastSeq=3');
    expect(out).toContain('redis://:[redacted]@db:6379');
  });
});

/** The OpenTelemetry variables: where spans go, read the standard way, and bad values refused by name. */
import { configOf, configProblems } from '../../test/support/config-problems';
import { traceExportOf } from './config';

const exportOf = (env: Record<string, string>) => traceExportOf(configOf(env));

describe('trace configuration', () => {
  it('off unless an endpoint or an exporter is asked for; content recording off by default', () => {
    expect(exportOf({})).toEqual({ kind: 'none' });
    expect(configOf({}).MAWS_TRACE_CONTENT).toBe(false);
  });

  it('an endpoint means OTLP/HTTP to its /v1/traces; a traces endpoint is used as it is', () => {
    expect(exportOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318/' })).toEqual({
      kind: 'otlp',
      url: 'http://127.0.0.1:4318/v1/traces',
    });
    expect(
      exportOf({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:9999/custom',
      }),
    ).toEqual({ kind: 'otlp', url: 'http://127.0.0.1:9999/custom' });
    // The SDK's default collector address when only the exporter is named.
    expect(exportOf({ OTEL_TRACES_EXPORTER: 'otlp' })).toEqual({
      kind: 'otlp',
      url: 'http://localhost:4318/v1/traces',
    });
  });

  it('`none` and OTEL_SDK_DISABLED turn it off even with an endpoint; `console` prints spans', () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' };
    expect(exportOf({ ...endpoint, OTEL_TRACES_EXPORTER: 'none' })).toEqual({ kind: 'none' });
    expect(exportOf({ ...endpoint, OTEL_SDK_DISABLED: 'true' })).toEqual({ kind: 'none' });
    expect(exportOf({ OTEL_TRACES_EXPORTER: 'console' })).toEqual({ kind: 'console' });
  });

  it('refuses what is not an exporter or an http(s) address, naming the variable', () => {
    expect(configProblems({ OTEL_TRACES_EXPORTER: 'jaeger' })).toMatch(/OTEL_TRACES_EXPORTER="jaeger"/);
    expect(configProblems({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toMatch(
      /OTEL_EXPORTER_OTLP_ENDPOINT must be an http\(s\) URL/,
    );
    expect(configProblems({ MAWS_TRACE_CONTENT: 'maybe' })).toMatch(/MAWS_TRACE_CONTENT="maybe"/);
  });
});

import t from 'tap';
import { buildHttpApp } from '../../src/http/app.js';
import { PrometheusMetrics } from '../../src/http/metrics.js';
import { FakeServices } from '../fixtures/fake-services.js';

t.test('observations become Prometheus metrics', async (t) => {
  const m = new PrometheusMetrics();
  m.decided({
    kind: 'message',
    outcome: 'allow',
    sourceAdapter: 'corp',
    targetAdapter: 'partner-sip',
    decisionSeconds: 4e-6,
    totalSeconds: 0.003,
  });
  m.decided({
    kind: 'call',
    outcome: 'deny',
    sourceAdapter: 'corp',
    targetAdapter: null,
    decisionSeconds: 2e-6,
    totalSeconds: 0.0005,
  });
  m.decided({
    kind: 'message',
    outcome: 'unroutable',
    sourceAdapter: 'public-matrix',
    targetAdapter: null,
    decisionSeconds: 0,
    totalSeconds: 0.0001,
  });
  m.auditLag(3);
  m.auditFlushed(12, 0.0021);
  m.queued('partner-sip', 7);
  m.linkStatus('corp', 'xmpp', true);
  m.linkStatus('public-matrix', 'matrix', false);

  const { contentType, body } = await m.render();
  t.match(contentType, /^text\/plain/);
  t.match(
    body,
    /^parley_events_total\{kind="message",outcome="allow",source="corp",target="partner-sip"\} 1$/m,
  );
  t.match(body, /^parley_events_total\{kind="call",outcome="deny",source="corp",target="none"\} 1$/m);
  t.match(
    body,
    /^parley_events_total\{kind="message",outcome="unroutable",source="public-matrix",target="none"\} 1$/m,
  );
  t.match(body, /^parley_decision_seconds_bucket\{le="0.000001",kind="message"\} 0$/m);
  t.match(body, /^parley_decision_seconds_bucket\{le="0.000005",kind="message"\} 1$/m, 'µs buckets');
  t.match(body, /^parley_decision_seconds_bucket\{le="0.01",kind="call"\} 1$/m);
  t.match(
    body,
    /^parley_decision_seconds_count\{kind="message"\} 1$/m,
    'a refusal before the policy (decisionSeconds 0) is not timed',
  );
  t.match(body, /^parley_pipeline_seconds_count\{kind="message",outcome="allow"\} 1$/m);
  t.match(body, /^parley_audit_lag 3$/m);
  t.match(body, /^parley_audit_flush_seconds_count 1$/m);
  t.match(body, /^parley_audit_records_flushed_total 12$/m);
  t.match(body, /^parley_queue_depth\{adapter="partner-sip"\} 7$/m);
  t.match(body, /^parley_link_up\{adapter="corp",network="xmpp"\} 1$/m);
  t.match(body, /^parley_link_up\{adapter="public-matrix",network="matrix"\} 0$/m);
  t.match(body, /^process_cpu_user_seconds_total /m, 'default process metrics');
  t.match(body, /^# HELP parley_decision_seconds /m);
  t.match(body, /^# TYPE parley_events_total counter$/m);
});

t.test('each instance has its own registry', async (t) => {
  const a = new PrometheusMetrics({ defaultMetrics: false });
  const b = new PrometheusMetrics({ defaultMetrics: false, labels: { replica: 'parley-1' } });
  a.queued('corp', 1);
  b.queued('corp', 2);
  t.match((await a.render()).body, /^parley_queue_depth\{adapter="corp"\} 1$/m);
  t.match((await b.render()).body, /^parley_queue_depth\{adapter="corp",replica="parley-1"\} 2$/m);
  t.notMatch((await a.render()).body, /process_cpu/, 'default metrics can be turned off');
});

t.test('GET /metrics serves the rendered registry', async (t) => {
  const metrics = new PrometheusMetrics();
  const services = new FakeServices({ metrics: () => metrics.render() });
  const app = await buildHttpApp({ services, tokens: { admin: 'x'.repeat(24) }, logger: false });
  t.teardown(() => app.close());
  metrics.decided({
    kind: 'presence',
    outcome: 'allow',
    sourceAdapter: 'corp',
    targetAdapter: 'public-matrix',
    decisionSeconds: 1e-6,
    totalSeconds: 0.001,
  });
  metrics.linkStatus('corp', 'xmpp', true);
  const r = await app.inject({ url: '/metrics' });
  t.equal(r.statusCode, 200);
  t.equal(r.headers['content-type'], metrics.registry.contentType);
  for (const name of [
    'parley_events_total',
    'parley_decision_seconds',
    'parley_pipeline_seconds',
    'parley_audit_lag',
    'parley_audit_flush_seconds',
    'parley_queue_depth',
    'parley_link_up',
  ]) {
    t.match(r.body, new RegExp(`^# TYPE ${name} `, 'm'), name);
  }
  t.match(
    r.body,
    /parley_events_total\{kind="presence",outcome="allow",source="corp",target="public-matrix"\} 1/,
  );
});

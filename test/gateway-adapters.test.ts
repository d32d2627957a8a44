// Adapters created from the config by the composition root: a wrong adapter block is
// refused with the file, the line and the key; a right one starts and reports its link.
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseConfig } from '../src/config.js';
import { SourceError } from '../src/core/yaml-source.js';
import { startGateway } from '../src/gateway.js';
import { createLogger } from '../src/log.js';

const silent = createLogger({ level: 'silent', destination: process.stderr });

function load(adapters: string) {
  const dir = mkdtempSync(join(tmpdir(), 'parley-gwa-'));
  copyFileSync('policies/default.yaml', join(dir, 'policy.yaml'));
  const text = `store: { memory: true }\nhttp: { listen: "127.0.0.1:0" }\npolicy: { file: policy.yaml, watch: false }\nadapters:\n${adapters}`;
  writeFileSync(join(dir, 'parley.yaml'), text);
  return parseConfig(text, join(dir, 'parley.yaml'), {});
}

t.test('a wrong key in an adapter block names the line and key', async (t) => {
  const loaded = load(
    '  partner-sip:\n    type: sip\n    domains: [partner.test]\n    listen: ["udp://127.0.0.1:0"]\n    route: "sip:127.0.0.1:5999"\n    peers: ["127.0.0.1/32"]\n    rout: "typo"\n',
  );
  const err = await startGateway(loaded, { logger: silent }).catch((e: unknown) => e);
  t.type(err, SourceError);
  const p = (err as SourceError).problems[0]!;
  t.equal(p.line, 11, JSON.stringify(p));
  t.match(p.path, /adapters\.partner-sip/);
  t.match(p.message, /rout/);
});

t.test('an XMPP block missing its secret is refused with its location', async (t) => {
  const loaded = load(
    '  corp:\n    type: xmpp\n    domains: [corp.test]\n    service: "xmpp://127.0.0.1:5347"\n    component: gw.corp.test\n',
  );
  const err = await startGateway(loaded, { logger: silent }).catch((e: unknown) => e);
  t.type(err, SourceError);
  const p = (err as SourceError).problems[0]!;
  t.match(p.path, /adapters\.corp/);
  t.match(p.message, /secret/);
});

t.test('a configured SIP adapter starts, serves its domains and reports its link', async (t) => {
  const loaded = load(
    '  partner-sip:\n    type: sip\n    domains: [partner.test]\n    listen: ["udp://127.0.0.1:0"]\n    route: "sip:127.0.0.1:5999"\n    peers: ["127.0.0.1/32"]\n',
  );
  const gw = await startGateway(loaded, { logger: silent });
  t.teardown(() => gw.stop());
  t.equal(gw.pipeline.routes.lookup('partner.test')?.name, 'partner-sip');
  const ready = await (await fetch(`${gw.url}/readyz`)).json();
  t.match(ready, { adapters: { 'partner-sip': { state: 'up', network: 'sip' } } });
});

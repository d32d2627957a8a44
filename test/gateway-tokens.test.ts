// With no token set, the start-up warning names the environment variables to set (issue 24).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { DEFAULT_CONFIG_FILE, loadConfig } from '../src/config.js';
import { startGateway } from '../src/gateway.js';
import { createLogger } from '../src/log.js';

t.test('the embedded config with no token set: the warning names PARLEY_ADMIN_TOKEN', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-tokens-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const loaded = loadConfig(DEFAULT_CONFIG_FILE, { PARLEY_HTTP_LISTEN: '127.0.0.1:0' });
  // Not the embedded default's SQLite file under the working directory (the repository).
  loaded.config.store = { memory: true };
  let logs = '';
  const logger = createLogger({
    level: 'info',
    destination: {
      write: (s: string) => {
        logs += s;
        return true;
      },
    } as unknown as NodeJS.WritableStream,
  });
  const gw = await startGateway(loaded, { logger, watchPolicy: false });
  t.teardown(() => gw.stop());
  const warning = logs
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { level: number; msg: string })
    .find((l) => l.level === 40 && /no admin or auditor token/.test(l.msg));
  t.ok(warning, 'a warning at start');
  t.match(warning?.msg, /PARLEY_ADMIN_TOKEN/);
  t.match(warning?.msg, /PARLEY_AUDITOR_TOKEN/);
});

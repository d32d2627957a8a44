import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { storeContract } from './contract.js';

const dirs: string[] = [];
t.teardown(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'parley-sqlite-'));
  dirs.push(dir);
  return join(dir, 'parley.db');
}

await storeContract(t, 'sqlite', async () => {
  const store = new SqliteStore({ path: tempPath() });
  return { store, cleanup: () => store.close() };
});

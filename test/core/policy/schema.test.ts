import { readFileSync } from 'node:fs';
import t from 'tap';
import { policyJsonSchema } from '../../../src/core/policy/schema.js';

t.test('policies/policy.schema.json is the schema generated from the TypeBox source', async (t) => {
  const committed = JSON.parse(readFileSync('policies/policy.schema.json', 'utf8'));
  t.same(committed, policyJsonSchema(), 'stale: run node --import tsx scripts/gen-policy-schema.ts');
  t.equal(committed.additionalProperties, false);
});

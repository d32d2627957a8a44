// Writes the published JSON Schema of policy files: policies/policy.schema.json.
// Run: node --import tsx scripts/gen-policy-schema.ts && npx biome check --write policies/policy.schema.json
// (test/core/policy/schema.test.ts checks the committed file is current).
import { writeFileSync } from 'node:fs';
import { policyJsonSchema } from '../src/core/policy/schema.js';
// Registers the networks this build speaks (address schemes, the policy's network names).
import '../src/networks.js';

const target = new URL('../policies/policy.schema.json', import.meta.url);
writeFileSync(target, `${JSON.stringify(policyJsonSchema(), null, 2)}\n`);
process.stdout.write(`wrote ${target.pathname}\n`);

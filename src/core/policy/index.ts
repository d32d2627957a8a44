// The policy engine's public API: load/compile a policy, decide events, explain, test.
export type { CompiledPolicy } from './evaluate.js';
export { compilePolicy } from './evaluate.js';
export { EventInputError, eventFromInput } from './event-input.js';
export { compilePolicySource, loadPolicyFile, policyProblems } from './load.js';
export {
  type PolicyDocument,
  policyDocumentSchema,
  policyJsonSchema,
  type Rule,
} from './schema.js';
export {
  type CaseResult,
  loadSuiteFile,
  runSuiteFile,
  runSuites,
  type SuiteResult,
} from './suite.js';
export type * from './types.js';

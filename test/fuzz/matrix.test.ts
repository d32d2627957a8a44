// Fuzz (CI size; `npm run fuzz` runs the same properties longer): see targets.ts.
import t from 'tap';
import { ciTests } from './run.js';

ciTests(t, ['matrix-translate']);

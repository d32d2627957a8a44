#!/usr/bin/env node
// The compiled CLI; `npm ci` builds dist/ through the `prepare` script.
import { runFromProcess } from '../dist/cli.js';

await runFromProcess();

// The Matrix adapter's entry point: its network module (network.ts, what the composition
// root registers) and the factory the module's `create` loads.
import type { Adapter } from '../../core/adapter.js';
import type { NetworkDeps } from '../../core/network.js';
import { MatrixAdapter } from './adapter.js';
import { loadRegistration, resolveMatrixConfig } from './config.js';
import { SdkHomeserver } from './homeserver.js';

export { MATRIX_CAPABILITIES, MatrixAdapter } from './adapter.js';
export {
  loadRegistration,
  MatrixConfig,
  MatrixConfigProblem,
  makeRegistration,
  Registration,
  registrationYaml,
  resolveMatrixConfig,
} from './config.js';
export { escapeMatrixLocal, fromGhost, toGhost, unescapeMatrixLocal } from './ghost.js';
export { matrixNetwork } from './network.js';

/**
 * Create a Matrix adapter from its config block (`type: matrix`). A wrong block or
 * registration file throws MatrixConfigProblem (an AdapterConfigError naming the key).
 */
export const createMatrixAdapter = (
  name: string,
  config: Record<string, unknown>,
  deps: NetworkDeps,
): Adapter => buildMatrixAdapter(name, config, deps);

export function buildMatrixAdapter(
  name: string,
  config: Record<string, unknown>,
  deps: NetworkDeps,
): MatrixAdapter {
  const cfg = resolveMatrixConfig(config, deps.configDir);
  const registration = loadRegistration(cfg.registrationFile);
  const homeserver = new SdkHomeserver({
    baseUrl: cfg.homeserver,
    asToken: registration.as_token,
    logger: deps.logger,
    timeoutMs: cfg.requestTimeoutMs,
  });
  return new MatrixAdapter({ name, config: cfg, registration, homeserver, logger: deps.logger });
}

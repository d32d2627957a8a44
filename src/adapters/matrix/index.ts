// The Matrix adapter's entry point: the factory the adapter registry calls with a config block.
import type { Adapter } from '../../core/adapter.js';
import type { Logger } from '../../core/logger.js';
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

/** The shape of AdapterDeps (src/adapters/index.ts), which this folder may not import. */
interface FactoryDeps {
  logger: Logger;
  configDir: string;
}

/**
 * The AdapterFactory for `type: matrix` (structurally the registry's AdapterFactory type).
 * A wrong block or registration file throws MatrixConfigProblem (an AdapterConfigError naming the key).
 */
export const createMatrixAdapter = (
  name: string,
  config: Record<string, unknown>,
  deps: FactoryDeps,
): Adapter => buildMatrixAdapter(name, config, deps);

export function buildMatrixAdapter(
  name: string,
  config: Record<string, unknown>,
  deps: FactoryDeps,
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

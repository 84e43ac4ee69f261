/** Test support: what loadConfig refuses in an environment (unit specs of src/config). */
import { ConfigError, loadConfig, type AppConfig } from '../../src/config/config';

/** The least an environment needs to load (a JWT secret). */
export const CONFIG_BASE = { JWT_SECRET: 'a-secret-of-sixteen-chars-or-more' };

/** The config `env` (on top of CONFIG_BASE) loads to. */
export function configOf(env: Record<string, string>): AppConfig {
  return loadConfig({ ...CONFIG_BASE, ...env });
}

/** The ConfigError message for `env` (on top of CONFIG_BASE), or '' when it loads. */
export function configProblems(env: Record<string, string>): string {
  try {
    configOf(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  return '';
}

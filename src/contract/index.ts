/**
 * The one source of MAWS's wire and process contract. It imports nothing, so anything may
 * import it: the server, the page (JSDoc types), tests, bench and chaos (`import type`).
 */
export * from './commands';
export * from './errors';
export * from './events';
export * from './jobs';
export * from './steps';

/**
 * @maws/client: one MAWS session from a browser or Node. Types come from MAWS's contract
 * (src/contract), the same source as the server's.
 */
export { createMawsClient } from './client';
export type {
  ClientEventMap,
  ClientStatus,
  MawsClient,
  MawsClientOptions,
  SocketConstructor,
  SocketLike,
} from './client';
export { MawsError, type MawsErrorCode } from './errors';
export { initialView, reduce } from './reducer';
export type { MessageView, RunView, SessionView, StepView, ToolView, ViewFrame } from './reducer';
export { backoffDelay } from './backoff';
export { claimsOf } from './token-cache';
export type * from '../../../src/contract';

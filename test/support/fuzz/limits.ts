/**
 * Fuzz support: the gateway limits a fuzz run starts the gateway with. The generator sizes its
 * frames around them and the oracle derives its answers from them, so they are defined once.
 */

/** A frame over this many bytes is closed with 1009. */
export const MAX_FRAME_BYTES = 65_536;
/** A text over this many characters (after trimming) is VALIDATION_FAILED. */
export const MAX_INPUT_CHARS = 8000;
/** MESSAGES_PER_SECOND and MESSAGE_BURST: the fuzz connections pace themselves well under it. */
export const RATE = 1000;
/** RATE_LIMITED answers before a flooding connection is closed with 1008. */
export const FLOOD_CLOSE_AFTER = 10;
export const MAX_SAFE = Number.MAX_SAFE_INTEGER;

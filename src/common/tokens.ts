/** Injection tokens for values that are not classes. */
export const REDIS = Symbol('REDIS');
export const REDIS_SUBSCRIBER = Symbol('REDIS_SUBSCRIBER');
export const MODEL_PROVIDER = Symbol('MODEL_PROVIDER');

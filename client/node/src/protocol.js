// The TM1 wire protocol for Node: field tables, canonical encoder, decoder with limits.
// See docs/protocol.md; the vectors in shared/protocol/vectors are the reference.

export {CodecError, DEFAULT_LIMITS, VERSION, decodeBody, decodeFrames, encodeBody, encodeFrames,
  fromWireObject, scanLimits} from './codec.js';
export * as schema from './schema.js';
export {COMMANDS, TASK_STATES, TERMINAL_STATES} from './schema.js';

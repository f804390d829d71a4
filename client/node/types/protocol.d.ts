// The TM1 codec (docs/protocol.md). Messages are plain objects with camelCase properties.

export type CommandName =
  | 'SUBMIT' | 'BATCH' | 'WAIT' | 'GET' | 'CANCEL' | 'SUBSCRIBE' | 'STATS' | 'DLQ' | 'LIMIT'
  | 'COMPLETE' | 'SCHEDULE' | 'QUEUE' | 'WORKER'
  | 'REPLY' | 'RESULT' | 'EVENT'
  | 'READY' | 'HEARTBEAT' | 'DONE' | 'PROGRESS' | 'BYE'
  | 'TASK' | 'CANCEL_TASK' | 'BROKER_HEARTBEAT' | 'DRAIN' | 'GOAWAY' | 'MOVE';

export interface DecodeLimits {
  maxFrameBytes: number;
  maxArray: number;
  maxMap: number;
  maxStr: number;
  maxBin: number;
  maxDepth: number;
  maxElements: number;
}

export const VERSION: Buffer;
export const DEFAULT_LIMITS: Readonly<DecodeLimits>;
export const COMMANDS: Record<CommandName, [number, unknown[]]>;
export const TASK_STATES: string[];
export const TERMINAL_STATES: Set<string>;
export const schema: Record<string, unknown>;

export class CodecError extends Error {
  code: string;
}

export function encodeBody(command: CommandName, message: object): Buffer;
export function encodeFrames(command: CommandName, message: object): [Buffer, Buffer, Buffer];
export function decodeBody(command: CommandName, body: Uint8Array, limits?: DecodeLimits): any;
export function decodeFrames(frames: Uint8Array[], limits?: DecodeLimits):
  {command: CommandName; message: any};
export function fromWireObject(command: CommandName, raw: object): any;
export function scanLimits(body: Uint8Array, limits?: DecodeLimits): void;

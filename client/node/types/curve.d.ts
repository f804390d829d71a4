// CURVE key files (src/curve.js): czmq zcert text, as `taskmill keygen NAME` writes them.

import {TaskmillError} from './index.js';

export const ENV_SERVER_KEY: 'TASKMILL_CURVE_SERVER_KEY';
export const ENV_KEY_FILE: 'TASKMILL_CURVE_KEY_FILE';
export const KEY_LENGTH: 40;

/** A CURVE key or key file is missing, malformed, or not a valid Z85 key. */
export class CurveKeyError extends TaskmillError {}

/** zeromq socket options that make a DEALER a CURVE client (Z85 strings). */
export interface CurveSocketOptions {
  curveServerKey: string;
  curvePublicKey: string;
  curveSecretKey: string;
}

export function checkZ85Key(text: string, what: string): string;
export function readKeyFile(path: string): {publicKey?: string; secretKey?: string};
/** From a key file (.pub or .key) or 40 Z85 characters. */
export function readPublicKey(arg: string): string;
export function readKeyPair(path: string): {publicKey: string; secretKey: string};
/** null: no CURVE. Undefined arguments fall back to the environment; '' means unset. */
export function load(options?: {serverKey?: string | null; keyFile?: string | null},
  env?: Record<string, string | undefined>): CurveSocketOptions | null;
/** Writes dir/name.key (0600) and dir/name.pub; never overwrites. */
export function generate(name: string, dir?: string): {keyFile: string; pubFile: string};

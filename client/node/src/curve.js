// CURVE keys for a client's or worker's socket: reading, checking and generating them.
//
// Key files are czmq zcert text files, as `taskmill keygen NAME` writes them: NAME.key (mode
// 0600, public and secret key) and NAME.pub (public key only):
//
//   #   ZeroMQ CURVE **Secret** Certificate
//   metadata
//   curve
//       public-key = "<40-char Z85>"
//       secret-key = "<40-char Z85>"
//
// The `public-key` and `secret-key` entries of the `curve` section are read, as
// docs/protocol.md ("Transport security") says: values quoted with " or ', or bare; comments
// and other sections are ignored; a repeated key is an error. The broker's public key may be
// such a file or the 40 Z85 characters themselves. A peer that sets the broker's key must also
// have its own key pair (curveKeyFile). TASKMILL_CURVE_SERVER_KEY and TASKMILL_CURVE_KEY_FILE
// are the defaults. Files are read synchronously: this runs once, in a constructor.

import {createPrivateKey, createPublicKey} from 'node:crypto';
import {existsSync, readFileSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';

import * as zmq from 'zeromq';

import {TaskmillError} from './errors.js';

export const ENV_SERVER_KEY = 'TASKMILL_CURVE_SERVER_KEY';
export const ENV_KEY_FILE = 'TASKMILL_CURVE_KEY_FILE';
export const KEY_LENGTH = 40;  // Z85 characters of a 32-byte CURVE key
const MAX_KEY_FILE_BYTES = 64 * 1024;  // a key file is a few hundred bytes (the C++ limit)

const Z85_CHARS =
  '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#';
// PKCS#8 DER of an X25519 private key, up to the 32 key bytes.
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

// A CURVE key or key file is missing, malformed, or not a valid Z85 key.
export class CurveKeyError extends TaskmillError {
  constructor(message) {
    super('invalid_argument', message);
    this.name = 'CurveKeyError';
  }
}

// The bytes of a Z85 text (RFC 32), or null if it is not valid Z85.
function z85Decode(text) {
  if (text.length % 5 !== 0) return null;
  const out = Buffer.alloc((text.length / 5) * 4);
  for (let i = 0; i < text.length; i += 5) {
    let value = 0;
    for (let j = 0; j < 5; j++) {
      const digit = Z85_CHARS.indexOf(text[i + j]);
      if (digit < 0) return null;
      value = value * 85 + digit;
    }
    if (value > 0xffffffff) return null;
    out.writeUInt32BE(value, (i / 5) * 4);
  }
  return out;
}

// Returns `text` if it is a 40-character Z85 key, else throws a CurveKeyError naming `what`.
export function checkZ85Key(text, what) {
  if (text.length !== KEY_LENGTH) {
    throw new CurveKeyError(
        `${what}: a CURVE key is ${KEY_LENGTH} Z85 characters, not ${text.length}`);
  }
  const bad = [...new Set([...text].filter((c) => !Z85_CHARS.includes(c)))].sort();
  if (bad.length > 0) {
    throw new CurveKeyError(`${what}: not a Z85 key (bad characters '${bad.join('')}')`);
  }
  if (z85Decode(text) === null) throw new CurveKeyError(`${what}: not a Z85 key`);
  return text;
}

// {publicKey, secretKey} of a zcert file, each undefined if the file has no such line.
export function readKeyFile(path) {
  let text;
  try {
    text = readFileSync(path);
  } catch (err) {
    if (err.code === 'ENOENT') throw new CurveKeyError(`${path}: no such CURVE key file`);
    throw new CurveKeyError(`${path}: cannot read CURVE key file: ${err.message}`);
  }
  if (text.length > MAX_KEY_FILE_BYTES) {
    throw new CurveKeyError(`${path}: larger than ${MAX_KEY_FILE_BYTES} bytes, not a key file`);
  }
  text = text.toString('utf8');
  const keys = {};
  let section = '';
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const stripped = line.trim();
    if (!stripped || stripped.startsWith('#')) continue;
    if (line[0] !== ' ' && line[0] !== '\t') {  // a top-level (ZPL) section name
      section = stripped.split('=')[0].trim();
      continue;
    }
    const eq = stripped.indexOf('=');
    if (section !== 'curve' || eq < 0) continue;
    const name = stripped.slice(0, eq).trim();
    let value = stripped.slice(eq + 1).trim();
    if (name !== 'public-key' && name !== 'secret-key') continue;
    if (name in keys) throw new CurveKeyError(`${path}: line ${i + 1}: ${name} given twice`);
    if (value.length >= 2 && (value[0] === '"' || value[0] === '\'') && value.at(-1) === value[0]) {
      value = value.slice(1, -1);
    }
    keys[name] = checkZ85Key(value, `${path}: line ${i + 1}: ${name}`);
  }
  return {publicKey: keys['public-key'], secretKey: keys['secret-key']};
}

// A public key from a key file (.pub or .key) or from its 40 Z85 characters.
export function readPublicKey(arg) {
  if (!existsSync(arg)) {
    if (arg.length === KEY_LENGTH) return checkZ85Key(arg, 'CURVE public key');
    throw new CurveKeyError(
        `${arg}: no such CURVE key file, and not a ${KEY_LENGTH}-character Z85 key either`);
  }
  const {publicKey} = readKeyFile(arg);
  if (publicKey === undefined) {
    throw new CurveKeyError(`${arg}: no public-key in a 'curve' section`);
  }
  return publicKey;
}

// The X25519 public key (Z85) that belongs to a secret key (Z85).
function publicKeyOf(secretKey) {
  const der = Buffer.concat([X25519_PKCS8_PREFIX, z85Decode(secretKey)]);
  const spki = createPublicKey(createPrivateKey({key: der, format: 'der', type: 'pkcs8'}))
      .export({format: 'der', type: 'spki'});
  return spki.subarray(spki.length - 32);
}

// {publicKey, secretKey} of a .key file; both must be there and belong together.
export function readKeyPair(path) {
  const {publicKey, secretKey} = readKeyFile(path);
  if (publicKey === undefined) {
    throw new CurveKeyError(`${path}: no public-key in a 'curve' section`);
  }
  if (secretKey === undefined) {
    throw new CurveKeyError(`${path}: no secret-key (is this the .pub file? the key ` +
        'pair is in the .key file)');
  }
  if (!publicKeyOf(secretKey).equals(z85Decode(publicKey))) {
    throw new CurveKeyError(`${path}: the public key does not belong to the secret key`);
  }
  return {publicKey, secretKey};
}

// The CURVE settings of a client or worker: null for a plain connection, else the zeromq
// socket options {curveServerKey, curvePublicKey, curveSecretKey}. An argument that is
// undefined or null falls back to its environment variable; '' means "not set". The server
// key without a key file, or the reverse, is an error.
export function load({serverKey, keyFile} = {}, env = process.env) {
  serverKey ??= env[ENV_SERVER_KEY] ?? '';
  keyFile ??= env[ENV_KEY_FILE] ?? '';
  if (!serverKey && !keyFile) return null;
  if (!keyFile) {
    throw new CurveKeyError('a CURVE server key needs this peer\'s own key pair too: set ' +
        `curveKeyFile (or ${ENV_KEY_FILE})`);
  }
  if (!serverKey) {
    throw new CurveKeyError('a CURVE key file needs the broker\'s public key too: set ' +
        `curveServerKey (or ${ENV_SERVER_KEY})`);
  }
  if (!zmq.capability.curve) throw new CurveKeyError('this zeromq was built without CURVE');
  const {publicKey, secretKey} = readKeyPair(keyFile);
  return {curveServerKey: readPublicKey(serverKey), curvePublicKey: publicKey,
    curveSecretKey: secretKey};
}

// Writes a new key pair as dir/name.key (mode 0600, public and secret key) and dir/name.pub,
// the files of `taskmill keygen NAME`. Returns {keyFile, pubFile}. Never overwrites a file.
export function generate(name, dir = '.') {
  const {publicKey, secretKey} = zmq.curveKeyPair();
  const keyFile = join(dir, `${name}.key`);
  const pubFile = join(dir, `${name}.pub`);
  for (const path of [keyFile, pubFile]) {
    if (existsSync(path)) throw new CurveKeyError(`${path}: exists; not overwriting a key file`);
  }
  const pubLine = `    public-key = "${publicKey}"\n`;
  // 'wx' with the mode at creation: the secret is never readable by others, and a file
  // created meanwhile is not overwritten.
  writeFileSync(keyFile, '#   ZeroMQ CURVE **Secret** Certificate\nmetadata\ncurve\n' +
      `${pubLine}    secret-key = "${secretKey}"\n`, {flag: 'wx', mode: 0o600});
  writeFileSync(pubFile, '#   ZeroMQ CURVE Public Certificate\nmetadata\ncurve\n' + pubLine,
      {flag: 'wx', mode: 0o644});
  return {keyFile, pubFile};
}

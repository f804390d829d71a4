// The TM1 codec: canonical msgpack bodies (docs/protocol.md section 2) and the decoder
// with its limits (sections 3 and 4). Both walk the field tables of schema.js.
//
// Encoding writes map and array headers and key order itself, because the canonical order
// (field tables, then bytewise-sorted free-form keys) cannot be expressed with plain
// JavaScript objects (integer-like keys always iterate first); scalars go through
// @msgpack/msgpack's Encoder, which writes the smallest integer forms and float64.
//
// Decoding first scans the body for the limits (declared sizes, depth, element count,
// trailing bytes) without allocating, then lets @msgpack/msgpack build the values, then
// reads them through the field table: unknown keys are ignored, nil is absent, every
// field gets its default. u64 values (token, req_id, counters) are numbers while they are
// at most 2^53-1 and BigInts above that, so they echo back exactly.

import {Decoder, Encoder, ExtData} from '@msgpack/msgpack';

import {TaskmillError} from './errors.js';
import {COMMAND_BY_BYTE, COMMANDS} from './schema.js';

export const VERSION = Buffer.from('TM1');

export const DEFAULT_LIMITS = Object.freeze({
  maxFrameBytes: 16 * 1024 * 1024,
  maxArray: 100_000,
  maxMap: 10_000,
  maxStr: 1024 * 1024,
  maxBin: 16 * 1024 * 1024,
  maxDepth: 16,
  maxElements: 1_000_000,
});

// A codec error: `.code` is the protocol code (wrong_type, missing_field, ...), the message
// names the field path as `<path>: <what>`.
export class CodecError extends TaskmillError {
  constructor(code, message) {
    super(code, message);
    this.name = 'CodecError';
  }
}

const fail = (code, path, what) => {
  throw new CodecError(code, `${path}: ${what}`);
};

// ---------------------------------------------------------------------------------------
// Encoding

const scalarEncoder = new Encoder({forceFloat32: false, useBigInt64: false});
const utf8 = new TextEncoder();
const RANGES = {
  u8: [0n, 255n], u32: [0n, 4294967295n], u64: [0n, 18446744073709551615n],
  i32: [-2147483648n, 2147483647n], i64: [-9223372036854775808n, 9223372036854775807n],
};
const INT_KINDS = new Set(Object.keys(RANGES));

class Writer {
  constructor() {
    this.parts = [];
    this.size = 0;
  }
  push(bytes) {
    this.parts.push(bytes);
    this.size += bytes.length;
  }
  header(fix, fixMax, codes, n) {
    if (n <= fixMax) return this.push(Uint8Array.of(fix + n));
    if (n < 0x10000) return this.push(Uint8Array.of(codes[0], n >> 8, n & 0xff));
    const b = new Uint8Array(5);
    b[0] = codes[1];
    new DataView(b.buffer).setUint32(1, n);
    this.push(b);
  }
  map(n) { this.header(0x80, 15, [0xde, 0xdf], n); }
  array(n) { this.header(0x90, 15, [0xdc, 0xdd], n); }
  scalar(v) { this.push(scalarEncoder.encode(v)); }
  // An integer as a BigInt, smallest form, unsigned form for non-negative values.
  bigint(v) {
    if (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) {
      return this.scalar(Number(v));
    }
    const b = new Uint8Array(9);
    const dv = new DataView(b.buffer);
    if (v >= 0n) {
      b[0] = 0xcf;
      dv.setBigUint64(1, v);
    } else {
      b[0] = 0xd3;
      dv.setBigInt64(1, v);
    }
    this.push(b);
  }
  bytes() {
    return Buffer.concat(this.parts, this.size);
  }
}

function toBigInt(v, path) {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  return fail('wrong_type', path, `expected integer, got ${typeOf(v)}`);
}

function isEmptyValue(fd, v) {
  if (v === undefined || v === null) return true;
  switch (fd.kind) {
    case 'str': case 'enum': case 'state': return v === (fd.def ?? '');
    case 'bool': return v === (fd.def ?? false);
    case 'double': return v === (fd.def ?? 0);
    case 'bin': return (typeof v === 'string' ? v.length : v.byteLength) === 0;
    case 'strList': case 'objList': return v.length === 0;
    case 'strMap': case 'costMap': case 'binMap': case 'uintMap':
      return Object.keys(v).length === 0;
    case 'obj': return fd.schema.every((sub) => isEmptyValue(sub, v[sub.js]));
    case 'optObj': case 'optInt': return false;  // present iff not null
    default:
      if (INT_KINDS.has(fd.kind)) {
        return (typeof v === 'number' || typeof v === 'bigint') &&
            BigInt(v) === BigInt(fd.def ?? 0);
      }
      return false;
  }
}

function writeInt(w, kind, v, path) {
  const n = toBigInt(v, path);
  const [lo, hi] = RANGES[kind];
  if (n < lo) {
    if (kind[0] === 'u') fail('invalid_argument', path, 'must not be negative');
    fail('invalid_argument', path, `${n} is under the minimum of ${lo}`);
  }
  if (n > hi) fail('invalid_argument', path, `${n} is over the maximum of ${hi}`);
  w.bigint(n);
}

function writeDouble(w, v, path) {
  if (typeof v === 'bigint') v = Number(v);
  if (typeof v !== 'number') fail('wrong_type', path, `expected number, got ${typeOf(v)}`);
  if (!Number.isFinite(v)) fail('invalid_argument', path, 'must be a finite number');
  // Rule 2.4: an integral value in [-2^63, 2^64) is an integer; -0 is 0.
  if (Number.isInteger(v) && v >= -(2 ** 63) && v < 2 ** 64) return w.bigint(BigInt(v));
  w.scalar(v);
}

function writeStr(w, v, path) {
  if (typeof v !== 'string') fail('wrong_type', path, `expected string, got ${typeOf(v)}`);
  w.scalar(v);
}

function writeBin(w, v, path) {
  if (typeof v === 'string') v = utf8.encode(v);
  if (!(v instanceof Uint8Array)) fail('wrong_type', path, `expected bytes, got ${typeOf(v)}`);
  w.scalar(v);
}

// Free-form map keys in ascending UTF-8 byte order (rule 2.9).
function sortedEntries(obj, path) {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    fail('wrong_type', path, `expected map, got ${typeOf(obj)}`);
  }
  const entries = Object.entries(obj).map(([k, v]) => [Buffer.from(k, 'utf8'), k, v]);
  entries.sort((a, b) => Buffer.compare(a[0], b[0]));
  return entries.map(([, k, v]) => [k, v]);
}

function writeMap(w, obj, path, writeValue) {
  const entries = sortedEntries(obj, path);
  w.map(entries.length);
  for (const [k, v] of entries) {
    w.scalar(k);
    if (v === undefined || v === null) fail('wrong_type', `${path}.${k}`, 'must not be nil');
    writeValue(w, v, `${path}.${k}`);
  }
}

function writeField(w, fd, v, path) {
  switch (fd.kind) {
    case 'str': case 'state': return writeStr(w, v, path);
    case 'enum':
      if (!fd.values.includes(v)) {
        fail('invalid_argument', path, `unknown value '${v}' (allowed: ${fd.values.join(', ')})`);
      }
      return writeStr(w, v, path);
    case 'bin': return writeBin(w, v, path);
    case 'bool':
      if (typeof v !== 'boolean') fail('wrong_type', path, `expected bool, got ${typeOf(v)}`);
      return w.scalar(v);
    case 'double': return writeDouble(w, v, path);
    case 'optInt': return writeInt(w, 'i32', v, path);
    case 'strList':
      if (!Array.isArray(v)) fail('wrong_type', path, `expected array, got ${typeOf(v)}`);
      w.array(v.length);
      v.forEach((s, i) => writeStr(w, s, `${path}[${i}]`));
      return;
    case 'objList':
      if (!Array.isArray(v)) fail('wrong_type', path, `expected array, got ${typeOf(v)}`);
      w.array(v.length);
      v.forEach((o, i) => writeObject(w, fd.schema, o, `${path}[${i}]`));
      return;
    case 'obj': case 'optObj': return writeObject(w, fd.schema, v, path);
    case 'strMap': return writeMap(w, v, path, writeStr);
    case 'binMap': return writeMap(w, v, path, writeBin);
    case 'costMap': return writeMap(w, v, path, writeDouble);
    case 'uintMap': return writeMap(w, v, path, (ww, x, p) => writeInt(ww, 'u32', x, p));
    default:
      if (INT_KINDS.has(fd.kind)) return writeInt(w, fd.kind, v, path);
      throw new Error(`unknown field kind ${fd.kind}`);
  }
}

function writeObject(w, table, obj, path) {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    fail('wrong_type', path, `expected object, got ${typeOf(obj)}`);
  }
  const written = [];
  for (const fd of table) {
    const v = obj[fd.js];
    if (fd.req || !isEmptyValue(fd, v)) written.push([fd, v ?? defaultOf(fd)]);
  }
  w.map(written.length);
  for (const [fd, v] of written) {
    w.scalar(fd.key);
    writeField(w, fd, v, path === 'body' ? fd.key : `${path}.${fd.key}`);
  }
}

// The canonical body of a message: `command` is a name of schema.COMMANDS ('SUBMIT', ...),
// `message` a plain object with camelCase properties.
export function encodeBody(command, message) {
  const entry = COMMANDS[command];
  if (!entry) throw new CodecError('unknown_command', `unknown command '${command}'`);
  const w = new Writer();
  writeObject(w, entry[1], message ?? {}, 'body');
  return w.bytes();
}

// The three frames of a message: version, command byte, body.
export function encodeFrames(command, message) {
  const body = encodeBody(command, message);
  return [VERSION, Buffer.of(COMMANDS[command][0]), body];
}

// ---------------------------------------------------------------------------------------
// Decoding

function typeOf(v) {
  if (v === null || v === undefined) return 'nil';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'bigint') return 'integer';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'float';
  if (v instanceof Uint8Array) return 'bin';
  if (v instanceof ExtData) return 'ext';
  if (Array.isArray(v)) return 'array';
  return 'map';
}

// Checks every declared size, the depth, the element count and trailing bytes before
// anything is allocated (section 4), iteratively so no input can exhaust the stack.
export function scanLimits(buf, limits = DEFAULT_LIMITS) {
  const n = buf.length;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = 0;
  let elements = 0;
  const stack = [];  // items still to read in each open container
  if (n === 0) fail('truncated', 'body', 'empty body');
  const b0 = buf[0];
  if (!((b0 >= 0x80 && b0 <= 0x8f) || b0 === 0xde || b0 === 0xdf)) {
    fail('wrong_type', 'body', 'expected map');
  }
  const need = (k) => {
    if (pos + k > n) fail('truncated', 'body', 'ends inside a value');
  };
  const len = (k) => {
    need(k);
    const v = k === 1 ? dv.getUint8(pos) : k === 2 ? dv.getUint16(pos) : dv.getUint32(pos);
    pos += k;
    return v;
  };
  const blob = (size, limit, what) => {
    if (size > limit) fail('over_limit', 'body', `${what} of ${size} bytes is over the limit`);
    if (pos + size > n) fail('truncated', 'body', `${what} of ${size} bytes exceeds the body`);
    pos += size;
  };
  const container = (size, perItem, limit, what) => {
    if (size > limit) fail('over_limit', 'body', `${what} of ${size} is over the limit`);
    if (pos + size * perItem > n) fail('truncated', 'body', `${what} of ${size} exceeds the body`);
    if (stack.length + 1 > limits.maxDepth) fail('over_limit', 'body', 'nested too deep');
    elements += size;
    if (elements > limits.maxElements) fail('over_limit', 'body', 'too many elements');
    return size * (perItem === 2 ? 2 : 1);
  };
  for (;;) {
    need(1);
    const b = buf[pos++];
    let items = 0;
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) {
      // single-byte value
    } else if (b <= 0x8f) {
      items = container(b & 0x0f, 2, limits.maxMap, 'map');
    } else if (b <= 0x9f) {
      items = container(b & 0x0f, 1, limits.maxArray, 'array');
    } else if (b <= 0xbf) {
      blob(b & 0x1f, limits.maxStr, 'str');
    } else {
      switch (b) {
        case 0xc1: fail('wrong_type', 'body', 'reserved byte 0xc1');
        case 0xc4: blob(len(1), limits.maxBin, 'bin'); break;
        case 0xc5: blob(len(2), limits.maxBin, 'bin'); break;
        case 0xc6: blob(len(4), limits.maxBin, 'bin'); break;
        case 0xc7: { const s = len(1); need(1); pos++; blob(s, limits.maxBin, 'ext'); break; }
        case 0xc8: { const s = len(2); need(1); pos++; blob(s, limits.maxBin, 'ext'); break; }
        case 0xc9: { const s = len(4); need(1); pos++; blob(s, limits.maxBin, 'ext'); break; }
        case 0xca: need(4); pos += 4; break;
        case 0xcb: need(8); pos += 8; break;
        case 0xcc: case 0xd0: need(1); pos += 1; break;
        case 0xcd: case 0xd1: need(2); pos += 2; break;
        case 0xce: case 0xd2: need(4); pos += 4; break;
        case 0xcf: case 0xd3: need(8); pos += 8; break;
        case 0xd4: need(2); pos += 2; break;
        case 0xd5: need(3); pos += 3; break;
        case 0xd6: need(5); pos += 5; break;
        case 0xd7: need(9); pos += 9; break;
        case 0xd8: need(17); pos += 17; break;
        case 0xd9: blob(len(1), limits.maxStr, 'str'); break;
        case 0xda: blob(len(2), limits.maxStr, 'str'); break;
        case 0xdb: blob(len(4), limits.maxStr, 'str'); break;
        case 0xdc: items = container(len(2), 1, limits.maxArray, 'array'); break;
        case 0xdd: items = container(len(4), 1, limits.maxArray, 'array'); break;
        case 0xde: items = container(len(2), 2, limits.maxMap, 'map'); break;
        case 0xdf: items = container(len(4), 2, limits.maxMap, 'map'); break;
      }
    }
    if (items > 0) {
      stack.push(items);
      continue;
    }
    // A value is complete: count it against its container, closing finished ones.
    while (stack.length > 0 && --stack[stack.length - 1] === 0) stack.pop();
    if (stack.length === 0) break;
  }
  if (pos !== n) fail('bad_frame', 'body', 'trailing bytes after the map');
}

// Ext values are kept as opaque ExtData (no timestamp decoding): they only ever appear
// under unknown keys, which are ignored.
const opaqueExtensions = {
  tryToEncode: () => null,
  decode: (data, type) => new ExtData(type, data),
};

function makeDecoder(limits) {
  return new Decoder({
    useBigInt64: true,
    extensionCodec: opaqueExtensions,
    maxStrLength: limits.maxStr,
    maxBinLength: limits.maxBin,
    maxArrayLength: limits.maxArray,
    maxMapLength: limits.maxMap,
    maxExtLength: limits.maxBin,
    mapKeyConverter: (key) => {
      if (typeof key !== 'string') throw new CodecError('wrong_type', 'body: map key is not a str');
      return key;
    },
  });
}
const defaultDecoder = makeDecoder(DEFAULT_LIMITS);

function defaultOf(fd) {
  switch (fd.kind) {
    case 'str': case 'enum': case 'state': return fd.def ?? '';
    case 'bin': return Buffer.alloc(0);
    case 'bool': return fd.def ?? false;
    case 'double': return fd.def ?? 0;
    case 'strList': case 'objList': return [];
    case 'strMap': case 'costMap': case 'binMap': case 'uintMap': return {};
    case 'obj': return readObject(fd.schema, {}, '');
    case 'optObj': case 'optInt': return null;
    default: return fd.def ?? 0;
  }
}

function readInt(kind, v, path) {
  if (typeof v !== 'number' && typeof v !== 'bigint') {
    fail('wrong_type', path, `expected ${kind[0] === 'u' ? 'unsigned ' : ''}integer, got ${typeOf(v)}`);
  }
  if (typeof v === 'number' && !Number.isInteger(v)) {
    fail('wrong_type', path, `expected integer, got float`);
  }
  const n = BigInt(v);
  const [lo, hi] = RANGES[kind];
  if (n < lo) {
    if (kind[0] === 'u') fail('invalid_argument', path, 'must not be negative');
    fail('invalid_argument', path, `${n} is under the minimum of ${lo}`);
  }
  if (n > hi) {
    fail('invalid_argument', path, kind === 'i64' ? 'integer too large' :
        `${n} is over the maximum of ${hi}`);
  }
  return Number.isSafeInteger(Number(n)) && BigInt(Number(n)) === n ? Number(n) : n;
}

function readDouble(v, path) {
  if (typeof v === 'bigint') return Number(v);
  if (typeof v !== 'number') fail('wrong_type', path, `expected number, got ${typeOf(v)}`);
  if (!Number.isFinite(v)) fail('invalid_argument', path, 'must be a finite number');
  return v;
}

function readStr(v, path) {
  if (typeof v !== 'string') fail('wrong_type', path, `expected string, got ${typeOf(v)}`);
  return v;
}

function readBin(v, path) {
  if (typeof v === 'string') return Buffer.from(v, 'utf8');  // leniency: str for bin
  if (!(v instanceof Uint8Array)) fail('wrong_type', path, `expected bin, got ${typeOf(v)}`);
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

function isMap(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v) &&
      !(v instanceof Uint8Array) && !(v instanceof ExtData);
}

function readMap(v, path, readValue) {
  if (!isMap(v)) fail('wrong_type', path, `expected map, got ${typeOf(v)}`);
  const out = {};
  for (const [k, x] of Object.entries(v)) {
    if (x === null) fail('wrong_type', `${path}.${k}`, 'nil in a map');
    out[k] = readValue(x, `${path}.${k}`);
  }
  return out;
}

function readField(fd, v, path) {
  switch (fd.kind) {
    case 'str': return readStr(v, path);
    case 'state': {
      const s = readStr(v, path);
      return ['queued', 'delayed', 'blocked', 'running', 'succeeded', 'failed', 'cancelled',
        'awaiting'].includes(s) ? s : 'unknown';
    }
    case 'enum': {
      const s = readStr(v, path);
      if (!fd.values.includes(s)) {
        fail('invalid_argument', path, `unknown value '${s}' (allowed: ${fd.values.join(', ')})`);
      }
      return s;
    }
    case 'bin': return readBin(v, path);
    case 'bool':
      if (typeof v !== 'boolean') fail('wrong_type', path, `expected bool, got ${typeOf(v)}`);
      return v;
    case 'double': return readDouble(v, path);
    case 'optInt': return readInt('i32', v, path);
    case 'strList': case 'objList': {
      if (!Array.isArray(v)) fail('wrong_type', path, `expected array, got ${typeOf(v)}`);
      return v.map((x, i) => {
        const p = `${path}[${i}]`;
        if (x === null) fail('wrong_type', p, 'nil in an array');
        return fd.kind === 'strList' ? readStr(x, p) : readObject(fd.schema, x, p);
      });
    }
    case 'obj': case 'optObj': return readObject(fd.schema, v, path);
    case 'strMap': return readMap(v, path, readStr);
    case 'binMap': return readMap(v, path, readBin);
    case 'costMap': return readMap(v, path, readDouble);
    case 'uintMap': return readMap(v, path, (x, p) => readInt('u32', x, p));
    default: return readInt(fd.kind, v, path);
  }
}

function readObject(table, raw, path) {
  if (!isMap(raw)) fail('wrong_type', path || 'body', `expected map, got ${typeOf(raw)}`);
  const out = {};
  for (const fd of table) {
    const p = path ? `${path}.${fd.key}` : fd.key;
    const v = Object.hasOwn(raw, fd.key) ? raw[fd.key] : undefined;
    if (v === undefined || v === null) {  // nil means absent
      if (fd.req) fail('missing_field', path || 'body', `missing required field '${fd.key}'`);
      out[fd.js] = defaultOf(fd);
    } else {
      out[fd.js] = readField(fd, v, p);
    }
  }
  return out;
}

// Reads an already-parsed msgpack value (or a JSON-like object with snake_case keys and
// Uint8Array bytes) as a message of `command`. Used by decodeBody and by tests.
export function fromWireObject(command, raw) {
  const entry = COMMANDS[command];
  if (!entry) throw new CodecError('unknown_command', `unknown command '${command}'`);
  return readObject(entry[1], raw, '');
}

export function decodeBody(command, body, limits = DEFAULT_LIMITS) {
  const bytes = body instanceof Uint8Array ? body : new Uint8Array(body);
  if (bytes.length > limits.maxFrameBytes) {
    throw new CodecError('bad_frame', `body of ${bytes.length} bytes is over the limit`);
  }
  scanLimits(bytes, limits);
  let raw;
  try {
    raw = (limits === DEFAULT_LIMITS ? defaultDecoder : makeDecoder(limits)).decode(bytes);
  } catch (e) {
    if (e instanceof CodecError) throw e;
    throw new CodecError('wrong_type', `body: ${e.message}`);
  }
  return fromWireObject(command, raw);
}

// Decodes three frames into {command, message}; throws a CodecError for anything invalid.
export function decodeFrames(frames, limits = DEFAULT_LIMITS) {
  if (frames.length !== 3) {
    throw new CodecError('bad_frame',
        `expected 3 frames (version, command, body), got ${frames.length}`);
  }
  const [version, cmd, body] = frames;
  if (!VERSION.equals(Buffer.from(version))) {
    throw new CodecError('unknown_version', `protocol version '${Buffer.from(version)}' is ` +
        'not supported (this peer speaks TM1)');
  }
  if (cmd.length !== 1) throw new CodecError('bad_frame', 'command frame is not 1 byte');
  const entry = COMMAND_BY_BYTE.get(cmd[0]);
  if (!entry) {
    throw new CodecError('unknown_command',
        `unknown command byte 0x${cmd[0].toString(16).padStart(2, '0')}`);
  }
  return {command: entry.name, message: decodeBody(entry.name, body, limits)};
}

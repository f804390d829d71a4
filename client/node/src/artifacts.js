// Writing a task's artifacts (docs/protocol.md 7.4.1) to a local directory: inline ones from
// the task record, kept ones copied from the workers' shared --artifacts-dir volume (by their
// file:// uri, or the same <task>/<attempt>/<name> under artifactsRoot where this host mounts
// it elsewhere). The record is not trusted: every name is checked before anything is
// written, a uri must be this task's artifact, and each file's size and sha256 are verified
// (a mismatch removes the file).

import {createHash} from 'node:crypto';
import {createReadStream} from 'node:fs';
import {mkdir, open, rm} from 'node:fs/promises';
import {constants} from 'node:fs';
import path from 'node:path';

const PART = /^[A-Za-z0-9_.-]+$/;

/** Throws unless `name` is a relative path of [A-Za-z0-9_.-] names, none '.' or '..'. */
export function checkArtifactName(name) {
  if (typeof name !== 'string' || name.length === 0 || Buffer.byteLength(name) > 255) {
    throw new Error(`artifact name '${name}' must be 1 to 255 bytes`);
  }
  for (const part of name.split('/')) {
    if (part === '' || part === '.' || part === '..') {
      throw new Error(`artifact name '${name}' has a '${part}' component`);
    }
    if (!PART.test(part)) {
      throw new Error(`artifact name '${name}' may contain only letters, digits, '_', '.', '-' ` +
                      `and '/' between names`);
    }
  }
}

function sourcePath(task, a, artifactsRoot) {
  if (!a.uri.startsWith('file://')) throw new Error(`artifact ${a.name}: uri is not file://`);
  const p = a.uri.slice('file://'.length);
  const tail = '/' + a.name;
  if (!p.endsWith(tail)) throw new Error(`artifact ${a.name}: uri does not end in its name`);
  const dir = p.slice(0, -tail.length);
  const cut = dir.lastIndexOf('/');
  const attempt = dir.slice(cut + 1);
  if (cut < 0 || !/^[0-9]+$/.test(attempt) || !dir.slice(0, cut).endsWith('/' + task.id)) {
    throw new Error(`artifact ${a.name}: uri is not under <artifacts dir>/${task.id}/<attempt>/`);
  }
  return artifactsRoot ? path.join(artifactsRoot, task.id, attempt, a.name) : p;
}

/** Writes every artifact of `task` as outDir/<name>; resolves to the paths written. */
export async function writeArtifacts(task, outDir, {artifactsRoot} = {}) {
  for (const a of task.artifacts ?? []) checkArtifactName(a.name);
  const written = [];
  for (const a of task.artifacts ?? []) {
    const dest = path.join(outDir, a.name);
    await mkdir(path.dirname(dest), {recursive: true});
    const hash = createHash('sha256');
    let size = 0;
    let out;
    try {
      out = await open(dest, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC |
                             constants.O_NOFOLLOW, 0o644);
      const put = async (chunk) => {
        hash.update(chunk);
        size += chunk.length;
        await out.write(chunk);
      };
      if (!a.uri) {
        await put(a.data ?? Buffer.alloc(0));
      } else {
        for await (const chunk of createReadStream(sourcePath(task, a, artifactsRoot))) {
          await put(chunk);
        }
      }
      await out.close();
      out = null;
      if (BigInt(size) !== BigInt(a.size) || hash.digest('hex') !== a.sha256) {
        throw new Error(`artifact ${a.name}: content does not match its size and sha256 ` +
                        `(changed or damaged since it was kept)`);
      }
    } catch (e) {
      if (out) await out.close();
      await rm(dest, {force: true});
      throw e;
    }
    written.push(dest);
  }
  return written;
}

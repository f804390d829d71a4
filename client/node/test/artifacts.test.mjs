// writeArtifacts: names checked before anything is written, uris bound to the task, sha256
// verified (the record is not trusted).

import assert from 'node:assert/strict';
import {createHash} from 'node:crypto';
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {test} from 'node:test';

import {writeArtifacts} from '../src/index.js';

const sha = (b) => createHash('sha256').update(b).digest('hex');

test('inline and kept artifacts are written', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tm-art-'));
  try {
    const kept = path.join(dir, 'store', 'T1', '2', 'sub');
    mkdirSync(kept, {recursive: true});
    writeFileSync(path.join(kept, 'big.bin'), Buffer.alloc(100, 'x'));
    const task = {id: 'T1', artifacts: [
      {name: 'a.txt', size: 2, sha256: sha('hi'), uri: '', data: Buffer.from('hi')},
      {name: 'sub/big.bin', size: 100, sha256: sha(Buffer.alloc(100, 'x')),
       uri: 'file:///elsewhere/T1/2/sub/big.bin', data: Buffer.alloc(0)},
    ]};
    const out = path.join(dir, 'out');
    const written = await writeArtifacts(task, out, {artifactsRoot: path.join(dir, 'store')});
    assert.deepEqual(written, [path.join(out, 'a.txt'), path.join(out, 'sub/big.bin')]);
    assert.equal(readFileSync(path.join(out, 'a.txt'), 'utf8'), 'hi');
    assert.equal(readFileSync(path.join(out, 'sub/big.bin')).length, 100);
  } finally {
    rmSync(dir, {recursive: true, force: true});
  }
});

test('a ../ name, a foreign uri and a wrong sha256 are refused', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tm-art-'));
  try {
    const out = path.join(dir, 'out');
    const hi = {size: 2, sha256: sha('hi'), uri: '', data: Buffer.from('hi')};
    await assert.rejects(
        writeArtifacts({id: 'T1', artifacts: [{name: 'ok.txt', ...hi},
                                              {name: '../escape.txt', ...hi}]}, out),
        /'\.\.' component/);
    assert.equal(existsSync(path.join(dir, 'escape.txt')), false);
    assert.equal(existsSync(path.join(out, 'ok.txt')), false);
    await assert.rejects(
        writeArtifacts({id: 'T1', artifacts: [{name: 'passwd', size: 1, sha256: '0'.repeat(64),
                                               uri: 'file:///etc/passwd', data: Buffer.alloc(0)}]},
                       out),
        /not under/);
    await assert.rejects(
        writeArtifacts({id: 'T1', artifacts: [{name: 'a.txt', ...hi, sha256: sha('no')}]}, out),
        /sha256/);
    assert.equal(existsSync(path.join(out, 'a.txt')), false);
  } finally {
    rmSync(dir, {recursive: true, force: true});
  }
});

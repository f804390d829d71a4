// types/index.d.ts is complete enough for the README's examples and a typed use of the API:
// `tsc --noEmit` (strict, checkJs) over test/types/usage.ts and examples/*.mjs passes.

import assert from 'node:assert/strict';
import {execFile} from 'node:child_process';
import {existsSync} from 'node:fs';
import {dirname, join} from 'node:path';
import {test} from 'node:test';
import {fileURLToPath} from 'node:url';
import {promisify} from 'node:util';

const nodeDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = join(nodeDir, 'node_modules', 'typescript', 'bin', 'tsc');

test('tsc --noEmit type-checks the examples and the typed API usage', {timeout: 240_000},
    async () => {
      assert.ok(existsSync(tsc), 'typescript is a devDependency: run scripts/setup.sh');
      const r = await promisify(execFile)(process.execPath,
          [tsc, '-p', join(nodeDir, 'test', 'types', 'tsconfig.json')],
          {cwd: nodeDir, timeout: 230_000}).catch((err) => err);
      assert.equal(r.code ?? 0, 0, `${r.stdout}${r.stderr}`);
    });

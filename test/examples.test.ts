// The examples run as written: the seed's ML inference pool and hybrid setup, end to end.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const examples = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'examples');

for (const example of ['mlInference.ts', 'hybrid.ts']) {
  test(`examples/${example} runs and exits 0`, () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', path.join(examples, example)], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /predictions/);
  });
}

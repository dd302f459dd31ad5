// The source layout holds to its table (scripts/layout.ts): every module sits in a part, imports
// only go down the layers, and README.md's layout and owner tables name what is there.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { forbiddenImports, importsOf, layoutTable, PARTS, partOf, REPO, sourceFiles, TABLE_END, TABLE_START } from '../scripts/layout.js';

const readme = readFileSync(path.join(REPO, 'README.md'), 'utf8');

test('every module under src/ and machines/ belongs to one part of the table', () => {
  const files = sourceFiles();
  assert.deepEqual(files.filter((file) => !partOf(file)), [], 'files in no part: add their folder (or, in src/ itself, the file) to PARTS in scripts/layout.ts');
  for (const part of PARTS) {
    for (const name of part.rootFiles ?? []) assert.ok(files.includes(`src/${name}`), `${part.name} lists src/${name}, which is not there`);
    assert.ok(files.some((file) => partOf(file) === part), `${part.name} holds no file`);
  }
  const grouped = PARTS.flatMap((part) => part.rootFiles ?? []);
  assert.equal(new Set(grouped).size, grouped.length, 'a file of src/ itself is in two groups');
});

test('a part may import only parts below it, so no two parts import each other', () => {
  PARTS.forEach((part, index) => {
    const below = PARTS.slice(0, index).map((lower) => lower.name);
    for (const name of part.mayImport) assert.ok(below.includes(name), `${part.name} may import ${name}, which is not listed before it`);
  });
});

test('every import between parts goes in a direction the table allows', () => {
  const files = sourceFiles();
  const outside = files.flatMap(importsOf).filter(({ to }) => !partOf(to));
  assert.deepEqual(outside.map(({ from, line, to }) => `${from}:${line} imports ${to}`), [], 'imports from src/ and machines/ stay within them');
  assert.deepEqual(forbiddenImports(files), []);
});

test("the README's layout table is the one the code gives (rewrite it: npx tsx scripts/layout.ts)", () => {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  assert.ok(start >= 0 && end > start, 'README.md has no layout table markers');
  assert.equal(readme.slice(start + TABLE_START.length, end).trim(), layoutTable());
});

/** The rows of the markdown table that follows `heading`, each as its cells. */
function tableAfter(heading: string): string[][] {
  const lines = readme.slice(readme.indexOf(heading)).split('\n');
  const first = lines.findIndex((line) => line.startsWith('|'));
  const rows: string[][] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(line.slice(1, -1).split(/(?<!\\)\|/).map((text) => text.trim()));
  }
  return rows;
}

const PATH = /`((?:src|machines|python|proto|scripts|test|examples|bench|deploy|docs)\/[\w./-]*\w)`/g;

test("the README's owner table names one existing module as each fact's owner", () => {
  const rows = tableAfter('### Who owns what');
  assert.ok(rows.length >= 10, 'the owner table was not found');
  for (const [fact, owner, readers] of rows) {
    const owners = [...owner.matchAll(PATH)].map((match) => match[1]);
    assert.equal(owners.length, 1, `"${fact}": the owner names ${owners.length} modules, not one`);
    const source = readFileSync(path.join(REPO, owners[0]), 'utf8');
    for (const [, name] of owner.matchAll(/`([A-Z]\w+)`/g)) {
      assert.match(source, new RegExp(`\\b(class|interface|type|const|function) ${name}\\b`), `"${fact}": ${name} is not defined in ${owners[0]}`);
    }
    for (const [, file] of [...owner.matchAll(PATH), ...readers.matchAll(PATH)]) assert.ok(existsSync(path.join(REPO, file)), `"${fact}" names ${file}, which is not there`);
  }
});

test('every file the README names is there', () => {
  const missing = [...new Set([...readme.matchAll(PATH)].map((match) => match[1]))].filter((file) => !existsSync(path.join(REPO, file)));
  assert.deepEqual(missing, []);
});

// `npm run machines:export`: writes each machine's configuration as JSON (machines/*.json, for
// Stately Studio's import) and redraws the worker machine's diagram in the README from it.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMachine } from 'xstate';
import { forkServerMachine, machineConfig, mermaidDiagram, poolMachine, supervisorMachine, workerMachine } from '../machines/index.js';

const repo = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
export const MACHINES = { worker: workerMachine, pool: poolMachine, supervisor: supervisorMachine, forkServer: forkServerMachine };
export const DIAGRAM_START = '<!-- worker machine: drawn by `npm run machines:export` -->';
export const DIAGRAM_END = '<!-- end of the worker machine -->';

export function machineJson(machine: (typeof MACHINES)[keyof typeof MACHINES]): string {
  return JSON.stringify(machineConfig(machine), null, 2) + '\n';
}

/** The README with its worker diagram drawn afresh. */
export function readmeWithDiagram(readme: string): string {
  const start = readme.indexOf(DIAGRAM_START);
  const end = readme.indexOf(DIAGRAM_END);
  if (start < 0 || end < start) throw new Error(`README.md lacks the diagram markers ${DIAGRAM_START} … ${DIAGRAM_END}`);
  // Drawn from the exported JSON itself, loaded back as a machine.
  const exported = createMachine(JSON.parse(machineJson(workerMachine)));
  const block = `${DIAGRAM_START}\n\`\`\`mermaid\n${mermaidDiagram(exported)}\`\`\`\n`;
  return readme.slice(0, start) + block + readme.slice(end);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const [name, machine] of Object.entries(MACHINES)) {
    const file = path.join(repo, 'machines', `${name}.json`);
    writeFileSync(file, machineJson(machine));
    console.log(`wrote ${path.relative(repo, file)}`);
  }
  const readmePath = path.join(repo, 'README.md');
  writeFileSync(readmePath, readmeWithDiagram(readFileSync(readmePath, 'utf8')));
  console.log('redrew the worker machine in README.md');
}

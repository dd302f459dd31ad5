#!/usr/bin/env node
// The `snakepit` command: `setup` makes the Python runtime environment in the consumer's
// project, `doctor` checks an interpreter for everything a worker needs.
import { parseArgs } from 'node:util';
import { doctor } from './cli/doctor.js';
import { setup } from './cli/setup.js';

const USAGE = `usage:
  npx snakepit setup [--grpc] [--requirements FILE]
      make <project>/.snakepit/venv with FILE's packages (and, with --grpc, grpcio for
      transport 'grpc' and bridge servers; the local lane needs only the standard library)
  npx snakepit doctor [--adapter module.Class] [--python-path DIR]...
      check the interpreter Snakepit would use, its packages, the bridge and an adapter`;

function main(argv: string[]): number {
  const [command, ...rest] = argv;
  const log = (line: string) => console.log(line);
  const cwd = process.cwd();
  try {
    if (command === 'setup') {
      const { values } = parseArgs({ args: rest, options: { requirements: { type: 'string' }, grpc: { type: 'boolean' } } });
      return setup({ requirements: values.requirements, grpc: values.grpc, cwd, log });
    }
    if (command === 'doctor') {
      const { values } = parseArgs({
        args: rest,
        options: { adapter: { type: 'string' }, 'python-path': { type: 'string', multiple: true } },
      });
      return doctor({ adapter: values.adapter, pythonPath: values['python-path'] ?? [], cwd, log });
    }
    if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
      console.log(USAGE);
      return command === undefined ? 1 : 0;
    }
    console.error(`snakepit: unknown command "${command}"\n${USAGE}`);
  } catch (error) {
    // parseArgs' own errors name the bad option; anything else is reported the same way.
    console.error(`snakepit ${command}: ${(error as Error).message}\n${USAGE}`);
  }
  return 1;
}

process.exitCode = main(process.argv.slice(2));

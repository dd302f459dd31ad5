#!/usr/bin/env node
// The `snakepit` command: `setup` makes the Python runtime environment in the consumer's
// project, `doctor` checks an interpreter for everything a worker needs, `types` writes an
// adapter's tools as a TypeScript interface.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { doctor } from './cli/doctor.js';
import { setup } from './cli/setup.js';
import { types } from './cli/types.js';
import { PACKAGE_ROOT } from './packageRoot.js';

const HELP = { help: { type: 'boolean', short: 'h' } } as const;

const COMMANDS = {
  setup: {
    options: { ...HELP, requirements: { type: 'string' }, grpc: { type: 'boolean' } },
    usage: `npx snakepit setup [--grpc] [--requirements FILE]
    Makes <project>/.snakepit/venv, the interpreter Snakepit then uses from this project, where
    \`import snakepit_bridge\` works (so plain pytest runs your adapters' tests).
      --requirements FILE  pip-install FILE's packages into it (your adapters' imports)
      --grpc               also grpcio, for transport 'grpc' and bridge servers
                           (the default local lane needs only the standard library)
    Run again with nothing changed, it only refreshes the bridge's path and bytecode.`,
  },
  doctor: {
    options: { ...HELP, adapter: { type: 'string' }, 'python-path': { type: 'string', multiple: true } },
    usage: `npx snakepit doctor [--adapter module.Class] [--python-path DIR]...
    Checks the interpreter Snakepit would use (and which rule chose it), its version, grpcio,
    NumPy, the bridge's import, the GIL and an adapter's import; prints the fix for each failure
    and exits 1 if any check failed.
      --adapter module.Class  import this adapter as a worker would
      --python-path DIR       a folder holding adapters (python.pythonPath); repeatable`,
  },
  types: {
    options: { ...HELP, adapter: { type: 'string' }, 'python-path': { type: 'string', multiple: true }, out: { type: 'string' } },
    usage: `npx snakepit types --adapter module.Class [--python-path DIR]... [--out FILE]
    Writes a TypeScript interface of the adapter's tools from their type hints (each tool's
    arguments, and its result or, for a generator, each chunk), for pit.tools<Interface>({ pool }).
    Imports the adapter's module with the interpreter Snakepit would use; does not create it.
      --adapter module.Class  the adapter, as a pool's adapter option names it
      --python-path DIR       a folder holding adapters (python.pythonPath); repeatable
      --out FILE              write it to FILE (.ts or .d.ts) instead of stdout`,
  },
} as const;

const USAGE = `usage: npx snakepit <command> [options]

  ${COMMANDS.setup.usage}

  ${COMMANDS.doctor.usage}

  ${COMMANDS.types.usage}

  npx snakepit <command> --help   this command's help
  npx snakepit --version          the installed snakepit's version`;

const version = () => (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

function main(argv: string[]): number {
  const [command, ...rest] = argv;
  const log = (line: string) => console.log(line);
  const cwd = process.cwd();
  try {
    if (command === 'setup') {
      const { values } = parseArgs({ args: rest, options: COMMANDS.setup.options });
      if (values.help) return help(COMMANDS.setup.usage);
      return setup({ requirements: values.requirements, grpc: values.grpc, cwd, log });
    }
    if (command === 'doctor') {
      const { values } = parseArgs({ args: rest, options: COMMANDS.doctor.options });
      if (values.help) return help(COMMANDS.doctor.usage);
      return doctor({ adapter: values.adapter, pythonPath: values['python-path'] ?? [], cwd, log });
    }
    if (command === 'types') {
      const { values } = parseArgs({ args: rest, options: COMMANDS.types.options });
      if (values.help) return help(COMMANDS.types.usage);
      const print = (text: string) => process.stdout.write(text);
      return types({ adapter: values.adapter, pythonPath: values['python-path'] ?? [], out: values.out, cwd, print, report: (line) => console.error(line) });
    }
    if (command === '--version' || command === '-v' || command === 'version') {
      console.log(version());
      return 0;
    }
    if (command === 'help' && rest[0] in COMMANDS) return help(COMMANDS[rest[0] as keyof typeof COMMANDS].usage);
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

function help(usage: string): number {
  console.log(`usage: ${usage}`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));

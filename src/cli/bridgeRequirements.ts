// What the bridge needs from an interpreter, read from the python/pyproject.toml the package
// ships, so `setup` installs and `doctor` checks exactly the bounds the bridge declares.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../packageRoot.js';

export interface Requirement {
  /** The distribution's name as pip knows it: `grpcio`. */
  name: string;
  /** The version bounds, possibly empty: `>=1.51,<2`. */
  specifier: string;
}

export interface BridgeRequirements {
  requiresPython: string;
  /** What every worker needs (none: the local lane runs on the standard library). */
  dependencies: Requirement[];
  /** The `grpc` extra: what transport 'grpc' and bridge servers need. */
  grpc: Requirement[];
}

export const PYPROJECT = path.join(PACKAGE_ROOT, 'python', 'pyproject.toml');

export function readBridgeRequirements(file: string = PYPROJECT): BridgeRequirements {
  const text = readFileSync(file, 'utf8');
  const project = tomlSection(text, 'project');
  const requiresPython = /^requires-python\s*=\s*"([^"]*)"/m.exec(project)?.[1] ?? '';
  return {
    requiresPython,
    dependencies: requirementList(project, 'dependencies'),
    grpc: requirementList(tomlSection(text, 'project.optional-dependencies'), 'grpc'),
  };
}

/** The requirements in the TOML array `key = [...]` of a table's body. */
function requirementList(body: string, key: string): Requirement[] {
  const list = new RegExp(`^${key}\\s*=\\s*\\[((?:\\s|#[^\\n]*|"[^"]*"|'[^']*'|,)*)\\]`, 'm').exec(body)?.[1] ?? '';
  return [...list.replace(/#[^\n]*/g, '').matchAll(/"([^"]+)"|'([^']+)'/g)].map((m) => parseRequirement(m[1] ?? m[2]));
}

/** `grpcio[extra] >= 1.51 ; python_version < "4"` → { name: 'grpcio', specifier: '>=1.51' } */
export function parseRequirement(text: string): Requirement {
  const withoutMarker = text.split(';')[0].trim();
  const match = /^([A-Za-z0-9._-]+)\s*(?:\[[^\]]*\])?\s*(.*)$/.exec(withoutMarker);
  if (!match) throw new Error(`cannot read the requirement "${text}" in ${PYPROJECT}`);
  return { name: match[1], specifier: match[2].replace(/\s+/g, '') };
}

/** The argument pip takes: `grpcio>=1.51,<2`. */
export const pipArgument = (r: Requirement) => r.name + r.specifier;

/**
 * Whether `version` meets every clause of a PEP 440 specifier, comparing release numbers
 * (`1.84.0rc1` counts as 1.84.0). Enough for the bounds a pyproject declares; `===` and
 * arbitrary local versions are not needed here.
 */
export function satisfies(version: string, specifier: string): boolean {
  const have = release(version);
  return specifier
    .split(',')
    .filter(Boolean)
    .every((clause) => {
      const m = /^(~=|==|!=|<=|>=|<|>)(.+)$/.exec(clause.trim());
      if (!m) return false;
      const [, op, wanted] = m;
      if (op === '==' || op === '!=') {
        const equal = wanted.endsWith('.*') ? startsWith(have, release(wanted.slice(0, -2))) : compare(have, release(wanted)) === 0;
        return op === '==' ? equal : !equal;
      }
      const order = compare(have, release(wanted));
      if (op === '~=') return order >= 0 && startsWith(have, release(wanted).slice(0, -1));
      return { '<': order < 0, '<=': order <= 0, '>': order > 0, '>=': order >= 0 }[op] ?? false;
    });
}

function release(version: string): number[] {
  return (/^\d+(?:\.\d+)*/.exec(version.trim())?.[0] ?? '0').split('.').map(Number);
}

function compare(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

const startsWith = (have: number[], prefix: number[]) => prefix.every((n, i) => (have[i] ?? 0) === n);

/** The body of one `[name]` table of a TOML file, up to the next table header. */
function tomlSection(text: string, name: string): string {
  const start = text.search(new RegExp(`^\\[${name.replaceAll('.', '\\.')}\\]\\s*$`, 'm'));
  if (start < 0) return '';
  const body = text.slice(start).split('\n').slice(1).join('\n');
  const next = body.search(/^\[/m);
  return next < 0 ? body : body.slice(0, next);
}

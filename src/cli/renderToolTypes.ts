// Renders what snakepit_bridge.tooltypes reads from an adapter's type hints as a TypeScript
// interface: a property per tool, `{ args; result }` or, for a generator tool, `{ args; chunk }`.
// A type reads differently as an argument (what may be sent) and as a result (what arrives):
// an int argument may be a BigInt, bytes go as any Uint8Array and arrive as a Buffer, an array
// goes as `{ dtype, shape, data }` or a typed array and arrives as the former.

/** A type as snakepit_bridge/tooltypes.py describes it. */
export type TypeTree =
  | { kind: 'number' | 'integer' | 'string' | 'boolean' | 'null' | 'bytes' | 'unknown' }
  | { kind: 'ndarray'; dtype: string | null }
  | { kind: 'array' | 'record'; of: TypeTree }
  | { kind: 'tuple'; items: TypeTree[] }
  | { kind: 'object'; fields: Field[] }
  | { kind: 'literal'; value: string | number | boolean }
  | { kind: 'union'; of: TypeTree[] };

export interface Field {
  name: string;
  type: TypeTree;
  optional: boolean;
}

export interface ToolDescription {
  name: string;
  description: string;
  streaming: boolean;
  params: Field[];
  /** The type of any other keyword (`**kwargs`), or null. */
  rest: TypeTree | null;
  /** The result, or for a generator tool each chunk. */
  result: TypeTree;
}

export interface AdapterDescription {
  adapter: string;
  tools: ToolDescription[];
  warnings: string[];
}

type Side = 'args' | 'result';

/** `CalcTools` for `calc.Calc`; a class already named `…Tools` keeps its name. */
export function interfaceName(adapter: string): string {
  const className = adapter.slice(adapter.lastIndexOf('.') + 1);
  return className.endsWith('Tools') ? className : `${className}Tools`;
}

export function renderToolTypes(described: AdapterDescription, command: string): string {
  const uses = new Set<string>();
  const body = described.tools.map((tool) => renderTool(tool, uses)).join('\n');
  const imports = [...uses].sort();
  return [
    `// The tools of ${described.adapter}, from their Python type hints, as written by`,
    `//   ${command}`,
    '// Run it again after changing the hints, rather than editing this file.',
    ...(imports.length > 0 ? [`import type { ${imports.join(', ')} } from 'snakepit';`] : []),
    '',
    `/** Use with \`pit.tools<${interfaceName(described.adapter)}>({ pool })\`: each tool's arguments, and its result or (a generator) each chunk. */`,
    `export interface ${interfaceName(described.adapter)} {`,
    body,
    '}',
    '',
  ].join('\n');
}

function renderTool(tool: ToolDescription, uses: Set<string>): string {
  const fields = tool.params.map((p) => field(p, 'args', uses));
  if (tool.rest) fields.push(`[key: string]: ${render(tool.rest, 'args', uses)}`);
  const args = fields.length > 0 ? `{ ${fields.join('; ')} }` : 'Record<string, never>';
  const out = `${tool.streaming ? 'chunk' : 'result'}: ${render(tool.result, 'result', uses)}`;
  const doc = tool.description ? `  /** ${tool.description.replace(/\s*\n\s*/g, ' ').replaceAll('*/', '*\\/')} */\n` : '';
  return `${doc}  ${key(tool.name)}: {\n    args: ${args};\n    ${out};\n  };`;
}

function field(f: Field, side: Side, uses: Set<string>): string {
  return `${key(f.name)}${f.optional ? '?' : ''}: ${render(f.type, side, uses)}`;
}

function render(type: TypeTree, side: Side, uses: Set<string>): string {
  switch (type.kind) {
    case 'number':
    case 'string':
    case 'boolean':
    case 'null':
    case 'unknown':
      return type.kind;
    case 'integer':
      return side === 'args' ? 'number | bigint' : 'number';
    case 'bytes':
      return side === 'args' ? 'Uint8Array' : 'Buffer';
    case 'ndarray': {
      const name = side === 'args' ? 'NdArrayArgument' : 'NdArray';
      uses.add(name);
      return type.dtype ? `${name}<${JSON.stringify(type.dtype)}>` : name;
    }
    case 'literal':
      return JSON.stringify(type.value);
    case 'array': {
      const item = render(type.of, side, uses);
      const compound = type.of.kind === 'union' || (side === 'args' && ['integer', 'array', 'tuple'].includes(type.of.kind));
      const list = `${compound ? `(${item})` : item}[]`;
      return side === 'args' ? `readonly ${list}` : list;
    }
    case 'tuple': {
      const items = `[${type.items.map((t) => render(t, side, uses)).join(', ')}]`;
      return side === 'args' ? `readonly ${items}` : items;
    }
    case 'record':
      return `Record<string, ${render(type.of, side, uses)}>`;
    case 'object':
      return type.fields.length > 0 ? `{ ${type.fields.map((f) => field(f, side, uses)).join('; ')} }` : 'Record<string, never>';
    case 'union':
      return [...new Set(type.of.map((t) => render(t, side, uses)))].join(' | ');
  }
}

/** A property name as TypeScript needs it: bare when it is an identifier, else quoted. */
function key(name: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(name) ? name : JSON.stringify(name);
}

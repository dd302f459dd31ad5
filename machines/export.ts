// The machines as plain JSON configurations (for Stately Studio, and for `createMachine` to load
// back) and the worker machine as a Mermaid state diagram for the README. Behaviour that lives in
// functions (inline assigns, dynamic params) has no JSON form: inline actions appear as
// "inline", dynamic params are left out; every state, event, target, guard and actor is there.
import type { AnyStateMachine } from 'xstate';

type Json = Record<string, unknown>;

interface NodeLike {
  id: string;
  key: string;
  type: string;
  states: Record<string, NodeLike>;
  initial?: { target: NodeLike[] };
  on?: Record<string, TransitionLike[]>;
  always?: TransitionLike[];
  entry: unknown[];
  exit: unknown[];
  invoke: { id: string; src: unknown }[];
}

interface TransitionLike {
  eventType: string;
  target?: readonly NodeLike[];
  guard?: unknown;
  actions: readonly unknown[];
  reenter?: boolean;
}

/** A machine's configuration as JSON that `createMachine` accepts. */
export function machineConfig(machine: AnyStateMachine): Json {
  return { id: machine.id, ...nodeConfig(machine.root as unknown as NodeLike) };
}

function nodeConfig(node: NodeLike): Json {
  const out: Json = {};
  if (node.type === 'final' || node.type === 'parallel') out.type = node.type;
  if (node.type === 'compound' && node.initial?.target[0]) out.initial = node.initial.target[0].key;
  const entry = node.entry.map(actionName).filter(Boolean);
  if (entry.length) out.entry = entry;
  const exit = node.exit.map(actionName).filter(Boolean);
  if (exit.length) out.exit = exit;
  if (node.invoke.length) out.invoke = node.invoke.map((i) => ({ id: i.id, src: typeof i.src === 'string' ? i.src : i.id }));
  const on: Json = {};
  for (const [event, transitions] of Object.entries(node.on ?? {})) on[event] = transitions.map(transitionConfig);
  if (Object.keys(on).length) out.on = on;
  if (node.always?.length) out.always = node.always.map(transitionConfig);
  const states = Object.entries(node.states);
  if (states.length) out.states = Object.fromEntries(states.map(([key, child]) => [key, nodeConfig(child)]));
  return out;
}

function transitionConfig(t: TransitionLike): Json {
  const out: Json = {};
  if (t.target?.length) out.target = t.target.map((n) => `#${n.id}`);
  const guard = typeof t.guard === 'string' ? t.guard : (t.guard as { type?: string } | undefined)?.type;
  if (guard) out.guard = guard;
  const actions = t.actions.map(actionName).filter(Boolean);
  if (actions.length) out.actions = actions;
  if (t.reenter) out.reenter = true;
  return out;
}

function actionName(action: unknown): unknown {
  if (typeof action === 'string') return action;
  if (action && typeof action === 'object' && typeof (action as { type?: unknown }).type === 'string') {
    const { type, params } = action as { type: string; params?: unknown };
    return params && typeof params === 'object' ? { type, params } : type;
  }
  return 'inline';
}

/**
 * A Mermaid state diagram of a machine: compound states as composites holding their children
 * and the transitions among them; events (or `[guard]` for eventless ones) on the arrows.
 */
export function mermaidDiagram(machine: AnyStateMachine): string {
  const root = machine.root as unknown as NodeLike;
  const name = (node: NodeLike) => node.id.split('.').slice(1).join('_') || node.key;
  const within = (node: NodeLike, parent: NodeLike) => node.id.startsWith(`${parent.id}.`);
  const lines = ['stateDiagram-v2'];
  const block = (parent: NodeLike, indent: string) => {
    if (parent.initial?.target[0]) lines.push(`${indent}[*] --> ${name(parent.initial.target[0])}`);
    for (const child of Object.values(parent.states)) {
      if (!Object.keys(child.states).length) continue;
      lines.push(`${indent}state ${name(child)} {`);
      block(child, indent + '  ');
      lines.push(`${indent}}`);
    }
    for (const child of Object.values(parent.states)) {
      if (child.type === 'final') lines.push(`${indent}${name(child)} --> [*]`);
      for (const [label, target] of arrows(child)) {
        // An arrow is drawn in the innermost block that holds both of its ends.
        if (parent !== root && !within(target, parent)) continue;
        lines.push(`${indent}${name(child)} --> ${name(target)}: ${label}`);
      }
      for (const grandchild of descendants(child)) {
        for (const [label, target] of arrows(grandchild)) {
          if (within(target, child) || (parent !== root && !within(target, parent))) continue;
          lines.push(`${indent}${name(grandchild)} --> ${name(target)}: ${label}`);
        }
      }
    }
  };
  block(root, '  ');
  return [...new Set(lines)].join('\n') + '\n';
}

function descendants(node: NodeLike): NodeLike[] {
  return Object.values(node.states).flatMap((child) => [child, ...descendants(child)]);
}

/** (label, target) of each transition leaving `node`. */
function arrows(node: NodeLike): [string, NodeLike][] {
  const out: [string, NodeLike][] = [];
  for (const [event, transitions] of Object.entries(node.on ?? {})) {
    const label = event.replace(/^xstate\.(done|error)\.actor\.(\w+)$/, '$2 $1');
    for (const t of transitions) for (const target of t.target ?? []) out.push([label, target]);
  }
  for (const t of node.always ?? []) {
    const guard = typeof t.guard === 'string' ? t.guard : (t.guard as { type?: string } | undefined)?.type;
    for (const target of t.target ?? []) out.push([guard ? `[${guard}]` : 'always', target]);
  }
  return out;
}

// Text made from what user code throws, safe to build and bounded in size. A thrown value may
// be anything — Object.create(null), a Proxy whose traps throw, an Error whose `name` getter or
// `toString` throws, a `message` that is an object: describing it must never throw in turn.
// Every text is cut to a budget (the Python side cuts its own the same way,
// python/snakepit_bridge/textbudget.py), so no message can outgrow the wire's frame limit.

/** The most UTF-8 bytes one text (a message, a stack) may take; past it, it is cut with a marker. */
export const TEXT_BUDGET_BYTES = 1 << 20;

export interface ThrownDescription {
  /** The error's name (`RangeError`), or `Error` when it has none that is a string. */
  type: string;
  message: string;
  stack: string;
}

/** What `thrown` says of itself, read without letting any of its code throw past here. */
export function describeThrown(thrown: unknown, budget = TEXT_BUDGET_BYTES): ThrownDescription {
  if (thrown === null || (typeof thrown !== 'object' && typeof thrown !== 'function')) {
    return { type: 'Error', message: cutText(attempt(() => String(thrown)) ?? 'a value that cannot be shown', budget), stack: '' };
  }
  const name = attempt(() => (thrown as { name?: unknown }).name);
  const message = attempt(() => (thrown as { message?: unknown }).message);
  const stack = attempt(() => (thrown as { stack?: unknown }).stack);
  return {
    type: typeof name === 'string' && name.length > 0 ? cutText(name, 256) : 'Error',
    message: cutText(typeof message === 'string' ? message : textOf(thrown), budget),
    stack: typeof stack === 'string' ? cutText(stack, budget) : '',
  };
}

/** `text` if its UTF-8 fits `budget` bytes, else its head and a marker, within `budget`. */
export function cutText(text: string, budget = TEXT_BUDGET_BYTES): string {
  if (text.length * 3 <= budget) return text; // a UTF-16 unit never takes more than 3 bytes
  const size = Buffer.byteLength(text);
  if (size <= budget) return text;
  const marker = ` …[cut by snakepit: ${size} bytes, over the ${budget}-byte budget]`;
  const room = Math.max(0, budget - Buffer.byteLength(marker));
  let head = Buffer.from(text.slice(0, room)).subarray(0, room).toString('utf8');
  // A character cut in two decodes as U+FFFD (3 bytes): drop it rather than pass the budget.
  if (Buffer.byteLength(head) > room) head = head.slice(0, -1);
  return head + marker;
}

/** A non-Error object's text: its own String(), unless that throws or says nothing. */
function textOf(thrown: object): string {
  const text = attempt(() => String(thrown));
  if (typeof text === 'string' && text !== '[object Object]') return text;
  return 'a thrown value that is not an Error and has no text of its own';
}

function attempt<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

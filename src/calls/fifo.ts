// A FIFO queue with O(1) push, shift and removal of any entry (a timed-out or aborted call),
// so a long backlog costs nothing extra per call.
interface Node<T> {
  value: T;
  prev: Node<T> | undefined;
  next: Node<T> | undefined;
}

export type FifoEntry<T> = Node<T>;

export class Fifo<T> {
  private head: Node<T> | undefined;
  private tail: Node<T> | undefined;
  size = 0;

  push(value: T): FifoEntry<T> {
    const node: Node<T> = { value, prev: this.tail, next: undefined };
    if (this.tail) this.tail.next = node;
    else this.head = node;
    this.tail = node;
    this.size++;
    return node;
  }

  /** Puts a value at the head: it is the next one out. */
  unshift(value: T): FifoEntry<T> {
    const node: Node<T> = { value, prev: undefined, next: this.head };
    if (this.head) this.head.prev = node;
    else this.tail = node;
    this.head = node;
    this.size++;
    return node;
  }

  /** The value that shift() would return, left in place. */
  peek(): T | undefined {
    return this.head?.value;
  }

  shift(): T | undefined {
    const node = this.head;
    if (!node) return undefined;
    this.remove(node);
    return node.value;
  }

  remove(node: FifoEntry<T>): void {
    if (node.prev) node.prev.next = node.next;
    else if (this.head === node) this.head = node.next;
    else return; // already removed
    if (node.next) node.next.prev = node.prev;
    else this.tail = node.prev;
    node.prev = node.next = undefined;
    this.size--;
  }

  drain(): T[] {
    const values: T[] = [];
    for (let value = this.shift(); value !== undefined; value = this.shift()) values.push(value);
    return values;
  }
}

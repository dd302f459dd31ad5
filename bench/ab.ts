import { Cell } from './peers/cells.js';
const keys = process.argv.slice(2) as never[];
const cells = [] as Cell[];
for (const k of keys) cells.push(await Cell.open(k));
const res = new Map<string, number[]>();
for (const c of cells) { res.set(c.key, []); await c.request({ type: 'seq', calls: 100, warmup: 5000 } as never, 'seq' as never); }
const measured = cells.slice(0, +(process.env.MEASURE ?? cells.length));
for (let r = 0; r < 30; r++) { const order = measured.slice(r % measured.length).concat(measured.slice(0, r % measured.length)); for (const c of order) { const x = (await c.request({ type: 'seq', calls: 100, warmup: 20 } as never, 'seq' as never)) as any; res.get(c.key)!.push(x.medianUs); } }
const med = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
console.log(measured.map((c) => `${c.key} ${med(res.get(c.key)!).toFixed(0)}`).join(' | '));
for (const c of cells) await c.close();

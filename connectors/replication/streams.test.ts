// interleave: several workers' items in one sequence, each worker's in order and up to its checkpoints at a
// time, each worker reading at most `queue` batches ahead of what was taken, and less under memory pressure.
import {describe, expect, it} from 'vitest';
import {interleave} from './streams.js';

type Item = {worker: number; unit: number; n: number; kind: 'batch' | 'checkpoint'};

/** Units of `batches` batches, each followed by its checkpoint; `made` counts the batches a worker has produced. */
function units(workers: number, perWorker: number, batches: number, made: number[]) {
  const next = Array.from({length: workers}, () => 0);
  return (worker: number) => {
    if (next[worker]! >= perWorker) return null;
    const unit = next[worker]!++;
    return (async function* () {
      for (let n = 0; n < batches; n++) {
        await new Promise((resolve) => setImmediate(resolve));
        made[worker]!++;
        yield {worker, unit, n, kind: 'batch'} as Item;
        yield {worker, unit, n, kind: 'checkpoint'} as Item;
      }
    })();
  };
}

describe('interleave', () => {
  it('yields every item once, each worker in its order, a batch always beside its checkpoint, workers in turn', async () => {
    const made = [0, 0, 0];
    const out: Item[] = [];
    for await (const item of interleave<Item>({workers: 3, nextUnit: units(3, 2, 5, made), queue: 2, isBatch: (i) => i.kind === 'batch', isCheckpoint: (i) => i.kind === 'checkpoint', mayReadAhead: () => true})) out.push(item);
    expect(out).toHaveLength(3 * 2 * 5 * 2);
    for (let i = 0; i < out.length; i += 2) expect([out[i]!.kind, out[i + 1]!.kind, out[i]!.worker === out[i + 1]!.worker]).toEqual(['batch', 'checkpoint', true]);
    for (const worker of [0, 1, 2]) {
      const mine = out.filter((item) => item.worker === worker && item.kind === 'batch').map((item) => item.unit * 10 + item.n);
      expect(mine).toEqual([0, 1, 2, 3, 4, 10, 11, 12, 13, 14]);
    }
    expect(new Set(out.slice(0, 12).map((item) => item.worker))).toEqual(new Set([0, 1, 2]));
  });

  it.each([
    [3, true, 3],
    [1, true, 1],
    [4, false, 1],
  ])('with queue %i (memory for more: %s) a worker holds at most %i batches not taken', async (queue, memory, most) => {
    const made = [0, 0];
    let taken = [0, 0];
    let held = 0;
    for await (const item of interleave<Item>({workers: 2, nextUnit: units(2, 1, 30, made), queue, isBatch: (i) => i.kind === 'batch', isCheckpoint: (i) => i.kind === 'checkpoint', mayReadAhead: () => memory})) {
      if (item.kind !== 'batch') continue;
      taken = taken.map((n, w) => (w === item.worker ? n + 1 : n));
      // a slow response: the workers run meanwhile
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
      held = Math.max(held, ...made.map((n, w) => n - taken[w]!));
    }
    expect(taken).toEqual([30, 30]);
    expect(held).toBe(most);
  });

  it("throws a worker's failure", async () => {
    const failing = (worker: number) =>
      worker === 1
        ? (async function* () {
            yield {worker, unit: 0, n: 0, kind: 'batch'} as Item;
            throw new Error('connection lost');
          })()
        : null;
    const run = async () => {
      for await (const _ of interleave<Item>({workers: 2, nextUnit: failing, queue: 1, isBatch: () => true, isCheckpoint: () => false, mayReadAhead: () => true})) void _;
    };
    await expect(run()).rejects.toThrow('connection lost');
  });
});

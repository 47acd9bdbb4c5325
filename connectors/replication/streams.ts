// Several streams of one call, interleaved into its one response: each worker takes units of work (a table,
// or a range of one) in order and runs them, reading ahead into a queue of its own; the call emits the
// queued items, one worker's in the order it produced them, workers taken in turn, a worker's items up to and
// including its next checkpoint at a time (so a batch and the checkpoint of its position are never parted
// by another worker's checkpoint, which would commit the rows without their position). A worker stops reading
// when `queue` of its batches wait (custom_queue_size) or when memory says so while one waits; it goes on
// as soon as the call has emitted one. Nothing here knows about rows or state: the items are the units' own.

export interface InterleaveOptions<T> {
  workers: number;
  /** the next unit for a worker, or null when none is left */
  nextUnit(worker: number): AsyncIterable<T> | null;
  /** batches a worker may hold that the call has not emitted */
  queue: number;
  /** whether an item counts against the queue (a batch of rows) */
  isBatch(item: T): boolean;
  /** whether an item ends a group: the worker's items up to it are emitted together */
  isCheckpoint(item: T): boolean;
  /** false when memory cannot hold another batch beside those waiting (a worker with none waiting reads anyway) */
  mayReadAhead(): boolean;
}

interface Worker<T> {
  /** items after the worker's last checkpoint */
  open: T[];
  /** groups ending at a checkpoint (or at the worker's end), ready to emit */
  items: T[][];
  batches: number;
  done: boolean;
  /** wakes the worker when the call has taken one of its items */
  wake: (() => void) | null;
}

/** Runs the workers and yields every item of every unit, each worker's in order. A worker's failure is thrown once seen. */
export async function* interleave<T>(options: InterleaveOptions<T>): AsyncGenerator<T> {
  const workers: Worker<T>[] = Array.from({length: options.workers}, () => ({open: [], items: [], batches: 0, done: false, wake: null}));
  let failure: {error: unknown} | null = null;
  let stopped = false;
  let notify: (() => void) | null = null;
  const signal = () => {
    const wake = notify;
    notify = null;
    wake?.();
  };

  const run = async (index: number) => {
    const worker = workers[index]!;
    try {
      for (let unit = options.nextUnit(index); unit && !stopped; unit = options.nextUnit(index)) {
        for await (const item of unit) {
          if (stopped) return;
          worker.open.push(item);
          if (options.isBatch(item)) worker.batches++;
          if (!options.isCheckpoint(item)) continue;
          worker.items.push(worker.open);
          worker.open = [];
          signal();
          while (!stopped && (worker.batches >= options.queue || (worker.batches > 0 && !options.mayReadAhead()))) {
            await new Promise<void>((resolve) => (worker.wake = resolve));
          }
        }
      }
    } catch (error) {
      // after the call stopped, a read whose connection was closed under it is no failure
      if (!stopped) failure ??= {error};
    } finally {
      if (worker.open.length) worker.items.push(worker.open);
      worker.open = [];
      worker.done = true;
      signal();
    }
  };
  const running = workers.map((_, index) => run(index));

  try {
    let turn = 0;
    for (;;) {
      if (failure) throw (failure as {error: unknown}).error;
      let taken = false;
      for (let i = 0; i < workers.length && !taken; i++) {
        const worker = workers[(turn + i) % workers.length]!;
        const group = worker.items.shift();
        if (group === undefined) continue;
        taken = true;
        turn = (turn + i + 1) % workers.length;
        for (const item of group) {
          if (options.isBatch(item)) {
            worker.batches--;
            const wake = worker.wake;
            worker.wake = null;
            wake?.();
          }
          yield item;
        }
      }
      if (taken) continue;
      if (workers.every((w) => w.done && !w.items.length)) break;
      await new Promise<void>((resolve) => (notify = resolve));
    }
    await Promise.all(running);
    if (failure) throw (failure as {error: unknown}).error;
  } finally {
    stopped = true;
    for (const worker of workers) {
      const wake = worker.wake;
      worker.wake = null;
      wake?.();
    }
    // workers still reading end when their connections close (the caller's clean-up); nothing waits for them
    void Promise.allSettled(running);
  }
}

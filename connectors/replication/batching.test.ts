// Batch sizing: the category's ceiling, clamped by the response, time and memory budgets, each decision
// naming what decided it.
import {describe, expect, it} from 'vitest';
import {CATEGORY_LIMITS, decideBatch, PROBE_BYTES, PROBE_ROWS, type BatchInputs} from './batching.js';
import {sizeCategory} from './discovery.js';
import {destinationTableName, prefixedTableName, snakeCase, uniqueNames} from './names.js';

const roomy: BatchInputs = {
  category: 'small', customRows: 0, bytesPerRow: 200, responseBytesLeft: 100 * 1024 * 1024, timeLeftMs: 60_000, msPerRow: 0.002,
  memoryHeadroomBytes: 1024 * 1024 * 1024, responseBytesHeld: 0, probe: false,
};

describe('decideBatch', () => {
  it('uses the size category: smaller batches for larger tables', () => {
    const small = decideBatch(roomy);
    const medium = decideBatch({...roomy, category: 'medium'});
    const large = decideBatch({...roomy, category: 'large'});
    expect(small).toEqual({rows: Math.min(CATEGORY_LIMITS.small.rows, Math.floor(CATEGORY_LIMITS.small.bytes / 200)), reason: 'category', memoryPressure: false});
    expect(medium.rows).toBeLessThan(small.rows);
    expect(large.rows).toBeLessThan(medium.rows);
  });

  it('turns bytes into rows with the measured width', () => {
    expect(decideBatch({...roomy, bytesPerRow: 2000}).rows).toBe(Math.floor(CATEGORY_LIMITS.small.bytes / 2000));
  });

  it('probes with a small first batch, unless the batch size is custom', () => {
    expect(decideBatch({...roomy, probe: true})).toMatchObject({rows: PROBE_ROWS, reason: 'probe'});
    expect(decideBatch({...roomy, probe: true, customRows: 5000})).toMatchObject({rows: 5000, reason: 'custom'});
  });

  it('bounds the probe by bytes too: rows of megabytes are probed a few at a time', () => {
    expect(decideBatch({...roomy, probe: true, bytesPerRow: 600 * 1024})).toMatchObject({rows: 1, reason: 'probe'});
    expect(decideBatch({...roomy, probe: true, bytesPerRow: 10_000})).toMatchObject({rows: Math.floor(PROBE_BYTES / 10_000), reason: 'probe'});
  });

  it('splits an adaptive batch at the pipeline size, so the response streams while the next batch is read', () => {
    expect(decideBatch({...roomy, pipelineBytes: 200 * 4000})).toEqual({rows: 4000, reason: 'pipeline', memoryPressure: false});
    // not when the category already asks for less, not over a probe, never over a custom size
    expect(decideBatch({...roomy, category: 'large', pipelineBytes: 8 * 1024 * 1024}).reason).toBe('category');
    expect(decideBatch({...roomy, probe: true, pipelineBytes: 200 * 4000})).toMatchObject({rows: PROBE_ROWS, reason: 'probe'});
    expect(decideBatch({...roomy, customRows: 50_000, pipelineBytes: 200 * 4000})).toMatchObject({rows: 50_000, reason: 'custom'});
    // the response left still wins when it is smaller
    expect(decideBatch({...roomy, pipelineBytes: 200 * 4000, responseBytesLeft: 200 * 300})).toMatchObject({rows: 300, reason: 'response_bytes'});
  });

  it('fits the response bytes left', () => {
    expect(decideBatch({...roomy, responseBytesLeft: 200 * 300})).toEqual({rows: 300, reason: 'response_bytes', memoryPressure: false});
    expect(decideBatch({...roomy, customRows: 10_000, responseBytesLeft: 200 * 300})).toMatchObject({rows: 300, reason: 'response_bytes'});
  });

  it('keeps one query to a quarter of the time left', () => {
    expect(decideBatch({...roomy, timeLeftMs: 1000, msPerRow: 0.1})).toMatchObject({rows: 2500, reason: 'deadline'});
  });

  it('shrinks under memory pressure, counting what the response already holds, and never below one row', () => {
    const squeezed = decideBatch({...roomy, memoryHeadroomBytes: 12 * 1024 * 1024});
    expect(squeezed.reason).toBe('memory');
    expect(squeezed.memoryPressure).toBe(true);
    expect(squeezed.rows).toBe(Math.floor((12 * 1024 * 1024) / (6 * 200)));
    expect(decideBatch({...roomy, memoryHeadroomBytes: 12 * 1024 * 1024, responseBytesHeld: 4 * 1024 * 1024}).rows).toBeLessThan(squeezed.rows);
    expect(decideBatch({...roomy, memoryHeadroomBytes: -1})).toEqual({rows: 1, reason: 'memory', memoryPressure: true});
  });
});

describe('CPU and disk pressure', () => {
  const base = {category: 'small' as const, customRows: 400, bytesPerRow: 100, responseBytesLeft: 1e9, timeLeftMs: 1e9, msPerRow: null, memoryHeadroomBytes: 1e12, responseBytesHeld: 0, probe: false};

  it('halves the batch under each pressure, saying which', () => {
    expect(decideBatch(base)).toEqual({rows: 400, reason: 'custom', memoryPressure: false});
    expect(decideBatch({...base, cpuPressure: true})).toEqual({rows: 200, reason: 'cpu', memoryPressure: false, shrunk: ['cpu']});
    expect(decideBatch({...base, diskPressure: true})).toEqual({rows: 200, reason: 'disk', memoryPressure: false, shrunk: ['disk']});
    expect(decideBatch({...base, cpuPressure: true, diskPressure: true})).toEqual({rows: 100, reason: 'disk', memoryPressure: false, shrunk: ['cpu', 'disk']});
    expect(decideBatch({...base, customRows: 1, cpuPressure: true, diskPressure: true}).rows).toBe(1);
  });

  it('leaves a tighter budget to decide', () => {
    expect(decideBatch({...base, cpuPressure: true, responseBytesLeft: 5_000})).toEqual({rows: 50, reason: 'response_bytes', memoryPressure: false, shrunk: ['cpu']});
  });
});

describe('size categories', () => {
  it('follows the original thresholds: small < 1M rows, medium 1M-50M, large > 50M', () => {
    expect([0, 999_999, 1_000_000, 50_000_000, 50_000_001].map(sizeCategory)).toEqual(['small', 'small', 'medium', 'medium', 'large']);
  });
});

describe('names', () => {
  it('folds source names to snake_case destinations', () => {
    expect(['Order', 'select', 'my table', 'OrderItems', 'HTTPRequests', 'Straße', '2023 sales', '"quoted"'].map(snakeCase)).toEqual([
      'order', 'select', 'my_table', 'order_items', 'http_requests', 'stra_e', '_2023_sales', 'quoted',
    ]);
    expect(destinationTableName('Sales Data', 'Order')).toBe('sales_data_order');
  });

  it('tells apart names that fold to the same destination, keeping reserved names free', () => {
    expect(uniqueNames(['Order', 'order', 'ORDER'], snakeCase)).toEqual(['order', 'order_2', 'order_3']);
    expect(uniqueNames(['Replication Runs', 'id'], snakeCase, ['replication_runs'])).toEqual(['replication_runs_2', 'id']);
  });

  it('names prefixed tables as the original connector did, in the prefix case', () => {
    expect(prefixedTableName('SOURCE_FIVETRAN_CONNECTOR', 'orders')).toBe('SOURCE_FIVETRAN_CONNECTOR_ORDERS');
    expect(prefixedTableName('SOURCE_', 'OrderItems')).toBe('SOURCE_ORDER_ITEMS');
    expect(prefixedTableName('src', 'my table')).toBe('src_my_table');
    expect(prefixedTableName('Src_', '2023 sales')).toBe('Src_2023_sales');
  });
});

import {afterEach, describe, expect, it, vi} from 'vitest';
import {Budget, limitsFromEnv, NOMINAL_FUNCTION_BASELINE_BYTES} from './budget.js';

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('Budget', () => {
  it('reads the deployment limits from the environment', () => {
    vi.stubEnv('FIVETRAN_RESPONSE_CAP_BYTES', '1000');
    vi.stubEnv('FUNCTION_TIMEOUT_SECONDS', '120');
    vi.stubEnv('FUNCTION_MEMORY_MB', '512');
    expect(limitsFromEnv()).toMatchObject({responseCapBytes: 1000, timeoutSeconds: 120, memoryMb: 512, reserveMs: 10_000});
  });

  it('refuses a limit that is not a positive number, naming it', () => {
    vi.stubEnv('FUNCTION_MEMORY_MB', 'lots');
    expect(() => limitsFromEnv()).toThrow('FUNCTION_MEMORY_MB=lots is not a positive number');
  });

  it('counts memory as the process RSS on Cloud Functions and as the call growth elsewhere', () => {
    vi.stubEnv('K_SERVICE', 'my-function');
    expect(limitsFromEnv().memoryAccounting).toBe('process');
    vi.stubEnv('K_SERVICE', '');
    vi.stubEnv('FUNCTION_TARGET', '');
    const limits = limitsFromEnv();
    expect(limits.memoryAccounting).toBe('call');
    const budget = new Budget(limits);
    const used = budget.memoryUsedBytes();
    expect(used).toBeGreaterThanOrEqual(NOMINAL_FUNCTION_BASELINE_BYTES);
    expect(used).toBeLessThan(process.memoryUsage.rss());
  });

  it('says which budget is spent: bytes, then the deadline, then memory', () => {
    let now = 0;
    const budget = new Budget(limitsFromEnv({responseCapBytes: 1000, timeoutSeconds: 10, reserveMs: 1000, memoryMb: 1024}), {now: () => now});
    expect(budget.exhausted()).toBeNull();
    budget.addBytes(900);
    expect(budget.bytesLeft()).toBe(100);
    expect(budget.exhausted()).toBeNull();
    expect(budget.exhausted(60)).toBe('response_bytes');
    now = 8_999;
    expect(budget.timeLeftMs()).toBe(1);
    now = 9_000;
    expect(budget.exhausted()).toBe('deadline');
    const tight = new Budget(limitsFromEnv({memoryMb: 1}));
    expect(tight.underMemoryPressure()).toBe(true);
    expect(tight.exhausted()).toBe('memory');
  });

  it('answers connectors net of the envelope: room before the stopping line, a due checkpoint, a batch aim', () => {
    const budget = new Budget(limitsFromEnv({responseCapBytes: 1000, timeoutSeconds: 10, reserveMs: 1000, memoryMb: 1024}));
    budget.setEnvelope(44, 0); // 256 of punctuation + 44 of state
    budget.addBytes(300);
    expect(budget.bytesLeft()).toBe(400);
    expect(budget.aimBytes()).toBe(375);
    expect(budget.aimBytes(0)).toBe(675);
    // 300 bytes of rows since the start: 300 more would reach 900 with the envelope, short of the 950 line
    expect(budget.roomFor()).toBe(true);
    expect(budget.shouldCheckpoint()).toBe(false);
    budget.checkpointed();
    budget.addBytes(200);
    // another 200 would reach 256 + 44 + 500 + 200 = 1000, past 950
    expect(budget.roomFor()).toBe(false);
    expect(budget.shouldCheckpoint()).toBe(true);
    expect(budget.spent()).toBeNull();
    expect(budget.spent(150)).toBe('response_bytes');
  });
});

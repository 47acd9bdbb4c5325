// Retries with exponential backoff and full jitter, for source calls that may fail transiently.

export interface RetryOptions {
  /** retries after the first attempt */
  retries: number;
  /** first delay in ms; doubles each attempt */
  baseDelayMs: number;
  maxDelayMs?: number;
  isRetriable: (error: unknown) => boolean;
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  signal?: AbortSignal;
  /** injectable for tests */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Delay before retry `attempt` (1-based): full jitter over an exponential ceiling. */
export function backoffDelay(attempt: number, baseDelayMs: number, maxDelayMs = 60_000, random = Math.random): number {
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const wait = options.sleep ?? sleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt > options.retries || !options.isRetriable(error) || options.signal?.aborted) throw error;
      const delay = backoffDelay(attempt, options.baseDelayMs, options.maxDelayMs, options.random);
      options.onRetry?.(error, attempt, delay);
      await wait(delay);
    }
  }
}

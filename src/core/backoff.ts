/** Retry delays for failed iterations: pure functions, no timers. */

/** How retry delays grow after consecutive failed iterations. */
export interface BackoffOptions {
  /** Cap of the first retry delay, in ms. */
  readonly initial: number;
  /** Largest cap any retry delay can have, in ms. */
  readonly max: number;
  /** How much the cap grows per consecutive failure (>= 1). */
  readonly factor: number;
}

/** The upper bound of the delay before retry number `attempt` (1-based). */
export function backoffCap(attempt: number, backoff: BackoffOptions): number {
  const grown = backoff.initial * Math.pow(backoff.factor, Math.max(0, attempt - 1));
  return Math.min(backoff.max, grown);
}

/**
 * The delay before retry number `attempt`, with full jitter: uniform in
 * `[0, cap]`, so that many replicas failing together do not retry together.
 * `random` returns a number in `[0, 1)`, like `Math.random`.
 */
export function nextDelay(
  attempt: number,
  backoff: BackoffOptions,
  random: () => number = Math.random,
): number {
  return Math.round(random() * backoffCap(attempt, backoff));
}

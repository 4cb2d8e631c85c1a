/**
 * Wraps a user's readiness check so that probes can call it freely: a
 * timeout (no answer in time is false), one in-flight call shared by
 * concurrent probes, and a short cache. Logs when the result changes, never
 * per probe.
 */
import { errorMessage, type Logger } from "../logger.js";
import { now, withTimeout } from "../time.js";

/** A readiness check: true when healthy. It may watch `signal`, aborted at its timeout. */
export type CheckFunction = (signal: AbortSignal) => boolean | Promise<boolean>;

/**
 * A named readiness check, as given to `LoopGroup` (bootstrap builds these from `@HealthCheck`).
 *
 * @example
 * new LoopGroup(loops, { healthChecks: [{ name: "database", check: () => db.ping() }] });
 */
export interface NamedHealthCheck {
  readonly name: string;
  readonly check: CheckFunction;
  /** ms; default 1_000. */
  readonly timeout?: number;
  /** ms; default 1_000. */
  readonly cacheTtl?: number;
}

const TIMED_OUT = Symbol("timed out");

export class CachedHealthCheck {
  private result: boolean | undefined;
  private resultAt = 0;
  private inFlight: Promise<boolean> | undefined;
  private cached: Promise<boolean> | undefined;
  /** Aborts the call in flight; aborting it from outside ends the wait at once. */
  private controller: AbortController | undefined;
  private cancelled = false;

  constructor(
    readonly name: string,
    private readonly check: CheckFunction,
    private readonly timeout: number,
    private readonly cacheTtl: number,
    private readonly logger: Logger,
  ) {}

  /** The last result, or undefined before the first answer. */
  get last(): boolean | undefined {
    return this.result;
  }

  /**
   * Ends the call in flight at once: its probes get false (503) instead of
   * waiting out the timeout, its timer is cleared, and the check's signal
   * aborts. Later calls answer false without calling the check. For shutdown.
   */
  cancel(): void {
    this.cancelled = true;
    this.controller?.abort(new DOMException("the app is shutting down", "AbortError"));
  }

  /** The check's result: fresh, cached, or shared with a call already under way. */
  evaluate(): Promise<boolean> {
    if (this.cancelled) return Promise.resolve(false);
    if (this.cached !== undefined && now() - this.resultAt < this.cacheTtl) return this.cached;
    this.inFlight ??= this.call().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async call(): Promise<boolean> {
    const controller = new AbortController();
    this.controller = controller;
    let ok = false;
    let why: string;
    try {
      const answer = await withTimeout<boolean | typeof TIMED_OUT>(
        Promise.resolve().then(() => this.check(controller.signal)),
        this.timeout,
        TIMED_OUT,
        controller,
      );
      ok = answer === true;
      why =
        answer === TIMED_OUT ? `no answer within ${this.timeout} ms` : `returned ${String(answer)}`;
    } catch (error) {
      why = `threw ${errorMessage(error)}`;
    }
    this.controller = undefined;
    if (this.cancelled) return false;
    if (ok !== this.result) {
      if (ok) {
        if (this.result === false)
          this.logger.info({ check: this.name }, "health check passes again");
      } else this.logger.warn({ check: this.name, reason: why }, "health check failed");
    }
    this.result = ok;
    this.resultAt = now();
    this.cached = Promise.resolve(ok);
    return ok;
  }
}

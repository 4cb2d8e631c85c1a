/**
 * The decorators. Each validates its arguments, records metadata and
 * returns; none starts anything. Misuse throws a TypeError at decoration
 * time that names the class and member.
 */
import { describe, messages } from "./errors.js";
import type { LoopContext } from "./loop-runner.js";
import {
  claimedBy,
  recordCheck,
  recordHealthPort,
  recordLoop,
  recordShutdownHook,
  recordStartHook,
  type AnyClass,
} from "./metadata.js";
import {
  checkHost,
  checkPort,
  resolveHealthCheckOptions,
  resolveLoopOptions,
  type HealthCheckOptions,
  type HealthPortOptions,
  type LoopOptions,
} from "./options.js";

/** A legacy (`experimentalDecorators`) method decorator for methods of type `M`. */
export type MethodDecoratorFor<M> = <T extends M>(
  target: object,
  propertyKey: string | symbol,
  descriptor: TypedPropertyDescriptor<T>,
) => void;

interface DecoratedMethod {
  target: AnyClass;
  method: string | symbol;
  where: string;
}

/** Checks that a method decorator was applied to an instance method, and not claimed twice. */
function instanceMethod(decorator: string, args: readonly unknown[]): DecoratedMethod {
  const [target, key, descriptor] = args as [unknown, unknown, PropertyDescriptor | undefined];
  const context = key as { kind?: unknown } | undefined;
  if (args.length === 2 && typeof context === "object" && context !== null && "kind" in context) {
    throw new TypeError(messages.standardDecorators(decorator));
  }
  const owner =
    typeof target === "function"
      ? (target as AnyClass)
      : (target as { constructor?: AnyClass })?.constructor;
  const where = `${owner?.name || "<anonymous class>"}.${String(key)}`;
  if (typeof target === "function")
    throw new TypeError(messages.notAMethod(decorator, where, "a static member"));
  if (typeof key === "number" || typeof descriptor === "number") {
    throw new TypeError(messages.notAMethod(decorator, where, "a parameter"));
  }
  if (typeof target !== "object" || target === null || owner === undefined) {
    throw new TypeError(messages.notAMethod(decorator, where, describe(target)));
  }
  if (descriptor === undefined)
    throw new TypeError(messages.notAMethod(decorator, where, "a property"));
  if (descriptor.get || descriptor.set)
    throw new TypeError(messages.notAMethod(decorator, where, "an accessor"));
  if (typeof descriptor.value !== "function") {
    throw new TypeError(messages.notAMethod(decorator, where, describe(descriptor.value)));
  }
  const method = key as string | symbol;
  const existing = claimedBy(owner, method);
  if (existing) throw new TypeError(messages.alreadyDecorated(decorator, where, existing));
  return { target: owner, method, where };
}

/**
 * Marks a method as one iteration of a worker loop. The framework calls it
 * again and again, with a {@link LoopContext}, until shutdown.
 *
 * @example
 * class Poller {
 *   \@Loop({ interval: 1_000 })
 *   async poll(ctx: LoopContext) { await fetchJobs({ signal: ctx.signal }); }
 * }
 */
export function Loop(options: LoopOptions = {}): MethodDecoratorFor<(ctx: LoopContext) => unknown> {
  return (...args: [object, string | symbol, PropertyDescriptor]) => {
    const { target, method, where } = instanceMethod("Loop", args);
    const resolved = resolveLoopOptions(options ?? {}, where, `@Loop() on ${where}`);
    const input = Object.freeze({
      ...options,
      backoff: options?.backoff && { ...options.backoff },
    });
    const nameGiven = options?.name !== undefined;
    recordLoop(target, { method, decorator: "Loop", options: resolved, input, nameGiven });
  };
}

/**
 * Marks a method to be awaited before any loop starts, in declaration order
 * (connect to a database, warm a cache). A throw aborts startup.
 *
 * @example
 * \@OnStart() async connect() { await this.db.connect(); }
 */
export function OnStart(): MethodDecoratorFor<() => unknown> {
  return (...args: [object, string | symbol, PropertyDescriptor]) => {
    const { target, method } = instanceMethod("OnStart", args);
    recordStartHook(target, { method, decorator: "OnStart" });
  };
}

/**
 * Marks a method to be awaited after every loop has stopped, within the
 * shutdown budget (close connections, flush buffers).
 *
 * @example
 * \@OnShutdown() async close() { await this.db.end(); }
 */
export function OnShutdown(): MethodDecoratorFor<() => unknown> {
  return (...args: [object, string | symbol, PropertyDescriptor]) => {
    const { target, method } = instanceMethod("OnShutdown", args);
    recordShutdownHook(target, { method, decorator: "OnShutdown" });
  };
}

/**
 * Marks a method as an extra readiness check. It returns `boolean` or
 * `Promise<boolean>` and receives an AbortSignal that aborts at its timeout.
 * A throw, a non-true result, or no answer within `timeout` counts as false.
 *
 * @example
 * \@HealthCheck({ name: "database", timeout: 500 })
 * async database(signal: AbortSignal) { return this.db.ping({ signal }); }
 */
export function HealthCheck(
  options: HealthCheckOptions = {},
): MethodDecoratorFor<(signal: AbortSignal) => boolean | Promise<boolean>> {
  return (...args: [object, string | symbol, PropertyDescriptor]) => {
    const { target, method, where } = instanceMethod("HealthCheck", args);
    const resolved = resolveHealthCheckOptions(options ?? {}, where, `@HealthCheck() on ${where}`);
    const nameGiven = options?.name !== undefined;
    recordCheck(target, { method, decorator: "HealthCheck", options: resolved, nameGiven });
  };
}

/**
 * Serves the health probes of this service on `port` (host default `0.0.0.0`).
 * The `healthPort` option of bootstrap and `HEALTH_PORT` take precedence.
 *
 * @example
 * \@HealthPort(8080)
 * class OrderWorker { ... }
 */
export function HealthPort(
  port: number,
  options: HealthPortOptions = {},
): (target: AnyClass) => void {
  return (...args: readonly unknown[]) => {
    const [target, context] = args;
    if (typeof context === "object" && context !== null && "kind" in context) {
      throw new TypeError(messages.standardDecorators("HealthPort"));
    }
    if (typeof target !== "function")
      throw new TypeError(messages.notAClass("HealthPort", describe(target)));
    const where = `@HealthPort() on class ${target.name}`;
    const checked = checkPort(port, where, "port");
    const host = options?.host === undefined ? undefined : checkHost(options.host, where, "host");
    if (!recordHealthPort(target as AnyClass, { port: checked, host })) {
      throw new TypeError(messages.classAlreadyDecorated("HealthPort", target.name));
    }
  };
}

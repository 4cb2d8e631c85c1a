/**
 * The decorators. Each validates its arguments, records metadata and
 * returns; none starts anything. Misuse throws a TypeError at decoration
 * time that names the class and member.
 */
import { describe, messages } from "../errors.js";
import type { LoopContext } from "./loop-context.js";
import {
  claimedBy,
  recordCheck,
  recordHealthPort,
  recordLoop,
  recordShutdownHook,
  recordStartHook,
  type AnyClass,
  type DeclarationHome,
  type StandardMetadata,
} from "./metadata.js";
import {
  resolveHealthCheckOptions,
  resolveHealthPortDeclaration,
  type HealthCheckOptions,
  type HealthPortOptions,
} from "../probes/index.js";
import { resolveLoopOptions, type LoopOptions } from "./loop-options.js";

/**
 * A method decorator for methods of type `M`, in both modes: TypeScript's
 * legacy `experimentalDecorators` (target, key, descriptor) and TC39 standard
 * decorators (value, context).
 */
export interface MethodDecoratorFor<M> {
  <T extends M>(
    target: object,
    propertyKey: string | symbol,
    descriptor: TypedPropertyDescriptor<T>,
  ): void;
  <This>(value: M, context: ClassMethodDecoratorContext<This>): void;
}

/** A class decorator in both modes. */
export interface ClassDecoratorFor {
  (target: AnyClass): void;
  (value: AnyClass, context: ClassDecoratorContext): void;
}

interface DecoratedMethod {
  /** Where the declaration is written: the class (legacy) or its context.metadata (standard). */
  home: DeclarationHome;
  method: string | symbol;
  where: string;
}

/** The context object of a TC39 standard decorator, as far as loopgroup reads it. */
interface StandardContext {
  readonly kind: string;
  readonly name: string | symbol | undefined;
  readonly static?: boolean;
  readonly private?: boolean;
  readonly metadata?: StandardMetadata;
}

/** Standard decorators receive `(value, context)`, and the context has a `kind`. */
function standardContext(args: readonly unknown[]): StandardContext | undefined {
  const context = args[1] as { kind?: unknown } | undefined;
  return args.length === 2 && typeof context === "object" && context !== null && "kind" in context
    ? (context as StandardContext)
    : undefined;
}

const kindFound: Record<string, string> = {
  method: "a method",
  field: "a property",
  accessor: "an accessor",
  getter: "an accessor",
  setter: "an accessor",
  class: "a class",
};

/**
 * A standard method decoration. The class is not defined yet when a method
 * decorator runs, so errors name the member alone.
 */
function standardMethod(decorator: string, context: StandardContext): DecoratedMethod {
  const where = String(context.name);
  if (context.kind !== "method") {
    throw new TypeError(
      messages.notAMethod(decorator, where, kindFound[context.kind] ?? context.kind),
    );
  }
  if (context.static) throw new TypeError(messages.notAMethod(decorator, where, "a static member"));
  if (context.private)
    throw new TypeError(messages.notAMethod(decorator, where, "a private method"));
  const home = context.metadata;
  if (typeof home !== "object" || home === null) {
    throw new TypeError(messages.noDecoratorMetadata(decorator, where));
  }
  const method = context.name as string | symbol;
  const existing = claimedBy(home, method);
  if (existing) throw new TypeError(messages.alreadyDecorated(decorator, where, existing));
  return { home, method, where };
}

/** Checks that a method decorator was applied to an instance method, and not claimed twice. */
function instanceMethod(decorator: string, args: readonly unknown[]): DecoratedMethod {
  const context = standardContext(args);
  if (context !== undefined) return standardMethod(decorator, context);
  const [target, key, descriptor] = args as [unknown, unknown, PropertyDescriptor | undefined];
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
  return { home: owner, method, where };
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
  return ((...args: unknown[]) => {
    const { home, method, where } = instanceMethod("Loop", args);
    const resolved = resolveLoopOptions(options ?? {}, where, `@Loop() on ${where}`);
    // Object.assign, not a spread: V8 gives every frozen spread copy a hidden class of its own.
    const input = Object.freeze(
      Object.assign({}, options, options?.backoff && { backoff: { ...options.backoff } }),
    );
    const nameGiven = options?.name !== undefined;
    recordLoop(home, { method, decorator: "Loop", options: resolved, input, nameGiven });
  }) as MethodDecoratorFor<(ctx: LoopContext) => unknown>;
}

/**
 * Marks a method to be awaited before any loop starts, in declaration order
 * (connect to a database, warm a cache). A throw aborts startup.
 *
 * @example
 * \@OnStart() async connect() { await this.db.connect(); }
 */
export function OnStart(): MethodDecoratorFor<() => unknown> {
  return ((...args: unknown[]) => {
    const { home, method } = instanceMethod("OnStart", args);
    recordStartHook(home, { method, decorator: "OnStart" });
  }) as MethodDecoratorFor<() => unknown>;
}

/**
 * Marks a method to be awaited after every loop has stopped, within the
 * shutdown budget (close connections, flush buffers).
 *
 * @example
 * \@OnShutdown() async close() { await this.db.end(); }
 */
export function OnShutdown(): MethodDecoratorFor<() => unknown> {
  return ((...args: unknown[]) => {
    const { home, method } = instanceMethod("OnShutdown", args);
    recordShutdownHook(home, { method, decorator: "OnShutdown" });
  }) as MethodDecoratorFor<() => unknown>;
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
  return ((...args: unknown[]) => {
    const { home, method, where } = instanceMethod("HealthCheck", args);
    const resolved = resolveHealthCheckOptions(options ?? {}, where, `@HealthCheck() on ${where}`);
    const nameGiven = options?.name !== undefined;
    recordCheck(home, { method, decorator: "HealthCheck", options: resolved, nameGiven });
  }) as MethodDecoratorFor<(signal: AbortSignal) => boolean | Promise<boolean>>;
}

/**
 * Serves the health probes of this service on `port` (host default `0.0.0.0`).
 * The `healthPort` option of bootstrap and `HEALTH_PORT` take precedence.
 *
 * @example
 * \@HealthPort(8080)
 * class OrderWorker { ... }
 */
export function HealthPort(port: number, options: HealthPortOptions = {}): ClassDecoratorFor {
  return (...args: unknown[]) => {
    const [target] = args;
    const context = standardContext(args);
    if (context !== undefined && context.kind !== "class") {
      throw new TypeError(
        messages.notAClass("HealthPort", kindFound[context.kind] ?? context.kind),
      );
    }
    if (typeof target !== "function")
      throw new TypeError(messages.notAClass("HealthPort", describe(target)));
    const className = (context?.name as string | undefined) ?? target.name;
    const where = `@HealthPort() on class ${className}`;
    const declaration = resolveHealthPortDeclaration(port, options, where);
    let home: DeclarationHome = target as AnyClass;
    if (context !== undefined) {
      if (typeof context.metadata !== "object" || context.metadata === null) {
        throw new TypeError(messages.noDecoratorMetadata("HealthPort", `class ${className}`));
      }
      home = context.metadata;
    }
    if (!recordHealthPort(home, declaration)) {
      throw new TypeError(messages.classAlreadyDecorated("HealthPort", className));
    }
  };
}

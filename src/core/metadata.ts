/**
 * The only module that knows where declarations live and calls `Reflect.*`.
 *
 * Metadata holds what a class declared, frozen at decoration time. Legacy
 * decorators (`experimentalDecorators`) write it with Reflect metadata on the
 * class; TC39 standard decorators write it into `context.metadata`, which the
 * compiler puts on the class as `Class[Symbol.metadata]`. Reading looks at
 * both. Keys are `Symbol.for(...)` so two installed copies of loopgroup see
 * each other's declarations; they are never exported.
 */
import type {} from "reflect-metadata"; // the global Reflect metadata types only
import type { ResolvedHealthCheckOptions } from "../probes/index.js";
import type { LoopOptions, ResolvedLoopOptions } from "./loop-options.js";

// The Reflect metadata API, installed by the first legacy decorator that
// writes: an app with standard decorators never loads it (import cost, issue
// 23). Loaded with require(): reflect-metadata is CommonJS, and Node's
// ESM-to-CommonJS wrapper costs more at cold start; it shares the CommonJS
// cache with any `import "reflect-metadata"` of the user's, so it runs once.
let reflectInstalled = false;
function installReflect(): void {
  if (reflectInstalled) return;
  process.getBuiltinModule("node:module").createRequire(import.meta.url)("reflect-metadata");
  reflectInstalled = true;
}

/** Reflect's metadata reader, when some copy of reflect-metadata installed it: else nothing was written. */
const hasReflectMetadata = (): boolean =>
  typeof (Reflect as { getOwnMetadata?: unknown }).getOwnMetadata === "function";

// Node 20 has no Symbol.metadata, and without it TypeScript gives standard
// decorators no context.metadata. Defined as esbuild's helpers fall back to,
// so every compiler's output finds the same symbol. Classes defined after
// `import "loopgroup"` carry their declarations.
if (typeof (Symbol as { metadata?: symbol }).metadata !== "symbol") {
  Object.defineProperty(Symbol, "metadata", { value: Symbol.for("Symbol.metadata") });
}
const METADATA = (Symbol as unknown as { metadata: symbol }).metadata;

const LOOPS = Symbol.for("loopgroup:loops");
const START_HOOKS = Symbol.for("loopgroup:on-start");
const SHUTDOWN_HOOKS = Symbol.for("loopgroup:on-shutdown");
const CHECKS = Symbol.for("loopgroup:health-checks");
const HEALTH_PORT = Symbol.for("loopgroup:health-port");
/** Per class: method -> the decorator that claimed it, to refuse a second one in O(1). */
const CLAIMS = Symbol.for("loopgroup:claims");

/** A class constructor as far as metadata is concerned. */
export type AnyClass = abstract new (...args: never[]) => object;

/** The `context.metadata` object a standard decorator receives: one per class, inheriting its base's. */
export type StandardMetadata = Record<PropertyKey, unknown>;

/**
 * Where one class's own declarations are written: the class itself (legacy
 * decorators, Reflect metadata) or its standard `context.metadata` object.
 */
export type DeclarationHome = AnyClass | StandardMetadata;

function ownGet<T>(home: DeclarationHome, key: symbol): T | undefined {
  if (typeof home === "function") {
    return hasReflectMetadata() ? (Reflect.getOwnMetadata(key, home) as T | undefined) : undefined;
  }
  // A subclass's metadata object inherits its base's: only its own entries are its declarations.
  return Object.hasOwn(home, key) ? (home[key] as T) : undefined;
}

function ownSet(home: DeclarationHome, key: symbol, value: unknown): void {
  if (typeof home === "function") {
    installReflect();
    Reflect.defineMetadata(key, value, home);
  } else Object.defineProperty(home, key, { value, writable: true, configurable: true });
}

/** The standard metadata object a class itself carries (not its base's), if any. */
function standardHome(target: AnyClass): StandardMetadata | undefined {
  if (!Object.hasOwn(target, METADATA)) return undefined;
  const metadata = (target as unknown as Record<symbol, unknown>)[METADATA];
  return typeof metadata === "object" && metadata !== null
    ? (metadata as StandardMetadata)
    : undefined;
}

/** Base of every declared member: which method, and which decorator claimed it. */
export interface MemberDeclaration {
  readonly method: string | symbol;
  readonly decorator: string;
}

/** A method declared with `@Loop()`. */
export interface LoopDeclaration extends MemberDeclaration {
  readonly options: ResolvedLoopOptions;
  /** The options as written in the decorator, for deploy-time overrides to merge into. */
  readonly input: Readonly<LoopOptions>;
  /** False when `options.name` is only the default, to be replaced by the bootstrapped class's name. */
  readonly nameGiven: boolean;
}

/** A method declared with `@OnStart()` or `@OnShutdown()`. */
export type HookDeclaration = MemberDeclaration;

/** A method declared with `@HealthCheck()`. */
export interface CheckDeclaration extends MemberDeclaration {
  readonly options: ResolvedHealthCheckOptions;
  /** False when `options.name` is only the default, to be replaced by the bootstrapped class's name. */
  readonly nameGiven: boolean;
}

/** What `@HealthPort()` declared. */
export interface HealthPortDeclaration {
  readonly port: number;
  readonly host: string | undefined;
  readonly thread?: boolean | undefined;
  readonly eventLoopStallTimeout?: number | undefined;
  readonly verbose?: "full" | "summary" | undefined;
}

const memberKeys = [LOOPS, START_HOOKS, SHUTDOWN_HOOKS, CHECKS];

/** What `target` itself declared under `key`, in either decorator mode. */
function ownList<T>(key: symbol, target: AnyClass): readonly T[] {
  const legacy = ownGet<readonly T[]>(target, key) ?? [];
  const standard = standardHome(target);
  return standard === undefined
    ? legacy
    : [...legacy, ...(ownGet<readonly T[]>(standard, key) ?? [])];
}

/**
 * Appends in place: a class with thousands of decorated methods must not copy
 * its list on every decoration. Entries are frozen; the list is only ever
 * handed out as a copy (see readChain).
 */
function append<T extends MemberDeclaration>(key: symbol, home: DeclarationHome, item: T): void {
  let claims = ownGet<Map<string | symbol, string>>(home, CLAIMS);
  if (claims === undefined) {
    claims = new Map();
    ownSet(home, CLAIMS, claims);
  }
  claims.set(item.method, item.decorator);
  const own = ownGet<T[]>(home, key);
  if (own === undefined) ownSet(home, key, [Object.freeze(item)]);
  else own.push(Object.freeze(item));
}

/** Classes from the base class down to `target`. */
function lineage(target: AnyClass): AnyClass[] {
  const chain: AnyClass[] = [];
  for (
    let c: unknown = target;
    typeof c === "function" && c !== Function.prototype;
    c = Object.getPrototypeOf(c)
  ) {
    chain.unshift(c as AnyClass);
  }
  return chain;
}

/** The methods `target` itself decorated, in either mode, with the decorator that claimed each. */
function claimsOf(target: AnyClass): Map<string | symbol, string> | undefined {
  const legacy = ownGet<Map<string | symbol, string>>(target, CLAIMS);
  const home = standardHome(target);
  const standard = home && ownGet<Map<string | symbol, string>>(home, CLAIMS);
  if (standard === undefined) return legacy;
  return legacy === undefined ? standard : new Map([...legacy, ...standard]);
}

/**
 * Declarations along the class chain, base first. A method a subclass
 * decorates again, with any loopgroup decorator, drops every declaration of
 * that method in its base classes: overriding a base `@Loop` with `@OnStart`
 * makes it a hook only.
 */
function readChains(target: AnyClass): Map<symbol, readonly MemberDeclaration[]> {
  const declaring = lineage(target).filter((c) => claimsOf(c) !== undefined);
  const only = declaring.length === 1 ? declaring[0] : undefined;
  // One declaring class in one mode (the usual case): its lists as they are, each method once
  // (a class claims a method once). Through Maps, 100 000 loops showed in the start time.
  if (
    only !== undefined &&
    (ownGet(only, CLAIMS) === undefined || standardHome(only) === undefined)
  ) {
    return new Map(memberKeys.map((key) => [key, ownList<MemberDeclaration>(key, only)]));
  }
  const byKey = new Map(
    memberKeys.map((key) => [key, new Map<string | symbol, MemberDeclaration>()]),
  );
  for (const c of lineage(target)) {
    const claims = claimsOf(c);
    if (claims === undefined) continue;
    for (const method of claims.keys()) for (const map of byKey.values()) map.delete(method);
    for (const [key, map] of byKey) {
      for (const item of ownList<MemberDeclaration>(key, c)) map.set(item.method, item);
    }
  }
  return new Map([...byKey].map(([key, map]) => [key, [...map.values()]]));
}

/** The decorator that already claimed `method` in this very class, if any. */
export function claimedBy(home: DeclarationHome, method: string | symbol): string | undefined {
  return ownGet<Map<string | symbol, string>>(home, CLAIMS)?.get(method);
}

/** Records a `@Loop()` method. */
export const recordLoop = (home: DeclarationHome, d: LoopDeclaration): void =>
  append(LOOPS, home, d);
/** Records an `@OnStart()` method. */
export const recordStartHook = (home: DeclarationHome, d: HookDeclaration): void =>
  append(START_HOOKS, home, d);
/** Records an `@OnShutdown()` method. */
export const recordShutdownHook = (home: DeclarationHome, d: HookDeclaration): void =>
  append(SHUTDOWN_HOOKS, home, d);
/** Records a `@HealthCheck()` method. */
export const recordCheck = (home: DeclarationHome, d: CheckDeclaration): void =>
  append(CHECKS, home, d);

/** Records `@HealthPort()`; returns false when the class already has one. */
export function recordHealthPort(home: DeclarationHome, d: HealthPortDeclaration): boolean {
  if (ownGet(home, HEALTH_PORT) !== undefined) return false;
  ownSet(home, HEALTH_PORT, Object.freeze({ ...d }));
  return true;
}

/** Everything a class (with its base classes) declared. */
export interface ServiceDeclaration {
  readonly loops: readonly LoopDeclaration[];
  readonly startHooks: readonly HookDeclaration[];
  readonly shutdownHooks: readonly HookDeclaration[];
  readonly checks: readonly CheckDeclaration[];
  readonly healthPort: HealthPortDeclaration | undefined;
}

/** Reads what `target` and its base classes declared. Starts nothing. */
export function readDeclaration(target: AnyClass): ServiceDeclaration {
  const chains = readChains(target);
  const list = <T>(key: symbol): readonly T[] => [...(chains.get(key) ?? [])] as T[];
  return {
    loops: list<LoopDeclaration>(LOOPS),
    startHooks: list<HookDeclaration>(START_HOOKS),
    shutdownHooks: list<HookDeclaration>(SHUTDOWN_HOOKS),
    checks: list<CheckDeclaration>(CHECKS),
    healthPort: inheritedHealthPort(target),
  };
}

/** The nearest `@HealthPort()` along the class chain, in either mode. */
function inheritedHealthPort(target: AnyClass): HealthPortDeclaration | undefined {
  for (const c of lineage(target).reverse()) {
    const home = standardHome(c);
    const found =
      ownGet<HealthPortDeclaration>(c, HEALTH_PORT) ??
      (home && ownGet<HealthPortDeclaration>(home, HEALTH_PORT));
    if (found !== undefined) return found;
  }
  return undefined;
}

/** True when `target` or a base class carries any loopgroup declaration. */
export function isDeclared(target: AnyClass): boolean {
  return lineage(target).some((c) => {
    const home = standardHome(c);
    return [...memberKeys, HEALTH_PORT].some(
      (key) =>
        ownGet(c, key) !== undefined || (home !== undefined && ownGet(home, key) !== undefined),
    );
  });
}

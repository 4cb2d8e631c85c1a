/**
 * The only module that knows metadata keys or calls `Reflect.*`.
 *
 * Metadata holds what a class declared, frozen at decoration time. Keys are
 * `Symbol.for(...)` so two installed copies of loopgroup see each other's
 * declarations; they are never exported.
 */
import { createRequire } from "node:module";
import type {} from "reflect-metadata"; // the global Reflect metadata types only
import type { LoopOptions, ResolvedHealthCheckOptions, ResolvedLoopOptions } from "./options.js";

// Installs the Reflect metadata API. Loaded with require(): reflect-metadata is
// CommonJS, and going through Node's ESM-to-CommonJS wrapper costs about 6 ms
// more at cold start (docs/benchmarks.md). It shares the CommonJS cache with
// any `import "reflect-metadata"` of the user's, so it runs once.
createRequire(import.meta.url)("reflect-metadata");

const LOOPS = Symbol.for("loopgroup:loops");
const START_HOOKS = Symbol.for("loopgroup:on-start");
const SHUTDOWN_HOOKS = Symbol.for("loopgroup:on-shutdown");
const CHECKS = Symbol.for("loopgroup:health-checks");
const HEALTH_PORT = Symbol.for("loopgroup:health-port");
/** Per class: method -> the decorator that claimed it, to refuse a second one in O(1). */
const CLAIMS = Symbol.for("loopgroup:claims");

/** A class constructor as far as metadata is concerned. */
export type AnyClass = abstract new (...args: never[]) => object;

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
}

const memberKeys = [LOOPS, START_HOOKS, SHUTDOWN_HOOKS, CHECKS];

function ownList<T>(key: symbol, target: AnyClass): readonly T[] {
  return (Reflect.getOwnMetadata(key, target) as readonly T[] | undefined) ?? [];
}

/**
 * Appends in place: a class with thousands of decorated methods must not copy
 * its list on every decoration. Entries are frozen; the list is only ever
 * handed out as a copy (see readChain).
 */
function append<T extends MemberDeclaration>(key: symbol, target: AnyClass, item: T): void {
  let claims = Reflect.getOwnMetadata(CLAIMS, target) as Map<string | symbol, string> | undefined;
  if (claims === undefined) {
    claims = new Map();
    Reflect.defineMetadata(CLAIMS, claims, target);
  }
  claims.set(item.method, item.decorator);
  const own = Reflect.getOwnMetadata(key, target) as T[] | undefined;
  if (own === undefined) Reflect.defineMetadata(key, [Object.freeze(item)], target);
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

function claimsOf(target: AnyClass): Map<string | symbol, string> | undefined {
  return Reflect.getOwnMetadata(CLAIMS, target) as Map<string | symbol, string> | undefined;
}

/**
 * Declarations along the class chain, base first. A method a subclass
 * decorates again, with any loopgroup decorator, drops every declaration of
 * that method in its base classes: overriding a base `@Loop` with `@OnStart`
 * makes it a hook only.
 */
function readChains(target: AnyClass): Map<symbol, Map<string | symbol, MemberDeclaration>> {
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
  return byKey;
}

/** The decorator that already claimed `method` in this very class, if any. */
export function claimedBy(target: AnyClass, method: string | symbol): string | undefined {
  return claimsOf(target)?.get(method);
}

/** Records a `@Loop()` method. */
export const recordLoop = (target: AnyClass, d: LoopDeclaration): void => append(LOOPS, target, d);
/** Records an `@OnStart()` method. */
export const recordStartHook = (target: AnyClass, d: HookDeclaration): void =>
  append(START_HOOKS, target, d);
/** Records an `@OnShutdown()` method. */
export const recordShutdownHook = (target: AnyClass, d: HookDeclaration): void =>
  append(SHUTDOWN_HOOKS, target, d);
/** Records a `@HealthCheck()` method. */
export const recordCheck = (target: AnyClass, d: CheckDeclaration): void =>
  append(CHECKS, target, d);

/** Records `@HealthPort()`; returns false when the class already has one. */
export function recordHealthPort(target: AnyClass, d: HealthPortDeclaration): boolean {
  if (Reflect.hasOwnMetadata(HEALTH_PORT, target)) return false;
  Reflect.defineMetadata(HEALTH_PORT, Object.freeze({ ...d }), target);
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
  const list = <T>(key: symbol): readonly T[] => [...(chains.get(key)?.values() ?? [])] as T[];
  return {
    loops: list<LoopDeclaration>(LOOPS),
    startHooks: list<HookDeclaration>(START_HOOKS),
    shutdownHooks: list<HookDeclaration>(SHUTDOWN_HOOKS),
    checks: list<CheckDeclaration>(CHECKS),
    healthPort: Reflect.getMetadata(HEALTH_PORT, target) as HealthPortDeclaration | undefined,
  };
}

/** True when `target` or a base class carries any loopgroup declaration. */
export function isDeclared(target: AnyClass): boolean {
  return lineage(target).some(
    (c) =>
      memberKeys.some((key) => Reflect.hasOwnMetadata(key, c)) ||
      Reflect.hasOwnMetadata(HEALTH_PORT, c),
  );
}

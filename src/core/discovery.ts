/**
 * Discovery, the explorer of nestjs/schedule's model: turns the services
 * given to `bootstrap()` into instances with their declarations (read through
 * metadata.ts), and names what they declare after the class bootstrapped.
 * It starts nothing.
 */
import { ConfigurationError, messages } from "../errors.js";
import type { DeclaredHealthPort } from "../probes/index.js";
import { isDeclared, readDeclaration, type AnyClass, type ServiceDeclaration } from "./metadata.js";

/** A class whose instances are services: constructed by bootstrap with `new`. */
export type ServiceClass = new () => object;

/** A service: a decorated class, or an instance of one (to pass dependencies yourself). */
export type Service = ServiceClass | object;

/** A service found: its instance, its class's name and what the class declared. */
export interface Discovered {
  readonly instance: object;
  readonly className: string;
  readonly declaration: ServiceDeclaration;
}

/** A declared method, called with `this` bound to its instance. */
export type Method = (this: object, ...args: unknown[]) => unknown;

/** The method of `instance` named `method`, as declared. */
export function methodOf(instance: object, method: string | symbol): Method {
  return (instance as Record<string | symbol, Method>)[method] as Method;
}

/** Instances and declarations of the services; a ConfigurationError for anything that is not one. */
export function discover(services: Service | readonly Service[]): Discovered[] {
  const list: readonly unknown[] = Array.isArray(services) ? services : [services];
  if (list.length === 0) throw new ConfigurationError(messages.noServices());
  return list.map((service) => {
    let target: AnyClass;
    let instance: object;
    if (typeof service === "function") {
      target = service as AnyClass;
      if (!isDeclared(target))
        throw new ConfigurationError(messages.noLoops(target.name || "<anonymous>"));
      if (service.length > 0)
        throw new ConfigurationError(messages.constructorArguments(target.name, service.length));
      instance = new (service as ServiceClass)();
    } else if (
      typeof service === "object" &&
      service !== null &&
      typeof service.constructor === "function"
    ) {
      target = service.constructor as AnyClass;
      if (!isDeclared(target)) throw new ConfigurationError(messages.notAService(service));
      instance = service;
    } else {
      throw new ConfigurationError(messages.notAService(service));
    }
    return { instance, className: target.name, declaration: readDeclaration(target) };
  });
}

/** What the services declared with `@HealthPort`. */
export function declaredHealthPorts(found: readonly Discovered[]): DeclaredHealthPort[] {
  return found.flatMap(({ className, declaration }) =>
    declaration.healthPort === undefined ? [] : [{ ...declaration.healthPort, owner: className }],
  );
}

/**
 * Refuses two items of one name, naming both places. `where` is asked only
 * for the two that clash: with 100 000 loops, a place string per loop showed in the start time.
 */
export function uniqueOrThrow<T>(
  kind: string,
  items: readonly T[],
  name: (item: T) => string,
  where: (item: T) => string,
): void {
  const seen = new Map<string, T>();
  for (const item of items) {
    const key = name(item);
    const first = seen.get(key);
    if (first !== undefined) {
      throw new ConfigurationError(messages.duplicateName(kind, key, [where(first), where(item)]));
    }
    seen.set(key, item);
  }
}

/** `ClassName.member`: named after the class bootstrapped, not the base class that declared it. */
export function where(className: string, method: string | symbol): string {
  return `${className}.${String(method)}`;
}

/**
 * A declaration's name: the one given in its options, else `ClassName.member`
 * (the declared string itself when it already reads so, as it does unless the
 * class bootstrapped inherited the member: no new string per loop).
 */
export function nameOf(
  className: string,
  d: { method: string | symbol; nameGiven: boolean; options: { name: string } },
): string {
  if (d.nameGiven) return d.options.name;
  const declared = d.options.name;
  const member = String(d.method);
  return declared.length === className.length + 1 + member.length &&
    declared.startsWith(className) &&
    declared.charCodeAt(className.length) === 46 && // "."
    declared.endsWith(member)
    ? declared
    : where(className, d.method);
}

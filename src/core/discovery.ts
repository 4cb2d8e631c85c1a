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

/** Refuses two entries of one name, naming both places. */
export function uniqueOrThrow(
  kind: string,
  entries: readonly { name: string; where: string }[],
): void {
  const seen = new Map<string, string>();
  for (const { name, where } of entries) {
    const first = seen.get(name);
    if (first !== undefined) {
      throw new ConfigurationError(messages.duplicateName(kind, name, [first, where]));
    }
    seen.set(name, where);
  }
}

/** `ClassName.member`: named after the class bootstrapped, not the base class that declared it. */
export function where(className: string, method: string | symbol): string {
  return `${className}.${String(method)}`;
}

/** A declaration's name: the one given in its options, else `ClassName.member`. */
export function nameOf(
  className: string,
  d: { method: string | symbol; nameGiven: boolean; options: { name: string } },
): string {
  return d.nameGiven ? d.options.name : where(className, d.method);
}

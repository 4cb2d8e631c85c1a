// Applies loopgroup's decorators by hand, in either mode, the way the compilers do:
// legacy (experimentalDecorators) calls (target, key, descriptor) bottom-up; TC39
// standard calls (value, context) with a context.metadata object that inherits
// the base class's, and the class carries it as Class[Symbol.metadata].
import type { AnyClass } from "../../src/core/metadata.js";

export type Mode = "legacy" | "standard";
export const modes: readonly Mode[] = ["legacy", "standard"];

type Kind = "method" | "static" | "private" | "field" | "getter";

export interface Member {
  readonly name: string;
  readonly kind?: Kind;
  /** Written top to bottom, as in source; applied bottom-up. */
  readonly decorators: readonly unknown[];
  readonly body?: (...args: never[]) => unknown;
}

export interface ClassSpec {
  readonly base?: AnyClass;
  readonly members?: readonly Member[];
  readonly decorators?: readonly unknown[];
}

const METADATA = (Symbol as unknown as { metadata: symbol }).metadata;

type Call = (...args: unknown[]) => unknown;

/** Defines class `name` with its members decorated as a compiler in `mode` would. */
export function defineClass(mode: Mode, name: string, spec: ClassSpec = {}): AnyClass {
  const Base = spec.base as (new () => object) | undefined;
  const created = Base ? class extends Base {} : class {};
  Object.defineProperty(created, "name", { value: name });
  const proto = created.prototype as Record<string, unknown>;
  const metadata: Record<PropertyKey, unknown> = Object.create(
    (Base as unknown as Record<symbol, object> | undefined)?.[METADATA] ?? null,
  ) as Record<PropertyKey, unknown>;
  for (const member of spec.members ?? []) {
    const kind = member.kind ?? "method";
    const body = member.body ?? (() => undefined);
    const host: Record<string, unknown> =
      kind === "static" ? (created as unknown as Record<string, unknown>) : proto;
    let descriptor: PropertyDescriptor | undefined;
    if (kind === "getter") descriptor = { get: body, configurable: true };
    else if (kind !== "field") descriptor = { value: body, writable: true, configurable: true };
    if (descriptor) Object.defineProperty(host, member.name, descriptor);
    for (const decorator of [...member.decorators].reverse()) {
      if (mode === "legacy") {
        (decorator as Call)(host, member.name, descriptor);
      } else {
        const context = {
          kind: kind === "static" || kind === "private" ? "method" : kind,
          name: kind === "private" ? `#${member.name}` : member.name,
          static: kind === "static",
          private: kind === "private",
          metadata,
          access: { get: (o: Record<string, unknown>) => o[member.name] },
          addInitializer: () => undefined,
        };
        (decorator as Call)(kind === "field" ? undefined : body, context);
      }
    }
  }
  for (const decorator of [...(spec.decorators ?? [])].reverse()) {
    if (mode === "legacy") (decorator as Call)(created);
    else
      (decorator as Call)(created, {
        kind: "class",
        name,
        metadata,
        addInitializer: () => undefined,
      });
  }
  if (mode === "standard") {
    Object.defineProperty(created, METADATA, {
      value: metadata,
      configurable: true,
      writable: true,
    });
  }
  return created;
}

/** How an error names a member: with its class in legacy mode, alone in standard mode. */
export function member(mode: Mode, className: string, name: string): string {
  return mode === "legacy" ? `${className}.${name}` : name;
}

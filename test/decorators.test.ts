import { expect } from "chai";
import {
  HealthCheck,
  HealthPort,
  Loop,
  OnShutdown,
  OnStart,
  type LoopContext,
} from "../src/index.js";
import { isDeclared, readDeclaration } from "../src/metadata.js";

/** Applies a method decorator by hand, as TypeScript would. */
function applyTo(
  decorator: unknown,
  target: object,
  key: string | symbol,
  descriptor?: PropertyDescriptor,
): void {
  (decorator as (t: object, k: string | symbol, d?: PropertyDescriptor) => void)(
    target,
    key,
    descriptor,
  );
}

describe("decorators", () => {
  it("record loops, hooks, checks and the health port as declared", () => {
    @HealthPort(9090, { host: "127.0.0.1" })
    class Worker {
      @OnStart() connect(): void {}
      @Loop({ interval: 500, name: "poll" }) poll(_ctx: LoopContext): void {}
      @Loop() drain(): void {}
      @HealthCheck({ name: "db", timeout: 200 }) db(): boolean {
        return true;
      }
      @OnShutdown() close(): void {}
    }
    const declared = readDeclaration(Worker);
    expect(declared.loops.map((l) => [l.method, l.options.name, l.options.interval])).to.deep.equal(
      [
        ["poll", "poll", 500],
        ["drain", "Worker.drain", 0],
      ],
    );
    expect(declared.startHooks.map((h) => h.method)).to.deep.equal(["connect"]);
    expect(declared.shutdownHooks.map((h) => h.method)).to.deep.equal(["close"]);
    expect(declared.checks.map((c) => c.options)).to.deep.equal([
      { name: "db", timeout: 200, cacheTtl: 1_000 },
    ]);
    expect(declared.healthPort).to.deep.equal({ port: 9090, host: "127.0.0.1" });
    expect(Object.isFrozen(declared.loops[0])).to.equal(true);
  });

  it("start nothing: decorating a class calls none of its methods", () => {
    let calls = 0;
    class Quiet {
      @Loop() work(): void {
        calls += 1;
      }
    }
    expect(isDeclared(Quiet)).to.equal(true);
    expect(calls).to.equal(0);
  });

  it("inherit declarations, a subclass's own declaration replacing its base's for the same method", () => {
    class Base {
      @Loop({ interval: 1 }) tick(): void {}
      @Loop() other(): void {}
    }
    class Derived extends Base {
      @Loop({ interval: 2 }) override tick(): void {}
    }
    expect(readDeclaration(Derived).loops.map((l) => [l.method, l.options.interval])).to.deep.equal(
      [
        ["other", 0],
        ["tick", 2],
      ],
    );
    expect(readDeclaration(Base).loops.map((l) => l.options.interval)).to.deep.equal([1, 0]);
  });

  it("reject a method decorated twice, naming class and member", () => {
    expect(() => {
      class Twice {
        @Loop() @Loop() work(): void {}
      }
      return Twice;
    }).to.throw(TypeError, "@Loop() on Twice.work: the method is already decorated with @Loop()");
    expect(() => {
      class Mixed {
        @OnStart() @Loop() work(): void {}
      }
      return Mixed;
    }).to.throw(
      TypeError,
      /@OnStart\(\) on Mixed.work: the method is already decorated with @Loop\(\)/,
    );
  });

  it("reject the wrong kind of member", () => {
    class Target {
      static staticWork(): void {}
      get value(): number {
        return 1;
      }
    }
    const accessor = Object.getOwnPropertyDescriptor(Target.prototype, "value");
    expect(() =>
      applyTo(Loop(), Target, "staticWork", Object.getOwnPropertyDescriptor(Target, "staticWork")),
    ).to.throw(
      TypeError,
      /@Loop\(\) on Target.staticWork: expected an instance method, found a static member/,
    );
    expect(() => applyTo(Loop(), Target.prototype, "field")).to.throw(
      TypeError,
      /Target.field: .*found a property/,
    );
    expect(() => applyTo(OnStart(), Target.prototype, "value", accessor)).to.throw(
      TypeError,
      /found an accessor/,
    );
    expect(() => applyTo(HealthCheck(), Target.prototype, "data", { value: 42 })).to.throw(
      TypeError,
      /found 42/,
    );
  });

  it("reject out-of-range and non-integer numbers", () => {
    const proto = { constructor: class Numbers {} };
    const method = { value: () => undefined };
    const cases: [unknown, RegExp][] = [
      [Loop({ interval: -1 }), /option "interval" must be an integer from 0 to 2147483647, got -1/],
      [Loop({ interval: 1.5 }), /"interval" must be an integer/],
      [Loop({ interval: Number.NaN }), /"interval" .* got NaN/],
      [Loop({ interval: Infinity }), /"interval"/],
      [
        Loop({ stallTimeout: 0 }),
        /"stallTimeout" must be an integer from 1 to 2147483647 \(or Infinity\)/,
      ],
      [Loop({ maxIterations: 0 }), /"maxIterations"/],
      [Loop({ backoff: { initial: -1 } }), /"backoff.initial"/],
      [HealthCheck({ timeout: 0 }), /@HealthCheck\(\) on Numbers.m: option "timeout"/],
      [HealthCheck({ cacheTtl: -1 }), /"cacheTtl"/],
      // Past Node's timer limit a delay fires after 1 ms: refused, never armed.
      [
        Loop({ interval: 3e9 }),
        /"interval" must be an integer from 0 to 2147483647, got 3000000000/,
      ],
      [Loop({ interval: 2 ** 31 }), /"interval"/],
      [Loop({ stallTimeout: 2 ** 31 }), /"stallTimeout"/],
      [Loop({ backoff: { max: 2 ** 31 } }), /"backoff.max"/],
      [Loop({ backoff: { initial: 2 ** 31 } }), /"backoff.initial"/],
      [HealthCheck({ timeout: 2 ** 31 }), /"timeout"/],
      [HealthCheck({ cacheTtl: 2 ** 31 }), /"cacheTtl"/],
    ];
    for (const [decorator, message] of cases) {
      expect(() => applyTo(decorator, proto, "m", method)).to.throw(TypeError, message);
    }
  });

  it("@HealthPort rejects a bad port or host, a second @HealthPort, and a non-class target", () => {
    class A {}
    expect(() => HealthPort(70_000)(A)).to.throw(
      TypeError,
      /@HealthPort\(\) on class A: option "port" must be an integer from 0 to 65535/,
    );
    expect(() => HealthPort(80.5)(A)).to.throw(TypeError, /port/);
    expect(() => HealthPort(80, { host: "" })(A)).to.throw(TypeError, /"host"/);
    class B {}
    HealthPort(8080)(B);
    expect(() => HealthPort(8081)(B)).to.throw(
      TypeError,
      /@HealthPort\(\) on class B: the class is already decorated/,
    );
    expect(() => (HealthPort(8080) as (t: unknown) => void)({})).to.throw(
      TypeError,
      /must decorate a class/,
    );
  });

  it("explain how to fix a TC39 standard decorator call", () => {
    const context = { kind: "method", name: "work" };
    expect(() =>
      (Loop() as unknown as (v: unknown, c: unknown) => void)(() => undefined, context),
    ).to.throw(TypeError, /"experimentalDecorators": true/);
    expect(() =>
      (HealthPort(1) as unknown as (v: unknown, c: unknown) => void)(class {}, { kind: "class" }),
    ).to.throw(/experimentalDecorators/);
  });
});

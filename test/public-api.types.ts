// Compile-only check of the public types: `npm test` type-checks this file and
// every @ts-expect-error must still be an error. It is never run.
import {
  bootstrap,
  HealthCheck,
  HealthPort,
  HealthServer,
  Loop,
  LoopGroup,
  OnShutdown,
  OnStart,
  type App,
  type BootstrapOptions,
  type LoopContext,
  type LoopState,
  type Runnable,
  type ShutdownResult,
} from "../src/index.js";

@HealthPort(8080, { host: "127.0.0.1" })
class Typed {
  @Loop({
    interval: 1_000,
    stallTimeout: 5_000,
    onError: "retry",
    backoff: { initial: 100 },
    maxIterations: 10,
  })
  async work(ctx: LoopContext): Promise<void> {
    const iteration: number = ctx.iteration;
    const signal: AbortSignal = ctx.signal;
    ctx.heartbeat();
    await ctx.sleep(iteration);
    void signal;
  }

  @Loop() noContext(): void {}

  @OnStart() async open(): Promise<void> {}
  @OnShutdown() close(): void {}

  @HealthCheck({ name: "db", timeout: 500, cacheTtl: 1_000 }) db(
    signal: AbortSignal,
  ): Promise<boolean> {
    return Promise.resolve(!signal.aborted);
  }
  @HealthCheck() sync(): boolean {
    return true;
  }

  // @ts-expect-error a loop method takes a LoopContext, not a number
  @Loop() wrongParameter(count: number): void {
    void count;
  }

  // @ts-expect-error a health check returns boolean or Promise<boolean>
  @HealthCheck() wrongResult(): string {
    return "yes";
  }

  // @ts-expect-error onError is one of "retry", "stop", "shutdown"
  @Loop({ onError: "ignore" }) badOption(): void {}
}

export async function usesTheApi(): Promise<void> {
  const options: BootstrapOptions = {
    healthPort: false,
    signals: false,
    exit: false,
    logger: false,
  };
  const app: App = await bootstrap([Typed, new Typed()], options);
  const result: ShutdownResult = await app.shutdown("test");
  const clean: boolean = result.clean;
  const names: readonly string[] = result.timedOut;
  void [clean, names];
  // @ts-expect-error results are read-only
  result.clean = false;
  // @ts-expect-error healthPort is a number or false
  await bootstrap(Typed, { healthPort: "8080" });

  const state: LoopState = "running";
  const runnable: Runnable = {
    name: "manual",
    state,
    run: () => Promise.resolve(),
    stop: () => undefined,
  };
  const group = new LoopGroup([runnable], { shutdownTimeout: 1_000, healthPort: 0 });
  const done: Promise<ShutdownResult> = group.done;
  void done;
  const server = new HealthServer({
    port: 0,
    readinessCheck: () => group.ready,
    details: () => group.details(),
  });
  await server.start();
  const port: number | undefined = server.address?.port;
  void port;
  await server.stop();
}

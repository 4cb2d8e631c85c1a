/**
 * What `bootstrap()` builds before anything runs: the services found and the
 * options resolved (plan), the probe thread started early in thread mode, and
 * the runners, hooks, checks and LoopGroup made from the declarations
 * (build). bootstrap.ts then wires election and sharding, installs the
 * process handlers, starts, and hands back the App.
 */
import {
  resolveBootstrapOptions,
  type BootstrapOptions,
  type ResolvedBootstrapOptions,
} from "./bootstrap-options.js";
import {
  checkOverriddenLoops,
  declaredHealthPorts,
  discover,
  flatName,
  LoopGroup,
  LoopRunner,
  methodOf,
  nameOf,
  overriddenOptions,
  resolvedGroupOptions,
  startProbeThread,
  uniqueOrThrow,
  where,
  type Hook,
  type LoopContext,
  type Discovered,
  type LoopDeclaration,
  type ResolvedLoopOptions,
  type Service,
  type ServiceDeclaration,
  type StartedProbeThread,
} from "./core/index.js";
import { ConfigurationError, messages } from "./errors.js";
import { LeaderGate, leaderElectionOption, type LeaderElector } from "./leader/index.js";
import { guardLogger, silentLogger, stderrLogger, type Logger } from "./logger.js";
import type { LoopMetrics, MetricsRegistry } from "./metrics/index.js";
import type { TracingFactory } from "./tracing/index.js";
import { loopSlug, type ShardCoordinator, type ShardedLoop } from "./shards/index.js";

/** What build() made: the group, and what bootstrap() wires and starts around it. */
export interface Built {
  readonly group: LoopGroup;
  readonly exit: boolean;
  readonly signals: readonly NodeJS.Signals[];
  readonly shutdownTimeout: number;
  readonly logger: Logger;
  /** With singleton loops: the gate they wait on, and the slot for the elector. */
  readonly leadership: Leadership | undefined;
  readonly metrics: LoopMetrics | undefined;
  /** With sharded loops: their shards' gates, and the slot for the coordinator. */
  readonly sharding: Sharding | undefined;
}

/** A loop of the app: where it was declared, its name, and its options once overrides are merged in. */
interface AppLoop {
  readonly instance: object;
  readonly className: string;
  readonly loop: LoopDeclaration;
  readonly name: string;
  options: ResolvedLoopOptions;
}

/** The sharded loops as the group sees them, bound once the (lazily loaded) coordinator exists. */
interface Sharding {
  readonly loops: ShardedLoop[];
  coordinator: ShardCoordinator | undefined;
}

/** The election as the group sees it, bound once the (lazily loaded) elector exists. */
interface Leadership {
  readonly gate: LeaderGate;
  elector: LeaderElector | undefined;
  /** Resolves once the leadership Events begun so far are written (or given up). */
  eventsSettled: (() => Promise<void>) | undefined;
}

/** The services found and the options resolved: what the rest of `bootstrap()` is built from. */
export interface Plan {
  readonly found: readonly Discovered[];
  readonly resolved: ResolvedBootstrapOptions;
  readonly logger: Logger;
}

/** Finds the services and resolves the options (environment included); refuses metrics without a probe port. */
export function plan(
  services: Service | readonly Service[],
  options: BootstrapOptions,
  env: NodeJS.ProcessEnv,
): Plan {
  const found = discover(services);
  const resolved = resolveBootstrapOptions(options, env, declaredHealthPorts(found));
  if (resolved.metrics === true && resolved.healthPort === false) {
    throw new ConfigurationError(messages.metricsWithoutPort());
  }
  const logger = resolved.logger === false ? silentLogger : (resolved.logger ?? stderrLogger());
  return { found, resolved, logger };
}

/**
 * Thread mode: the probe thread starts now and boots on its own core while
 * prom-client, tracing and the app are loaded and built; the group adopts it.
 */
export function startProbeThreadEarly({
  resolved,
  logger,
}: Plan): Promise<StartedProbeThread> | undefined {
  if (resolved.healthPort === false || !resolved.healthThread) return undefined;
  return startProbeThread(
    {
      host: resolved.healthHost,
      port: resolved.healthPort,
      eventLoopStallTimeout: resolved.eventLoopStallTimeout,
    },
    // The group's logger is this one, guarded; /metrics is served when metrics are on.
    { metrics: resolved.metrics !== false, logger: guardLogger(logger) },
  );
}

/** Makes the runners, hooks, checks and LoopGroup from the declarations, with their overrides merged in. */
export function build(
  { found, resolved, logger }: Plan,
  options: BootstrapOptions,
  env: NodeJS.ProcessEnv,
  loadedMetrics: (option: true | MetricsRegistry) => LoopMetrics | undefined,
  tracing: TracingFactory | undefined,
  probeThread: StartedProbeThread | undefined,
): Built {
  const metrics = resolved.metrics === false ? undefined : loadedMetrics(resolved.metrics);

  // A service may hold only hooks or checks (the owner of a shared connection), as long as the app has a loop.
  // One object per loop, filled in place: with 100 000 loops every copy and spread here showed in the start time.
  const resolvedLoops: AppLoop[] = [];
  for (const { instance, className, declaration } of found) {
    for (const loop of declaration.loops) {
      resolvedLoops.push({
        instance,
        className,
        loop,
        name: nameOf(className, loop),
        options: loop.options,
      });
    }
  }
  if (resolvedLoops.length === 0) {
    throw new ConfigurationError(messages.noLoopInApp(found.map((f) => f.className)));
  }
  uniqueOrThrow(
    "loop",
    resolvedLoops,
    (d) => d.name,
    (d) => where(d.className, d.loop.method),
  );
  uniqueOrThrow(
    "health check",
    found.flatMap(({ className, declaration }) =>
      declaration.checks.map((check) => ({ className, check })),
    ),
    ({ className, check }) => nameOf(className, check),
    ({ className, check }) => where(className, check.method),
  );
  if (resolved.loops.byLoop.size > 0) {
    checkOverriddenLoops(
      resolved.loops,
      resolvedLoops.map((d) => d.name),
    );
  }
  for (const d of resolvedLoops) {
    d.options = overriddenOptions(d.name, d.loop.input, d.loop.options, resolved.loops);
  }
  const singletons = resolvedLoops.filter((d) => d.options.singleton).map((d) => d.name);
  const election = leaderElectionOption(options.leaderElection, env);
  if (singletons.length > 0 && election === undefined) {
    throw new ConfigurationError(messages.singletonWithoutElection(singletons));
  }
  const sharded = resolvedLoops.filter((d) => d.options.shards !== undefined);
  if (sharded.length > 0 && election === undefined) {
    throw new ConfigurationError(messages.shardedWithoutElection(sharded.map((d) => d.name)));
  }
  if (singletons.length === 0 && sharded.length === 0 && election !== undefined) {
    logger.warn({}, "leaderElection is set but no loop is singleton or sharded: no election runs");
  }
  const slugs = new Map<string, string>();
  for (const { name } of sharded) {
    const slug = loopSlug(name);
    if (slug === "member" || slug.startsWith("member-"))
      throw new ConfigurationError(messages.shardSlugReserved(name, slug));
    const other = slugs.get(slug);
    if (other !== undefined)
      throw new ConfigurationError(messages.shardSlugClash(other, name, slug));
    slugs.set(slug, name);
  }
  const sharding: Sharding | undefined =
    sharded.length > 0
      ? {
          loops: sharded.map(({ name, options }) => ({
            name,
            slug: loopSlug(name),
            count: options.shards ?? 1,
            gates: Array.from({ length: options.shards ?? 1 }, () => new LeaderGate()),
          })),
          coordinator: undefined,
        }
      : undefined;
  const leadership: Leadership | undefined =
    singletons.length > 0
      ? { gate: new LeaderGate(), elector: undefined, eventsSettled: undefined }
      : undefined;
  const gate = leadership?.gate;

  // Copies report under the declared name: their series are the loop's, so concurrency adds none.
  // Tracing wraps the metrics observer; a loop with neither has none.
  const observer = (name: string, concurrency: number, worker: number) => {
    const next = metrics?.observer(name, concurrency);
    return tracing === undefined || resolved.tracing === false ? next : tracing(name, worker, next);
  };
  const loops: LoopRunner[] = [];
  for (const { instance, loop, name, options } of resolvedLoops) {
    // The method and its instance (`receiver`), not a closure over them: one object less per loop.
    const body = methodOf(instance, loop.method) as (ctx: LoopContext) => unknown;
    const shards = sharding?.loops.find((loop) => loop.name === name);
    if (shards !== undefined) {
      // One copy per shard, named Name[i], each waiting on its shard's gate (standby unless owned).
      shards.gates.forEach((shardGate, index) =>
        loops.push(
          new LoopRunner(options, body, {
            name: flatName(name, "[", index, "]"),
            receiver: instance,
            logger,
            observer: observer(name, options.concurrency, 1),
            gate: shardGate,
            shard: { index, count: shards.count },
          }),
        ),
      );
    } else if (options.concurrency === 1) {
      loops.push(
        new LoopRunner(options, body, {
          receiver: instance,
          logger,
          observer: observer(name, 1, 1),
          gate,
        }),
      );
    } else {
      // n copies, each a loop of its own everywhere a loop is named: Name#1 … Name#n.
      for (let worker = 1; worker <= options.concurrency; worker += 1) {
        loops.push(
          new LoopRunner(options, body, {
            name: flatName(name, "#", worker),
            receiver: instance,
            logger,
            worker,
            observer: observer(name, options.concurrency, worker),
            gate,
          }),
        );
      }
    }
  }
  const hooks = (pick: (d: ServiceDeclaration) => ServiceDeclaration["startHooks"]): Hook[] =>
    found.flatMap(({ instance, className, declaration }) =>
      pick(declaration).map((hook) => {
        const body = methodOf(instance, hook.method);
        return { name: where(className, hook.method), run: () => body.call(instance) };
      }),
    );
  const healthChecks = found.flatMap(({ instance, className, declaration }) =>
    declaration.checks.map((check) => {
      const body = methodOf(instance, check.method);
      return {
        name: nameOf(className, check),
        check: (signal: AbortSignal) => body.call(instance, signal) as boolean | Promise<boolean>,
        timeout: check.options.timeout,
        cacheTtl: check.options.cacheTtl,
      };
    }),
  );
  // Resolved here once; the group takes them as they are.
  const group = new LoopGroup(
    loops,
    resolvedGroupOptions({
      shutdownTimeout: resolved.shutdownTimeout,
      drainDelay: resolved.drainDelay,
      health:
        resolved.healthPort === false
          ? undefined
          : {
              port: resolved.healthPort,
              host: resolved.healthHost,
              thread: resolved.healthThread,
              eventLoopStallTimeout: resolved.eventLoopStallTimeout,
              started: probeThread,
            },
      onStart: hooks((d) => d.startHooks),
      // The singleton loops have stopped when hooks run: release the Lease first, then the user's hooks.
      onShutdown: [
        ...(sharding === undefined
          ? []
          : [
              {
                name: "shards.release",
                // The sharded loops have stopped: release the shards whose iteration ended, then
                // delete the member Lease.
                run: async () => {
                  await sharding.coordinator?.release();
                },
              },
            ]),
        ...(leadership === undefined
          ? []
          : [
              {
                name: "leaderElection.release",
                // The "lost leadership" Event of the release is written before done settles.
                run: async () => {
                  await leadership.elector?.release();
                  await leadership.eventsSettled?.();
                },
              },
            ]),
        ...hooks((d) => d.shutdownHooks),
      ],
      healthChecks,
      logger: guardLogger(logger),
      metrics: metrics && (() => metrics.scrape()),
      leader: leadership && (() => leadership.elector?.details()),
      shards: sharding && (() => sharding.coordinator?.details()),
      verbose: resolved.verbose,
    }),
  );
  metrics?.watch(group.readings());
  return {
    group,
    exit: resolved.exit,
    signals: resolved.signals,
    shutdownTimeout: resolved.shutdownTimeout,
    logger,
    leadership,
    metrics,
    sharding,
  };
}

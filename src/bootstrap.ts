/**
 * bootstrap(): resolve options -> read metadata -> build runners and group ->
 * install process handlers -> start -> App.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  resolveBootstrapOptions,
  type BootstrapOptions,
  type ResolvedBootstrapOptions,
} from "./bootstrap-options.js";
import {
  checkOverriddenLoops,
  declaredHealthPorts,
  discover,
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
  type ShutdownResult,
  type StartedProbeThread,
} from "./core/index.js";
import { ConfigurationError, messages } from "./errors.js";
import {
  LeaderGate,
  leaderElectionOption,
  loadElection,
  type LeaderElector,
  type LeaderView,
} from "./leader/index.js";
import {
  errorMessage,
  guardLogger,
  isLogger,
  silentLogger,
  stderrLogger,
  type Logger,
} from "./logger.js";
import {
  isMetricsRegistry,
  loadMetrics,
  resolveMetrics,
  type LoopMetrics,
  type MetricsRegistry,
} from "./metrics/index.js";
import { ProbeAnswers, type HealthServerAddress } from "./probes/index.js";
import { claimProcess, exitProcess, installProcessHandlers } from "./process.js";
import { loadTracing, type TracingFactory } from "./tracing/index.js";
import { loadSharding, loopSlug, type ShardCoordinator, type ShardedLoop } from "./shards/index.js";

export type { Service, ServiceClass } from "./core/index.js";

/**
 * The running app.
 *
 * @example
 * const app = await bootstrap(Worker, { signals: false, exit: false });
 * const result = await app.shutdown();
 */
export interface App {
  readonly group: LoopGroup;
  /** The health server's address, or null without probes. */
  readonly address: HealthServerAddress | null;
  /** What `/health/ready` reports (health checks by their last result). */
  readonly ready: boolean;
  /**
   * Answers the probe paths (`/health/live`, `/health/ready`,
   * `/health/startup`, with `?verbose`) and `/metrics` when metrics are on,
   * exactly as the HealthServer does, and returns true; returns false,
   * writing nothing, for any other path. Mount it on a server you already
   * run (node:http, Express, Fastify's `raw`), typically with `healthPort: false`.
   *
   * @example
   * const app = await bootstrap(Worker, { healthPort: false });
   * http.createServer((req, res) => {
   *   if (app.probeHandler(req, res)) return;
   *   myRoutes(req, res);
   * }).listen(8080);
   * // Express: server.use((req, res, next) => app.probeHandler(req, res) || next());
   */
  readonly probeHandler: (request: IncomingMessage, response: ServerResponse) => boolean;
  /**
   * This replica in the election: `{ lease, identity, isLeader, holder }`
   * now, or undefined without leader election (no singleton loop).
   *
   * @example
   * if (app.leader?.isLeader) console.log("leading", app.leader.lease);
   */
  readonly leader: LeaderView | undefined;
  /** Begins a graceful shutdown; resolves with its result. Calling it again returns the same result. */
  shutdown(reason?: string): Promise<ShutdownResult>;
  /** Settles when the app has fully stopped and its process handlers are removed. */
  readonly done: Promise<ShutdownResult>;
}

interface Built {
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
interface Plan {
  readonly found: readonly Discovered[];
  readonly resolved: ResolvedBootstrapOptions;
  readonly logger: Logger;
}

function plan(
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
function startProbeThreadEarly({
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

function build(
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
            name: `${name}[${index}]`,
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
            name: `${name}#${worker}`,
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

/** Margin past the shutdown budget before the process is forced out. */
const HARD_EXIT_MARGIN = 1_000;

/**
 * Runs services: discovers their loops, hooks and checks, starts the probe
 * server, runs `@OnStart` hooks, starts every loop, installs signal handlers,
 * and resolves with an {@link App} once everything has started.
 *
 * With `exit: true` (the default) the process exits when the app is done:
 * 0 after a clean shutdown, 1 otherwise. A bad configuration rejects with a
 * ConfigurationError (and, with `exit: true`, is logged and exits 1).
 *
 * @example
 * await bootstrap(OrderWorker);
 * // in tests:
 * const app = await bootstrap(OrderWorker, { signals: false, exit: false, healthPort: false });
 */
export async function bootstrap(
  services: Service | readonly Service[],
  options: BootstrapOptions = {},
): Promise<App> {
  const exit = options.exit !== false;
  // One app per process owns it: a second one would exit the process under the first.
  const release = exit ? claimProcess() : () => undefined;
  if (release === undefined) throw new ConfigurationError(messages.secondApp());
  let built: Built;
  let metrics: LoopMetrics | undefined;
  let probeThread: StartedProbeThread | undefined;
  try {
    const wanted = resolveMetrics(options.metrics, process.env, "bootstrap()");
    const planned = plan(services, options, process.env);
    probeThread = await startProbeThreadEarly(planned);
    // prom-client is loaded (asynchronously) before anything else is built, and only when asked for.
    metrics = wanted === true || isMetricsRegistry(wanted) ? await loadMetrics(wanted) : undefined;
    // @opentelemetry/api is loaded only when installed and not switched off; absent, tracing is off.
    const tracing = options.tracing === false ? undefined : await loadTracing();
    built = build(planned, options, process.env, () => metrics, tracing, probeThread);
    const leadership = built.leadership;
    if (leadership !== undefined) {
      // Loaded only when a loop is singleton: an app without one does no election work.
      const createElection = await loadElection();
      const election = await createElection(
        leaderElectionOption(options.leaderElection, process.env),
        process.env,
        leadership.gate,
        built.logger,
        built.metrics && ((lease) => built.metrics?.leadership(lease)),
      );
      leadership.elector = election.elector;
      leadership.eventsSettled = () => election.eventsSettled();
    }
    const sharding = built.sharding;
    if (sharding !== undefined) {
      // Loaded only when a loop is sharded: an app without one does no sharding work.
      const createCoordinator = await loadSharding();
      const gauges = new Map(
        sharding.loops.map((loop) => [loop.name, built.metrics?.shardsOwned(loop.name)]),
      );
      sharding.coordinator = await createCoordinator(
        leaderElectionOption(options.leaderElection, process.env),
        process.env,
        sharding.loops,
        built.logger,
        (loop, owned) => gauges.get(loop)?.(owned),
      );
    }
  } catch (error) {
    // A refused app leaves no series behind on the caller's registry, and no probe thread.
    await probeThread?.stop().catch(() => undefined);
    metrics?.dispose();
    release();
    if (exit) {
      const logger = isLogger(options.logger) ? guardLogger(options.logger) : stderrLogger();
      if (options.logger !== false) logger.error({ exitCode: 1 }, errorMessage(error, 2_000));
      exitProcess(1);
    }
    throw error;
  }
  const { group, logger } = built;
  // The elector ends before done settles: no Lease call in flight, no socket to the API server left,
  // and an acquire that landed during shutdown already released.
  const settled = group.done.then(async (result) => {
    await Promise.all([built.leadership?.elector?.close(), built.sharding?.coordinator?.close()]);
    return result;
  });
  const uninstall = installProcessHandlers({
    signals: built.signals,
    exit: built.exit,
    logger,
    hardExitAfter: built.shutdownTimeout + HARD_EXIT_MARGIN,
    shutdown: (reason) => group.shutdown(reason),
    stopping: group.stopping,
    done: settled,
  });
  const done = settled.then((result) => {
    uninstall();
    // The caller's registry may serve a later app: this one's series go with it.
    built.metrics?.dispose();
    release();
    return result;
  });
  // No idle-socket timeout: the user's server owns its sockets.
  const answers = new ProbeAnswers(group.probeRoutes());
  await group.start();
  const elector = built.leadership?.elector;
  if (elector !== undefined) {
    elector.start();
    void group.stopping.then(() => elector.stopAcquiring());
  }
  const coordinator = built.sharding?.coordinator;
  if (coordinator !== undefined) {
    coordinator.start();
    void group.stopping.then(() => coordinator.stopAcquiring());
  }
  return {
    group,
    get address() {
      return group.address;
    },
    get ready() {
      return group.ready;
    },
    get leader() {
      return built.leadership?.elector?.view();
    },
    probeHandler: (request, response) => answers.handle(request, response),
    // Resolves once done has: the app's metrics are then off the registry.
    shutdown: (reason?: string) => group.shutdown(reason).then(() => done),
    done,
  };
}

/**
 * bootstrap(): resolve options -> read metadata -> build runners and group
 * (build-app.ts) -> install process handlers -> start -> App.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { BootstrapOptions } from "./bootstrap-options.js";
import { build, plan, startProbeThreadEarly, type Built } from "./build-app.js";
import type { LoopGroup, Service, ShutdownResult, StartedProbeThread } from "./core/index.js";
import { ConfigurationError, messages } from "./errors.js";
import { leaderElectionOption, loadElection, type LeaderView } from "./leader/index.js";
import { errorMessage, guardLogger, isLogger, stderrLogger } from "./logger.js";
import {
  isMetricsRegistry,
  loadMetrics,
  resolveMetrics,
  type LoopMetrics,
} from "./metrics/index.js";
import { ProbeAnswers, type HealthServerAddress } from "./probes/index.js";
import { claimProcess, exitProcess, installProcessHandlers } from "./process.js";
import { loadTracing } from "./tracing/index.js";
import { loadSharding } from "./shards/index.js";

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

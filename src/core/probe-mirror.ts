/**
 * Thread mode, the main thread's side: the probe thread answers from shared
 * memory, which this side keeps current. Every lifecycle change is written as
 * it happens, and a heartbeat (with the health checks' and hand-written
 * Runnables' results) every `heartbeatEvery` ms tells the thread that this
 * event loop turns.
 */
import type { Logger } from "../logger.js";
import {
  createProbeState,
  loadProbeThread,
  ProbeStateWriter,
  type CachedHealthCheck,
  type HealthServerAddress,
} from "../probes/index.js";
import { startTimer } from "../time.js";
import type { ResolvedGroupOptions } from "./group-options.js";
import type { LoopHealth } from "./loop-health.js";

/** What LoopGroup needs of a probe server, on the main thread or in a worker thread. */
export interface ProbeServer {
  readonly address: HealthServerAddress | null;
  start(): Promise<void>;
  stop(grace: number): Promise<void>;
}

/** What the probe thread mirrors of a group. */
export interface MirrorSource {
  readonly health: LoopHealth;
  readonly checks: readonly CachedHealthCheck[];
  /** The group's phase as written to shared memory (PHASE). */
  phase(): number;
  startupComplete(): boolean;
  /** True while the group runs: health checks are asked only then. */
  running(): boolean;
  foreignWorking(): boolean;
  foreignStalled(): boolean;
  details(): object;
  /** One loop's entry by name, or undefined (`?loop=`). */
  loop(name: string): object | undefined;
  readonly metrics: ResolvedGroupOptions["metrics"];
  readonly logger: Logger;
  /** The thread crashed past its restarts. */
  onFatal(): void;
}

/** The probe thread and what keeps its memory current. */
export interface ProbeMirror {
  /** Not started yet: the group starts it. */
  readonly thread: ProbeServer;
  readonly writer: ProbeStateWriter;
  /** Asks the health checks now and writes their results for the thread. */
  readonly refreshChecks: () => void;
  /** Stops the heartbeat. */
  readonly stop: () => void;
}

/** Loads the probe thread's code and starts mirroring `source` into its memory. */
export async function mirrorToProbeThread(
  probes: NonNullable<ResolvedGroupOptions["health"]>,
  source: MirrorSource,
): Promise<ProbeMirror> {
  const ProbeThread = await loadProbeThread();
  const writer = new ProbeStateWriter(createProbeState());
  const { health, checks } = source;
  const publish = (): void => {
    const stallAt = health.earliestStall();
    writer.loops(
      health.size,
      health.working,
      stallAt === undefined ? undefined : performance.timeOrigin + stallAt,
    );
  };
  health.onChange = publish;
  publish();
  writer.phase(source.phase(), source.startupComplete());
  const heartbeatEvery = Math.max(10, Math.min(500, Math.floor(probes.eventLoopStallTimeout / 4)));
  let stopped = false;
  let cancel: () => void = () => undefined;
  // Not ready before every health check has answered once, as a main-thread probe would ask them.
  writer.checks(checks.length === 0);
  const refreshChecks = (): void => {
    if (checks.length === 0 || !source.running()) return;
    void Promise.all(checks.map((c) => c.evaluate())).then((results) =>
      writer.checks(results.every(Boolean)),
    );
  };
  const beat = (): void => {
    if (stopped) return;
    writer.heartbeat();
    writer.foreign(source.foreignWorking(), source.foreignStalled());
    refreshChecks();
    cancel = startTimer(beat, heartbeatEvery);
  };
  beat();
  const thread = new ProbeThread({
    host: probes.host,
    port: probes.port,
    state: writer.buffer,
    eventLoopStallTimeout: probes.eventLoopStallTimeout,
    heartbeatEvery,
    details: () => source.details(),
    loop: (name) => source.loop(name),
    metrics: source.metrics,
    logger: source.logger,
    onFatal: () => source.onFatal(),
  });
  return {
    thread,
    writer,
    refreshChecks,
    stop: () => {
      stopped = true;
      cancel();
    },
  };
}

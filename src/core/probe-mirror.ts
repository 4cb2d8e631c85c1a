/**
 * Thread mode, the main thread's side: the probe thread answers from shared
 * memory, which this side keeps current. Every lifecycle change is written as
 * it happens, and a heartbeat (with the health checks' and hand-written
 * Runnables' results) every `heartbeatEvery` ms tells the thread that this
 * event loop turns. `bootstrap()` starts the thread early (startProbeThread),
 * so it boots while the rest of startup runs; the group then mirrors into it.
 */
import type { Logger } from "../logger.js";
import {
  createProbeState,
  loadProbeThread,
  ProbeStateWriter,
  type CachedHealthCheck,
  type HealthServerAddress,
  type ProbeThread,
  type ProbeThreadAnswers,
} from "../probes/index.js";
import { startTimer } from "../time.js";
import type { LoopHealth } from "./loop-health.js";

/** What LoopGroup needs of a probe server, on the main thread or in a worker thread. */
export interface ProbeServer {
  readonly address: HealthServerAddress | null;
  start(): Promise<void>;
  stop(grace: number): Promise<void>;
}

/** Where the probe thread listens, and the stall timeout its heartbeat is paced by. */
export interface ProbeThreadPlace {
  readonly host: string;
  readonly port: number;
  readonly eventLoopStallTimeout: number;
}

/**
 * A probe thread started (booting or listening) with its shared memory and
 * the main thread's heartbeat, before the group that adopts it exists. Until
 * then it answers from that memory: live while the heartbeat runs, not
 * started, not ready.
 */
export interface StartedProbeThread {
  readonly thread: ProbeThread;
  readonly writer: ProbeStateWriter;
  /** Runs on each heartbeat, after the beat is written: what the group keeps fresh. */
  onBeat: () => void;
  /** Stops the heartbeat (the thread is the group's to stop). */
  stopHeartbeat(): void;
  /** Startup was refused before a group adopted the thread: the heartbeat and the thread end. */
  stop(): Promise<void>;
}

/**
 * Starts the probe thread and the heartbeat: resolves at once, with the
 * thread booting. `thread.start()` settles once it listens (a rejection is
 * never left unhandled meanwhile).
 */
export async function startProbeThread(
  place: ProbeThreadPlace,
  options: { readonly metrics: boolean; readonly logger: Logger },
): Promise<StartedProbeThread> {
  const ProbeThread = await loadProbeThread();
  const writer = new ProbeStateWriter(createProbeState());
  const heartbeatEvery = Math.max(10, Math.min(500, Math.floor(place.eventLoopStallTimeout / 4)));
  let stopped = false;
  let cancel: () => void = () => undefined;
  const started: StartedProbeThread = {
    thread: new ProbeThread({
      host: place.host,
      port: place.port,
      state: writer.buffer,
      eventLoopStallTimeout: place.eventLoopStallTimeout,
      heartbeatEvery,
      metrics: options.metrics,
      logger: options.logger,
    }),
    writer,
    onBeat: () => undefined,
    stopHeartbeat: () => {
      stopped = true;
      cancel();
    },
    stop: async () => {
      started.stopHeartbeat();
      await started.thread.stop(0);
    },
  };
  const beat = (): void => {
    if (stopped) return;
    writer.heartbeat();
    started.onBeat();
    cancel = startTimer(beat, heartbeatEvery);
  };
  beat();
  // Whoever adopts the thread awaits start() again and sees a failure then.
  started.thread.start().catch(() => undefined);
  return started;
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
  readonly metrics: ProbeThreadAnswers["metrics"];
  readonly logger: Logger;
  /** The thread crashed past its restarts. */
  onFatal(): void;
}

/** The probe thread and what keeps its memory current. */
export interface ProbeMirror {
  /** Started (booting or listening): the group awaits its start(), which settles once it listens. */
  readonly thread: ProbeServer;
  readonly writer: ProbeStateWriter;
  /** Asks the health checks now and writes their results for the thread. */
  readonly refreshChecks: () => void;
  /** Stops the heartbeat. */
  readonly stop: () => void;
}

/**
 * Mirrors `source` into the probe thread's memory: the thread `bootstrap()`
 * started early, or one started now.
 */
export async function mirrorToProbeThread(
  place: ProbeThreadPlace & { readonly started?: StartedProbeThread | undefined },
  source: MirrorSource,
): Promise<ProbeMirror> {
  const started =
    place.started ??
    (await startProbeThread(place, {
      metrics: source.metrics !== undefined,
      logger: source.logger,
    }));
  const { writer, thread } = started;
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
  // Not ready before every health check has answered once, as a main-thread probe would ask them.
  writer.checks(checks.length === 0);
  const refreshChecks = (): void => {
    if (checks.length === 0 || !source.running()) return;
    void Promise.all(checks.map((c) => c.evaluate())).then((results) =>
      writer.checks(results.every(Boolean)),
    );
  };
  const beat = (): void => {
    writer.foreign(source.foreignWorking(), source.foreignStalled());
    refreshChecks();
  };
  started.onBeat = beat;
  beat();
  thread.bind({
    details: () => source.details(),
    loop: (name) => source.loop(name),
    metrics: source.metrics,
    onFatal: () => source.onFatal(),
  });
  return { thread, writer, refreshChecks, stop: () => started.stopHeartbeat() };
}

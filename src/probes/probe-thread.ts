/**
 * Probes off the main thread: the main thread's side of the probe thread. It
 * starts the thread (from one self-contained string, see thread-main.ts),
 * answers its `?verbose` and `/metrics` questions, keeps the shared state's
 * heartbeat and check results fresh, and restarts a thread that crashed (a
 * few times; then the app shuts down with exit code 1).
 */
import { Worker } from "node:worker_threads";
import { ListenError, messages, StartupError } from "../errors.js";
import type { HealthServerAddress } from "./health-server.js";
import { errorMessage, type Logger } from "../logger.js";
import { sleep } from "../time.js";
import { scrapeChunks, type ScrapeAnswer } from "./probe-answers.js";
import type { FromThread, ThreadData, ToThread } from "./thread-main.js";
import { THREAD_SOURCE } from "./thread-source.generated.js";

/** How many times a crashed probe thread is restarted before the app gives up. */
export const MAX_THREAD_RESTARTS = 3;

/** What the thread is started with: where it listens, the shared memory it answers from. */
export interface ProbeThreadOptions {
  readonly host: string;
  readonly port: number;
  readonly state: SharedArrayBuffer;
  readonly eventLoopStallTimeout: number;
  readonly heartbeatEvery: number;
  /** Serve `/metrics` (answered through the main thread's `metrics`, once bound). */
  readonly metrics: boolean;
  readonly logger: Logger;
}

/** What the main thread answers the thread's questions with; bound once the group exists. */
export interface ProbeThreadAnswers {
  readonly details: () => object;
  /** `?loop=<name>`: one loop's entry, or undefined when no loop has that name. */
  readonly loop: (name: string) => object | undefined;
  readonly metrics: (() => Promise<ScrapeAnswer>) | undefined;
  /** The thread crashed more than MAX_THREAD_RESTARTS times: probes are gone for good. */
  readonly onFatal: (error: Error) => void;
}

/** The main thread's side of the probe thread: starts it, answers it, restarts it, ends it. */
export class ProbeThread {
  private worker: Worker | undefined;
  private bound: HealthServerAddress | null = null;
  private stopping = false;
  private restarts = 0;
  private starting: Promise<void> | undefined;
  private answers: ProbeThreadAnswers | undefined;
  /** The thread gave up before answers were bound: told to them when they are. */
  private fatal: Error | undefined;

  constructor(private readonly options: ProbeThreadOptions) {}

  get address(): HealthServerAddress | null {
    return this.bound;
  }

  /**
   * Binds the main thread's answers. Until then the thread's questions get
   * no answer (it answers from its last state, as when the main thread is busy).
   */
  bind(answers: ProbeThreadAnswers): void {
    this.answers = answers;
    if (this.fatal !== undefined) answers.onFatal(this.fatal);
  }

  /** Starts the thread; resolves once it listens, rejects with a ListenError or StartupError. */
  start(): Promise<void> {
    this.starting ??= this.spawn(this.options.port);
    return this.starting;
  }

  /** Asks the thread to stop its server (busy sockets get `grace` ms), then ends it. */
  async stop(grace: number): Promise<void> {
    this.stopping = true;
    const worker = this.worker;
    if (worker === undefined) return;
    const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
    worker.postMessage({ type: "stop", grace } satisfies ToThread);
    const done = new AbortController();
    void exited.then(() => done.abort());
    // The thread closes its server within `grace`; past that (and a margin), it is ended.
    if (await sleep(grace + 500, done.signal)) await worker.terminate();
    this.bound = null;
    this.worker = undefined;
  }

  /** Internal test hook (not public API): make the thread throw, as a crash would. */
  crashForTests(): void {
    this.worker?.postMessage({ type: "crash" } satisfies ToThread);
  }

  private spawn(port: number): Promise<void> {
    const { host, state, eventLoopStallTimeout, heartbeatEvery, logger } = this.options;
    const data: ThreadData = {
      host,
      port,
      state,
      eventLoopStallTimeout,
      heartbeatEvery,
      metrics: this.options.metrics,
    };
    let worker: Worker;
    try {
      worker = new Worker(THREAD_SOURCE, {
        eval: true,
        workerData: data,
        name: "loopgroup-probes",
      });
    } catch (error) {
      return Promise.reject(
        new StartupError(messages.probeThreadFailed(errorMessage(error)), { cause: error }),
      );
    }
    this.worker = worker;
    return new Promise<void>((resolve, reject) => {
      let listening = false;
      let listenError: ListenError | undefined;
      worker.on("message", (message: FromThread) => {
        if (message.type === "listening") {
          listening = true;
          this.bound = { host: message.host, port: message.port };
          resolve();
        } else if (message.type === "listen-failed") {
          // A thread that cannot serve is of no use: end it, and refuse once it has ended
          // (on "exit"), so it holds nothing open.
          this.worker = undefined;
          listenError = new ListenError(message.message, message.code, host, port);
          void worker.terminate();
        } else if (message.type === "ask") {
          void this.answer(worker, message.id, message.what, message.loop);
        }
      });
      worker.on("error", (error) => {
        if (!listening)
          reject(
            new StartupError(messages.probeThreadFailed(errorMessage(error)), { cause: error }),
          );
        else logger.error({ error: errorMessage(error) }, "probe thread crashed");
      });
      worker.on("exit", (code) => {
        if (!listening) {
          reject(
            listenError ??
              new StartupError(messages.probeThreadFailed(`it exited with code ${code}`)),
          );
          return;
        }
        if (this.stopping || this.worker !== worker) return;
        // The same port again, also when the OS chose it: Kubernetes probes that port.
        const boundPort = this.bound?.port ?? port;
        this.bound = null;
        this.restart(boundPort, code);
      });
    });
  }

  /** Probes must not silently vanish: a crashed thread is started again, a few times. */
  private restart(port: number, code: number): void {
    const { logger } = this.options;
    if (this.restarts >= MAX_THREAD_RESTARTS) {
      const error = new Error(`the probe thread crashed ${this.restarts + 1} times`);
      logger.error({ exitCode: code }, "probe thread keeps crashing; shutting the app down");
      this.giveUp(error);
      return;
    }
    this.restarts += 1;
    logger.warn({ attempt: this.restarts, exitCode: code }, "restarting the probe thread");
    this.spawn(port).catch((error: unknown) => {
      logger.error({ error: errorMessage(error) }, "probe thread could not restart");
      this.giveUp(error instanceof Error ? error : new Error(String(error)));
    });
  }

  private giveUp(error: Error): void {
    if (this.answers === undefined) this.fatal = error;
    else this.answers.onFatal(error);
  }

  private async answer(
    worker: Worker,
    id: number,
    what: "details" | "metrics" | "loop",
    loop = "",
  ): Promise<void> {
    let value: unknown;
    const answers = this.answers;
    try {
      // Not bound yet: no answer (undefined), so the thread answers from its last state.
      if (answers === undefined) value = undefined;
      else if (what === "loop")
        value = answers.loop(loop) ?? null; // null: no such loop
      else if (what === "details") value = answers.details();
      else value = await sendable(await answers.metrics?.());
    } catch {
      value = undefined;
    }
    worker.postMessage({ type: "answer", id, value } satisfies ToThread);
  }
}

/** A scrape as a message can carry it: its text read whole (a stream is no message). */
async function sendable(answer: ScrapeAnswer | undefined): Promise<ScrapeAnswer | undefined> {
  if (answer === undefined) return undefined;
  return { contentType: answer.contentType, body: await scrapeChunks(answer.body) };
}

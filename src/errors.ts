/**
 * Error types and every message text, in one place. A message says what is
 * wrong, where (class, member, option or variable), and how to fix it.
 */

/**
 * A configuration problem found before anything started: an option, an
 * environment variable, or a service that cannot be run as given.
 *
 * @example
 * await bootstrap(NotAService).catch((e) => e instanceof ConfigurationError); // true
 */
export class ConfigurationError extends Error {
  override readonly name = "ConfigurationError";
}

/**
 * Startup could not finish: an `@OnStart` hook threw, or the health server
 * could not listen. `cause` holds the original error.
 *
 * @example
 * try { await bootstrap(Worker); } catch (e) { if (e instanceof StartupError) console.error(e.message); }
 */
export class StartupError extends Error {
  override readonly name: string = "StartupError";
}

/**
 * The health server could not listen on its address.
 *
 * @example
 * await new HealthServer({ port: 80 }).start(); // ListenError: … EACCES …
 */
export class ListenError extends StartupError {
  override readonly name = "ListenError";
  constructor(
    message: string,
    /** The system error code, such as `EADDRINUSE`. */
    readonly code: string,
    readonly host: string,
    readonly port: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

const decoratorsDoc = "See node_modules/loopgroup/docs/decorators.md.";

/** Message builders; every text a user can see is written here. */
export const messages = {
  noDecoratorMetadata: (decorator: string, where: string) =>
    `@${decorator}() on ${where}: the standard decorator context has no metadata object. loopgroup defines Symbol.metadata when it is imported, so import "loopgroup" before the module that defines the class, and use a compiler that passes decorator metadata (TypeScript 5.2 or later, esbuild 0.21 or later), or turn on "experimentalDecorators". ${decoratorsDoc}`,
  notAMethod: (decorator: string, where: string, found: string) =>
    `@${decorator}() on ${where}: expected an instance method, found ${found}. Put @${decorator}() on a method declared in the class body (not a property, accessor or static method).`,
  notAClass: (decorator: string, found: string) =>
    `@${decorator}() must decorate a class, found ${found}.`,
  alreadyDecorated: (decorator: string, where: string, existing: string) =>
    `@${decorator}() on ${where}: the method is already decorated with @${existing}(). A method can be one loop, hook or check; split it into two methods.`,
  classAlreadyDecorated: (decorator: string, className: string) =>
    `@${decorator}() on class ${className}: the class is already decorated with @${decorator}(). Keep one.`,
  badOption: (where: string, option: string, value: unknown, expected: string) =>
    `${where}: option "${option}" must be ${expected}, got ${describe(value)}.`,
  unknownOption: (where: string, option: string, known: readonly string[]) =>
    `${where}: unknown option "${option}". Known options: ${known.join(", ")}.`,
  badEnv: (variable: string, value: string, expected: string) =>
    `Environment variable ${variable}=${JSON.stringify(value)} is not valid: expected ${expected}. Fix or unset ${variable}.`,
  notAService: (value: unknown) =>
    `bootstrap(): ${describe(value)} is not a service. Pass a class decorated with @Loop() (or @OnStart, @OnShutdown, @HealthCheck), an instance of one, or an array of them.`,
  noLoops: (className: string) =>
    `bootstrap(): class ${className} has no loopgroup decorator. Mark a method with @Loop() (or @OnStart, @OnShutdown, @HealthCheck), or leave the class out of bootstrap().`,
  constructorArguments: (className: string, count: number) =>
    `bootstrap(): class ${className} takes ${count} constructor argument(s), so loopgroup cannot create it. Create it yourself and pass the instance: bootstrap(new ${className}(...)).`,
  noServices: () =>
    `bootstrap(): no services given. Pass a class with at least one @Loop() method.`,
  duplicateName: (kind: string, name: string, places?: readonly [string, string]) =>
    `Two ${kind}s are named "${name}"${places ? ` (${places[0]} and ${places[1]})` : ""}. Names must be unique: give one a different name with { name: "..." }${kind === "loop" ? ", or, for parallel copies of one loop, pass one instance and set @Loop({ concurrency: n })" : ""}.`,
  conflictingHealthPorts: (first: string, second: string) =>
    `bootstrap(): services ask for different health ports (${first} and ${second}). Use one @HealthPort, or choose with the healthPort / healthHost options or HEALTH_PORT / HEALTH_HOST.`,
  badSignal: (value: unknown) =>
    `bootstrap(): option "signals" names ${describe(value)}, which is not a signal this process can catch. Use names from os.constants.signals such as "SIGTERM" or "SIGINT"; SIGKILL and SIGSTOP cannot be caught.`,
  badOverrides: (where: string, found: string) =>
    `${where} must be an object of per-loop options such as { "OrderWorker.consume": { concurrency: 8 } }, found ${found}.`,
  nullOverride: (where: string, option: string) =>
    `${where}: option "${option}" is null. Leave the option out to keep what @Loop() declares, or give it a value.`,
  overrideName: (where: string, loop: string) =>
    `${where}["${loop}"]: option "name" cannot be overridden: loops are looked up by it. Rename the loop in its @Loop() decorator.`,
  unknownOverriddenLoop: (where: string, loop: string, known: readonly string[]) =>
    `${where} names loop "${loop}", which this app does not have. Its loops are: ${known.join(", ")}. Use the name without "#n" to set every copy of a loop.`,
  noLoopInApp: (classes: readonly string[]) =>
    `bootstrap(): no @Loop() method in any service (${classes.join(", ")}). An app needs at least one loop: mark a method with @Loop(). Classes with only @OnStart, @OnShutdown or @HealthCheck may join an app that has one.`,
  promClientMissing: () =>
    `bootstrap(): option "metrics" needs prom-client, an optional peer dependency that is not installed. Install it with: npm install prom-client`,
  metricsRegistryInUse: (series: readonly string[]) =>
    `bootstrap() option "metrics": this Registry already holds ${series.slice(0, 3).join(", ")}${series.length > 3 ? ", …" : ""} of an app that is running (an app's loopgroup_* series are removed at its done). Await the other app's done first, or give each app its own Registry (new Registry(), merged for scraping with Registry.merge).`,
  metricsWithoutPort: () =>
    `bootstrap(): metrics: true serves /metrics on the probe port, and probes are off. Set a port (healthPort, HEALTH_PORT or @HealthPort), or pass your own prom-client Registry as metrics: app.probeHandler then serves /metrics on a server you run.`,
  leaderTimings: (rule: string, lease: number, renew: number, retry: number) =>
    `bootstrap() option leaderElection: ${rule} (got leaseDuration ${lease}, renewDeadline ${renew}, retryPeriod ${retry}). client-go's rule is leaseDuration > renewDeadline > 1.2 × retryPeriod > 0; its defaults are 15000, 10000, 2000.`,
  notInCluster: () =>
    `bootstrap() option leaderElection: this process is not in a Kubernetes pod (no KUBERNETES_SERVICE_HOST/PORT), so it cannot reach the API server and will not claim leadership. Run it in a cluster, or set leaderElection.apiServer or LOOPGROUP_API_SERVER (for example "http://127.0.0.1:8001" with kubectl proxy or npx loopgroup fake-apiserver).`,
  noLease: () =>
    `bootstrap() option leaderElection: no Lease name. Pass leaderElection.lease (for example "report-service") or set LOOPGROUP_LEASE.`,
  singletonWithoutElection: (loops: readonly string[]) =>
    `bootstrap(): ${loops.join(", ")} ${loops.length === 1 ? "is a singleton loop" : "are singleton loops"} (@Loop({ singleton: true })), but no leaderElection is configured. Pass leaderElection: { lease: "<name>" } to bootstrap() or set LOOPGROUP_LEASE=<name>, or drop singleton.`,
  shardedWithoutElection: (loops: readonly string[]) =>
    `bootstrap(): ${loops.join(", ")} ${loops.length === 1 ? "is a sharded loop" : "are sharded loops"} (@Loop({ shards: n })), but no leaderElection is configured: shards are owned through Leases. Pass leaderElection: { lease: "<name>" } to bootstrap() or set LOOPGROUP_LEASE=<name>, or drop shards.`,
  shardSlugClash: (a: string, b: string, slug: string) =>
    `bootstrap(): sharded loops ${a} and ${b} have the same Lease slug "${slug}" (the loop name lowercased, runs of other characters as "-"), so their shard Leases would collide. Rename one with @Loop({ name: "..." }).`,
  shardSlugReserved: (loop: string, slug: string) =>
    `bootstrap(): sharded loop ${loop} has the Lease slug "${slug}", which starts with "member": its shard Leases (<lease>-${slug}-<index>) could be taken for a replica's member Lease (<lease>-member-<identity>). Rename it with @Loop({ name: "..." }).`,
  probeThreadFailed: (cause: string) =>
    `The probe thread could not start: ${cause}. Probes in a worker thread need Node.js worker_threads; turn thread mode off (healthThread: false) to serve probes from the main thread.`,
  secondApp: () =>
    `bootstrap(): another app in this process already owns it (it was bootstrapped with exit: true and has not finished). One app per process: pass every service to one bootstrap([A, B]), or give the second one exit: false.`,
  startupFailed: (name: string, cause: string) =>
    `Startup failed in @OnStart() hook ${name}: ${cause}. No loop was started.`,
  listenFailed: (host: string, port: number, code: string, cause: string) => {
    const hint =
      code === "EADDRINUSE"
        ? "Another process is using it: stop that process or choose another port (HEALTH_PORT, the healthPort option or @HealthPort)."
        : code === "EACCES"
          ? "The process may not bind it: use a port above 1023 or grant the capability."
          : code === "EADDRNOTAVAIL" || code === "ENOTFOUND"
            ? "The host is not an address of this machine: use 0.0.0.0, 127.0.0.1 or ::."
            : "Check the host and port.";
    return `Health server cannot listen on ${host}:${port} (${code}): ${cause}. ${hint}`;
  },
} as const;

/** Short description of a value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (typeof value === "function")
    return value.name ? `function ${value.name}` : "an anonymous function";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") {
    return String(value);
  }
  if (typeof value === "symbol") return value.toString();
  if (Array.isArray(value)) return "an array";
  const ctor = (value as { constructor?: { name?: string } }).constructor?.name;
  return ctor && ctor !== "Object" ? `an instance of ${ctor}` : "an object";
}

/**
 * A kubeconfig user's `exec` credential plugin, as client-go runs it
 * (plugin/pkg/client/auth/exec): the command with its args, the process's
 * environment plus the plugin's `env` and `KUBERNETES_EXEC_INFO` (an
 * ExecCredential whose spec says `interactive: false`, with the cluster when
 * `provideClusterInfo` is set), stdin closed. Its stdout is an ExecCredential
 * of the same apiVersion whose status carries a bearer `token` or a client
 * certificate (`clientCertificateData` with `clientKeyData`), kept until
 * `expirationTimestamp` and dropped after a 401. Loaded with kubeconfig.ts only.
 */
import { execFile } from "node:child_process";

/** The ExecCredential versions client-go still speaks (v1alpha1 was removed in 1.24). */
export const EXEC_API_VERSIONS = [
  "client.authentication.k8s.io/v1",
  "client.authentication.k8s.io/v1beta1",
] as const;

/** A kubeconfig user's `exec` entry, paths resolved. */
export interface ExecConfig {
  readonly apiVersion: (typeof EXEC_API_VERSIONS)[number];
  readonly command: string;
  readonly args: readonly string[];
  readonly env: readonly { readonly name: string; readonly value: string }[];
  readonly installHint: string | undefined;
  /** KUBERNETES_EXEC_INFO's `spec.cluster`, when the entry has `provideClusterInfo: true`. */
  readonly cluster: Record<string, unknown> | undefined;
}

/** What a plugin returned. */
export interface ExecCredential {
  readonly token: string | undefined;
  readonly cert: Buffer | undefined;
  readonly key: Buffer | undefined;
  /** Epoch ms after which it is run again; undefined: kept until a 401. */
  readonly expiresAt: number | undefined;
}

/** The plugin could not be run, failed, or printed no usable ExecCredential. */
export class ExecCredentialError extends Error {
  override readonly name = "ExecCredentialError";
}

/** Runs a command; resolves with its stdout, rejects with its exit and stderr. */
export type PluginRunner = (
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
) => Promise<string>;

/** A plugin that runs longer than this is killed (client-go has no bound; a hung one would stall election). */
export const EXEC_TIMEOUT_MS = 60_000;

const runPlugin: PluginRunner = (command, args, env) =>
  new Promise((resolve, reject) => {
    const child = execFile(
      command,
      [...args],
      { env, timeout: EXEC_TIMEOUT_MS, maxBuffer: 1024 * 1024, windowsHide: true },
      (error, stdout, stderr) => {
        if (error === null) resolve(stdout);
        else reject(Object.assign(error as Error, { stderr }));
      },
    );
    child.stdin?.end();
  });

/**
 * The credential of one `exec` user: runs the plugin on first use, keeps
 * what it returns until its expiry, and runs it again after that or after
 * {@link ExecCredentialSource.invalidate} (a 401). Concurrent callers share one run.
 */
export class ExecCredentialSource {
  private cached: ExecCredential | undefined;
  private running: Promise<ExecCredential> | undefined;
  /** How many times the plugin ran. */
  runs = 0;

  constructor(
    private readonly config: ExecConfig,
    private readonly run: PluginRunner = runPlugin,
    private readonly wallClock: () => number = () => Date.now(),
  ) {}

  /** The current credential, running the plugin when there is none or it expired. */
  async get(): Promise<ExecCredential> {
    const cached = this.cached;
    if (cached && (cached.expiresAt === undefined || this.wallClock() < cached.expiresAt)) {
      return cached;
    }
    this.cached = undefined;
    this.running ??= this.fetch().finally(() => (this.running = undefined));
    return this.running;
  }

  /** Drops the kept credential (the API server answered 401); true when there was one to drop. */
  invalidate(): boolean {
    const had = this.cached !== undefined;
    this.cached = undefined;
    return had;
  }

  private async fetch(): Promise<ExecCredential> {
    const { config } = this;
    const info = {
      apiVersion: config.apiVersion,
      kind: "ExecCredential",
      spec: { interactive: false, ...(config.cluster && { cluster: config.cluster }) },
    };
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const { name, value } of config.env) env[name] = value;
    env.KUBERNETES_EXEC_INFO = JSON.stringify(info);
    this.runs += 1;
    let stdout: string;
    try {
      stdout = await this.run(config.command, config.args, env);
    } catch (error) {
      const failure = error as { code?: unknown; stderr?: unknown; message?: unknown };
      const stderr = typeof failure.stderr === "string" ? failure.stderr.trim().slice(-500) : "";
      const why =
        failure.code === "ENOENT"
          ? `was not found${config.installHint ? ` (${config.installHint.trim()})` : ""}`
          : `failed: ${stderr || String(failure.message)}`;
      throw this.fail(why);
    }
    const credential = this.parse(stdout);
    this.cached = credential;
    return credential;
  }

  private parse(stdout: string): ExecCredential {
    let output: unknown;
    try {
      output = JSON.parse(stdout);
    } catch {
      throw this.fail(`printed no JSON ExecCredential (${JSON.stringify(stdout.slice(0, 80))})`);
    }
    const body = (typeof output === "object" && output !== null ? output : {}) as {
      apiVersion?: unknown;
      kind?: unknown;
      status?: Record<string, unknown>;
    };
    if (body.kind !== "ExecCredential" || body.apiVersion !== this.config.apiVersion) {
      throw this.fail(
        `printed kind ${String(body.kind)}, apiVersion ${String(body.apiVersion)}: ` +
          `expected an ExecCredential of ${this.config.apiVersion}, the exec entry's apiVersion`,
      );
    }
    const status = body.status ?? {};
    const text = (field: string): string | undefined => {
      const value = status[field];
      return typeof value === "string" && value !== "" ? value : undefined;
    };
    const token = text("token");
    const cert = text("clientCertificateData");
    const key = text("clientKeyData");
    if ((cert === undefined) !== (key === undefined)) {
      throw this.fail("returned clientCertificateData without clientKeyData, or the reverse");
    }
    if (token === undefined && cert === undefined) {
      throw this.fail(
        "returned neither status.token nor status.clientCertificateData/clientKeyData",
      );
    }
    const expiry = text("expirationTimestamp");
    const expiresAt = expiry === undefined ? undefined : Date.parse(expiry);
    if (expiresAt !== undefined && Number.isNaN(expiresAt)) {
      throw this.fail(
        `returned expirationTimestamp ${JSON.stringify(expiry)}, not an RFC 3339 time`,
      );
    }
    return {
      token,
      cert: cert === undefined ? undefined : Buffer.from(cert),
      key: key === undefined ? undefined : Buffer.from(key),
      expiresAt,
    };
  }

  private fail(why: string): ExecCredentialError {
    return new ExecCredentialError(
      `kubeconfig exec credential plugin ${JSON.stringify(this.config.command)} ${why}. ` +
        `Run the command yourself to see its output, or fix the user's exec entry in your kubeconfig.`,
    );
  }
}

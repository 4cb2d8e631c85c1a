/**
 * The Lease client's endpoint from a kubeconfig, as kubectl reads it
 * (client-go tools/clientcmd), for a process outside a pod with no
 * `apiServer`: the first file of `KUBECONFIG` or `~/.kube/config`, its
 * current context, that context's cluster (`server` with its path prefix,
 * `certificate-authority` / `-data`, `insecure-skip-tls-verify`,
 * `tls-server-name`) and user (`token`, `tokenFile`, `client-certificate` /
 * `-data` with `client-key` / `-data`, or an `exec` plugin), and the
 * context's namespace. Relative paths resolve against the kubeconfig's
 * directory. Loaded by election.ts only on that path, and it alone loads the
 * YAML parser (the `yaml` package, with no dependencies of its own).
 */
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { delimiter, dirname, join, resolve, sep } from "node:path";
import { ConfigurationError } from "../errors.js";
import { EXEC_API_VERSIONS, ExecCredentialSource, type ExecConfig } from "./exec-credential.js";
import type { ApiEndpoint, Credentials } from "./lease-client.js";
import { ServiceAccountToken, TokenError } from "./token.js";

/** What the kubeconfig gave: the endpoint, and the context's namespace for the Lease. */
export interface Kubeconfig {
  /** The file read. */
  readonly path: string;
  /** The current context's name. */
  readonly context: string;
  /** The context's namespace, or undefined when it names none. */
  readonly namespace: string | undefined;
  readonly endpoint: ApiEndpoint;
  /** The exec plugin's credential, when the user has one (tests count its runs). */
  readonly exec: ExecCredentialSource | undefined;
}

type Entry = Record<string, unknown>;

const FIX =
  "Point KUBECONFIG at a working kubeconfig (kubectl config view --minify shows the one kubectl uses), " +
  "run in a cluster, or set leaderElection.apiServer or LOOPGROUP_API_SERVER " +
  '(for example "http://127.0.0.1:8001" with kubectl proxy or npx loopgroup fake-apiserver).';

/** The file kubectl would read first: `KUBECONFIG`'s first entry, else `$HOME/.kube/config`. */
export function kubeconfigPath(env: NodeJS.ProcessEnv): { path: string; from: string } {
  const first = (env.KUBECONFIG ?? "").split(delimiter).find((entry) => entry !== "");
  if (first !== undefined) return { path: resolve(first), from: "KUBECONFIG" };
  const home = env.HOME || env.USERPROFILE || homedir();
  return { path: join(home, ".kube", "config"), from: "the default, as KUBECONFIG is not set" };
}

/** Reads and checks the current context; a ConfigurationError says what was looked for and the fix. */
export async function loadKubeconfig(env: NodeJS.ProcessEnv): Promise<Kubeconfig> {
  const { path, from } = kubeconfigPath(env);
  const where = `bootstrap() option leaderElection: this process is not in a Kubernetes pod (no KUBERNETES_SERVICE_HOST/PORT) and has no apiServer, so it reads the kubeconfig ${path} (${from})`;
  const fail = (what: string): ConfigurationError =>
    new ConfigurationError(`${where}, but ${what}. ${FIX}`);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    throw fail(code === "ENOENT" ? "there is no such file" : `it cannot be read (${String(code)})`);
  }
  const { parse } = await import("yaml");
  let config: unknown;
  try {
    config = parse(text);
  } catch (error) {
    throw fail(`it is not YAML (${error instanceof Error ? error.message.split("\n")[0] : ""})`);
  }
  const root = asEntry(config);
  const base = dirname(path);
  const file = (value: unknown): string | undefined =>
    typeof value === "string" && value !== "" ? resolve(base, value) : undefined;
  const contextName = root["current-context"];
  if (typeof contextName !== "string" || contextName === "") {
    throw fail("it has no current-context (kubectl config use-context <name> sets one)");
  }
  const named = (list: string, name: string, kind: string): Entry => {
    const found = (Array.isArray(root[list]) ? (root[list] as unknown[]) : [])
      .map(asEntry)
      .find((item) => item.name === name);
    if (found === undefined) throw fail(`it has no ${list} entry named "${name}"`);
    return asEntry(found[kind]);
  };
  const context = named("contexts", contextName, "context");
  const clusterName = context.cluster;
  if (typeof clusterName !== "string" || clusterName === "") {
    throw fail(`context "${contextName}" names no cluster`);
  }
  const cluster = named("clusters", clusterName, "cluster");
  const user =
    typeof context.user === "string" && context.user !== ""
      ? named("users", context.user, "user")
      : {};
  const userName = typeof context.user === "string" ? context.user : "";

  let url: URL | undefined;
  try {
    url = typeof cluster.server === "string" ? new URL(cluster.server) : undefined;
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== "https:" && url.protocol !== "http:")) {
    throw fail(`cluster "${clusterName}" has no http(s) server (${String(cluster.server)})`);
  }
  const serverName = cluster["tls-server-name"];
  const readPem = async (dataField: string, fileField: string, of: Entry, owner: string) => {
    const data = of[dataField];
    if (typeof data === "string" && data !== "") return Buffer.from(data, "base64");
    const name = file(of[fileField]);
    if (name === undefined) return undefined;
    try {
      return await readFile(name);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      throw fail(`${owner}'s ${fileField} ${name} cannot be read (${String(code)})`);
    }
  };
  const clusterOwner = `cluster "${clusterName}"`;
  const ca = await readPem(
    "certificate-authority-data",
    "certificate-authority",
    cluster,
    clusterOwner,
  );
  const insecure = cluster["insecure-skip-tls-verify"] === true;
  if (insecure && ca !== undefined) {
    // client-go refuses the pair: a CA with verification off means nothing.
    throw fail(`${clusterOwner} sets both insecure-skip-tls-verify and a certificate-authority`);
  }

  const userOwner = `user "${userName}"`;
  if (user["auth-provider"] !== undefined) {
    const named = asEntry(user["auth-provider"]).name;
    const provider = typeof named === "string" ? named : "";
    throw fail(
      `${userOwner} uses auth-provider "${provider}", which client-go removed (1.26): ` +
        "switch it to its exec credential plugin (gke-gcloud-auth-plugin, kubelogin), as kubectl now requires",
    );
  }
  if (user.username !== undefined || user.password !== undefined) {
    throw fail(`${userOwner} uses username/password (basic auth), which this client does not send`);
  }
  const cert = await readPem("client-certificate-data", "client-certificate", user, userOwner);
  const key = await readPem("client-key-data", "client-key", user, userOwner);
  if ((cert === undefined) !== (key === undefined)) {
    throw fail(
      `${userOwner} has a client certificate without its key, or a key without its certificate`,
    );
  }
  const staticToken = typeof user.token === "string" && user.token !== "" ? user.token : undefined;
  const tokenFile = file(user.tokenFile);
  const tokenSource = tokenFile === undefined ? undefined : new KubeconfigTokenFile(tokenFile);
  const exec = user.exec === undefined ? undefined : execSource(asEntry(user.exec), userOwner);

  const credentials = async (): Promise<Credentials> => {
    const file = cert && key ? { cert, key } : undefined;
    if (tokenSource !== undefined) {
      try {
        return { token: await tokenSource.read(), ...file };
      } catch (error) {
        if (staticToken === undefined) throw error;
      }
    }
    if (staticToken !== undefined) return { token: staticToken, ...file };
    if (exec === undefined) return { ...file };
    const got = await exec.get();
    // A client certificate in the kubeconfig is kept; the plugin's is used when there is none.
    return { token: got.token, ...(file ?? { cert: got.cert, key: got.key }) };
  };
  const prefix = url.pathname.replace(/\/+$/, "");
  const endpoint: ApiEndpoint = {
    url: `${url.origin}${prefix}`,
    ca,
    rejectUnauthorized: !insecure,
    servername: typeof serverName === "string" && serverName !== "" ? serverName : undefined,
    // As client-go: tokenFile (re-read when it changes) over token; a static token over exec.
    token: async () => (await credentials()).token,
    credentials,
    unauthorized: exec === undefined ? undefined : () => exec.invalidate(),
  };
  const namespace =
    typeof context.namespace === "string" && context.namespace !== ""
      ? context.namespace
      : undefined;
  return { path, context: contextName, namespace, endpoint, exec };

  function execSource(entry: Entry, owner: string): ExecCredentialSource {
    const apiVersion = entry.apiVersion;
    if (!EXEC_API_VERSIONS.includes(apiVersion as ExecConfig["apiVersion"])) {
      throw fail(
        `${owner}'s exec apiVersion is ${JSON.stringify(apiVersion)}: use ${EXEC_API_VERSIONS.join(" or ")}`,
      );
    }
    if (entry.interactiveMode === "Always") {
      // As client-go without a terminal: the plugin would wait for input that never comes.
      throw fail(
        `${owner}'s exec has interactiveMode Always, and the Lease client runs plugins without a terminal`,
      );
    }
    const command = entry.command;
    if (typeof command !== "string" || command === "") throw fail(`${owner}'s exec has no command`);
    const args = Array.isArray(entry.args) ? entry.args.map(String) : [];
    const env = (Array.isArray(entry.env) ? entry.env : []).map(asEntry).map((item) => {
      if (typeof item.name !== "string" || item.name === "") {
        throw fail(`${owner}'s exec env has an entry without a name`);
      }
      const value = item.value;
      return {
        name: item.name,
        value: typeof value === "string" ? value : JSON.stringify(value ?? ""),
      };
    });
    const cluster = entry.provideClusterInfo === true ? clusterInfo() : undefined;
    return new ExecCredentialSource({
      apiVersion: apiVersion as ExecConfig["apiVersion"],
      // As client-go: a command with a path separator is a path relative to the kubeconfig; a bare name is looked up on PATH.
      command: command.includes(sep) || command.includes("/") ? resolve(base, command) : command,
      args,
      env,
      installHint: typeof entry.installHint === "string" ? entry.installHint : undefined,
      cluster,
    });
  }

  function clusterInfo(): Record<string, unknown> {
    const extensions = Array.isArray(cluster.extensions) ? cluster.extensions.map(asEntry) : [];
    const config = extensions.find((item) => item.name === "client.authentication.k8s.io/exec");
    return {
      server: cluster.server,
      ...(typeof serverName === "string" && { "tls-server-name": serverName }),
      ...(ca && { "certificate-authority-data": ca.toString("base64") }),
      ...(insecure && { "insecure-skip-tls-verify": true }),
      ...(config?.extension !== undefined && { config: config.extension }),
    };
  }
}

function asEntry(value: unknown): Entry {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Entry)
    : {};
}

/** A kubeconfig user's tokenFile: read as the service-account token is, its errors naming the kubeconfig. */
class KubeconfigTokenFile extends ServiceAccountToken {
  protected override fail(what: string): TokenError {
    return new TokenError(
      `the kubeconfig user's tokenFile ${this.path} ${what}: no request is sent without credentials. ` +
        "Write the token there, or fix the user's tokenFile in your kubeconfig.",
      this.path,
    );
  }
}

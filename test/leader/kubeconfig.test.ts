// Kubeconfig outside a pod: every credential kind against the testing kit's FakeLeaseServer
// served over HTTPS (real TLS on 127.0.0.1), with a CA, a server certificate and a client
// certificate that openssl makes for this run, and exec plugins as small node scripts. Only
// the plugin spawns take real time; the exec expiry is driven by a fake Date.
import { expect } from "chai";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sinon from "sinon";
import { stringify } from "yaml";
import { ConfigurationError } from "../../src/errors.js";
import { createElection, leaseKit } from "../../src/leader/election.js";
import { LeaderGate } from "../../src/leader/gate.js";
import { ExecCredentialSource } from "../../src/leader/exec-credential.js";
import { loadKubeconfig, type Kubeconfig } from "../../src/leader/kubeconfig.js";
import { LeaseApiError, LeaseClient } from "../../src/leader/lease-client.js";
import { needsKubeconfig, resolveLeaderElection } from "../../src/leader/options.js";
import { FakeLeaseServer } from "../../src/testing.js";
import { makeCertificates } from "../helpers/certificates.js";
import { recordingLogger } from "../helpers/logger.js";

/** The exec plugin: counts its runs in runs.log, records KUBERNETES_EXEC_INFO, answers by MODE. */
const PLUGIN = `
const fs = require("node:fs");
const log = process.env.PLUGIN_LOG;
fs.appendFileSync(log, process.env.KUBERNETES_EXEC_INFO + "\\n");
const run = fs.readFileSync(log, "utf8").trim().split("\\n").length;
const mode = process.env.MODE;
if (mode === "fail") { process.stderr.write("login required: run sso-login"); process.exit(3); }
if (mode === "bad-json") { process.stdout.write("Welcome!"); process.exit(0); }
const status = mode === "cert"
  ? { clientCertificateData: fs.readFileSync(process.env.CERT, "utf8"), clientKeyData: fs.readFileSync(process.env.KEY, "utf8") }
  : { token: "exec-token-" + run };
if (process.env.EXPIRY) status.expirationTimestamp = process.env.EXPIRY;
const apiVersion = JSON.parse(process.env.KUBERNETES_EXEC_INFO).apiVersion;
process.stdout.write(JSON.stringify({ apiVersion, kind: "ExecCredential", status }));
`;

describe("kubeconfig outside a pod (FakeLeaseServer over HTTPS, openssl certificates)", function () {
  this.timeout(20_000);
  let dir: string;
  let api: FakeLeaseServer;
  let pem: (name: string) => Promise<string>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "loopgroup-kubeconfig-"));
    await makeCertificates(dir);
    pem = (name) => readFile(join(dir, name), "utf8");
    await writeFile(join(dir, "plugin.cjs"), PLUGIN);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  beforeEach(async () => {
    api = await FakeLeaseServer.start({
      tls: {
        key: await pem("server.key"),
        cert: await pem("server.crt"),
        ca: await pem("ca.crt"),
        requestCert: true,
      },
    });
  });
  afterEach(async () => {
    sinon.restore();
    await api.close();
  });

  let written = 0;
  /** Writes a kubeconfig with one context (cluster c, user u) into the temp dir; returns its env. */
  async function kubeconfig(
    cluster: Record<string, unknown>,
    user: Record<string, unknown>,
    context: Record<string, unknown> = {},
  ): Promise<NodeJS.ProcessEnv> {
    const file = join(dir, `config-${(written += 1)}`);
    const config = {
      apiVersion: "v1",
      kind: "Config",
      "current-context": "laptop",
      clusters: [{ name: "c", cluster: { server: api.url, ...cluster } }],
      users: [{ name: "u", user }],
      contexts: [{ name: "laptop", context: { cluster: "c", user: "u", ...context } }],
    };
    await writeFile(file, stringify(config));
    return { KUBECONFIG: `${file}:${join(dir, "ignored")}`, HOME: dir };
  }

  async function client(env: NodeJS.ProcessEnv): Promise<{ lease: LeaseClient; kube: Kubeconfig }> {
    const kube = await loadKubeconfig(env);
    return { lease: new LeaseClient(kube.endpoint, "jobs", "report", 5_000), kube };
  }

  const base64 = async (name: string): Promise<string> =>
    Buffer.from(await pem(name)).toString("base64");

  it("token, with certificate-authority as a path relative to the kubeconfig's directory", async () => {
    const { lease } = await client(
      await kubeconfig({ "certificate-authority": "ca.crt" }, { token: "abc" }),
    );
    expect(await lease.get()).to.equal(undefined);
    expect(api.requests.map((r) => r.authorization)).to.deep.equal(["Bearer abc"]);
  });

  it("tokenFile (relative), re-read when it changes", async () => {
    await writeFile(join(dir, "token"), "from-file-1\n");
    const env = await kubeconfig({ "certificate-authority": "ca.crt" }, { tokenFile: "token" });
    const { lease } = await client(env);
    await lease.get();
    await writeFile(join(dir, "token"), "from-file-22\n");
    await lease.get();
    expect(api.requests.map((r) => r.authorization)).to.deep.equal([
      "Bearer from-file-1",
      "Bearer from-file-22",
    ]);
  });

  it("client-certificate and client-key files, with certificate-authority-data", async () => {
    const env = await kubeconfig(
      { "certificate-authority-data": await base64("ca.crt") },
      { "client-certificate": "client.crt", "client-key": join(dir, "client.key") },
    );
    const { lease } = await client(env);
    await lease.get();
    expect(api.requests.map((r) => [r.clientCertificate, r.authorization])).to.deep.equal([
      ["alice", undefined],
    ]);
  });

  it("client-certificate-data and client-key-data", async () => {
    const env = await kubeconfig(
      { "certificate-authority-data": await base64("ca.crt") },
      {
        "client-certificate-data": await base64("client.crt"),
        "client-key-data": await base64("client.key"),
      },
    );
    await (await client(env)).lease.get();
    expect(api.requests[0]?.clientCertificate).to.equal("alice");
  });

  it("insecure-skip-tls-verify reaches a server no CA vouches for; without it the call fails on the certificate", async () => {
    await (
      await client(await kubeconfig({ "insecure-skip-tls-verify": true }, { token: "t" }))
    ).lease.get();
    expect(api.requests).to.have.length(1);
    const { lease } = await client(await kubeconfig({}, { token: "t" }));
    const error = await lease.get().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(LeaseApiError);
    expect((error as LeaseApiError).status).to.equal(0);
    expect((error as Error).message).to.match(/certificate/i);
    expect(api.requests).to.have.length(1);
  });

  it("a CA that did not sign the server's certificate is rejected, and no request arrives", async () => {
    const { lease } = await client(
      await kubeconfig({ "certificate-authority": "other-ca.crt" }, { token: "t" }),
    );
    const error = await lease.get().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as LeaseApiError).status).to.equal(0);
    expect((error as Error).message).to.match(/certificate/i);
    expect(api.requests).to.have.length(0);
  });

  it("keeps the server's path prefix; the context's namespace is the default after POD_NAMESPACE", async () => {
    const env = await kubeconfig(
      { server: `${api.url}/k8s/clusters/c-1/` },
      { token: "t" },
      { namespace: "team-a" },
    );
    const kube = await loadKubeconfig(env);
    expect(kube.endpoint.url).to.equal(`${api.url}/k8s/clusters/c-1`);
    expect(resolveLeaderElection({ lease: "r" }, env, kube).namespace).to.equal("team-a");
    expect(
      resolveLeaderElection({ lease: "r" }, { ...env, POD_NAMESPACE: "pod-ns" }, kube).namespace,
    ).to.equal("pod-ns");
    const none = await loadKubeconfig(await kubeconfig({}, { token: "t" }));
    expect(resolveLeaderElection({ lease: "r" }, env, none).namespace).to.equal("default");
  });

  it("createElection reads it only outside a pod with no apiServer, and elects through it", async () => {
    const env = await kubeconfig(
      { "certificate-authority": "ca.crt" },
      { token: "t" },
      { namespace: "team-a" },
    );
    expect(needsKubeconfig({ lease: "r" }, env)).to.equal(true);
    expect(needsKubeconfig({ lease: "r", apiServer: api.url }, env)).to.equal(false);
    expect(needsKubeconfig({ lease: "r" }, { ...env, LOOPGROUP_API_SERVER: api.url })).to.equal(
      false,
    );
    expect(
      needsKubeconfig(
        { lease: "r" },
        { ...env, KUBERNETES_SERVICE_HOST: "h", KUBERNETES_SERVICE_PORT: "1" },
      ),
    ).to.equal(false);
    const gate = new LeaderGate();
    const { elector } = await createElection(
      { lease: "r", retryPeriod: 100, renewDeadline: 500, leaseDuration: 1_000 },
      env,
      gate,
      recordingLogger(),
    );
    elector.start();
    try {
      for (let i = 0; i < 20_000 && api.lease("team-a", "r") === undefined; i += 1) {
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(api.lease("team-a", "r")?.spec.holderIdentity).to.be.a("string");
    } finally {
      await elector.close();
    }
  });

  it("sharded loops resolve their Leases' endpoint and namespace through it too", async () => {
    const env = await kubeconfig(
      { "certificate-authority": "ca.crt" },
      { token: "t" },
      { namespace: "team-a" },
    );
    const config = await leaseKit.resolve({ lease: "r" }, env);
    expect(config.endpoint.url).to.equal(api.url);
    expect(config.namespace).to.equal("team-a");
    const listed = await leaseKit.connect(config).list("loopgroup.dev/group=r");
    expect(listed).to.deep.equal([]);
  });

  describe("exec credential plugins", () => {
    let log: string;
    beforeEach(async () => {
      log = join(dir, `runs-${(written += 1)}.log`);
      await writeFile(log, "");
    });
    const runs = async (): Promise<Record<string, unknown>[]> =>
      (await readFile(log, "utf8"))
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    const exec = (
      apiVersion: string,
      env: Record<string, string>,
      extra: Record<string, unknown> = {},
    ) => ({
      exec: {
        apiVersion,
        command: process.execPath,
        args: [join(dir, "plugin.cjs")],
        env: Object.entries({ PLUGIN_LOG: log, ...env }).map(([name, value]) => ({ name, value })),
        ...extra,
      },
    });

    it("v1: runs once, keeps the token until expirationTimestamp, then runs again", async () => {
      const clock = sinon.useFakeTimers({
        toFake: ["Date"],
        now: Date.parse("2030-01-01T00:00:00Z"),
      });
      const env = await kubeconfig(
        { "certificate-authority": "ca.crt" },
        exec(
          "client.authentication.k8s.io/v1",
          { EXPIRY: "2030-01-01T01:00:00Z" },
          { interactiveMode: "Never" },
        ),
      );
      const { lease, kube } = await client(env);
      await lease.get();
      await lease.get();
      expect(kube.exec?.runs).to.equal(1);
      clock.tick(3_600_000);
      await lease.get();
      expect(kube.exec?.runs).to.equal(2);
      expect(api.requests.map((r) => r.authorization)).to.deep.equal([
        "Bearer exec-token-1",
        "Bearer exec-token-1",
        "Bearer exec-token-2",
      ]);
      expect((await runs())[0]).to.deep.equal({
        apiVersion: "client.authentication.k8s.io/v1",
        kind: "ExecCredential",
        spec: { interactive: false },
      });
    });

    it("v1beta1: a client certificate, with the cluster in KUBERNETES_EXEC_INFO (provideClusterInfo)", async () => {
      const env = await kubeconfig(
        { "certificate-authority": "ca.crt" },
        exec(
          "client.authentication.k8s.io/v1beta1",
          { MODE: "cert", CERT: join(dir, "client.crt"), KEY: join(dir, "client.key") },
          { provideClusterInfo: true },
        ),
      );
      const { lease } = await client(env);
      await lease.get();
      expect(api.requests.map((r) => [r.clientCertificate, r.authorization])).to.deep.equal([
        ["alice", undefined],
      ]);
      const [info] = await runs();
      expect(info?.apiVersion).to.equal("client.authentication.k8s.io/v1beta1");
      const spec = info?.spec as { cluster: Record<string, unknown> };
      expect(spec.cluster.server).to.equal(api.url);
      expect(spec.cluster["certificate-authority-data"]).to.equal(await base64("ca.crt"));
    });

    it("a 401 drops the kept token, runs the plugin again and sends the call once more", async () => {
      const env = await kubeconfig(
        { "certificate-authority": "ca.crt" },
        exec("client.authentication.k8s.io/v1", {}),
      );
      const stale = await FakeLeaseServer.start({
        tls: { key: await pem("server.key"), cert: await pem("server.crt") },
        authenticate: ({ authorization }) => authorization !== "Bearer exec-token-1",
      });
      try {
        const kube = await loadKubeconfig(env);
        const lease = new LeaseClient(
          { ...kube.endpoint, url: stale.url },
          "jobs",
          "report",
          5_000,
        );
        expect(await lease.get()).to.equal(undefined);
        expect(kube.exec?.runs).to.equal(2);
        expect(stale.requests.map((r) => r.authorization)).to.deep.equal([
          "Bearer exec-token-1",
          "Bearer exec-token-2",
        ]);
      } finally {
        await stale.close();
      }
    });

    it("a 401 with a static token is not retried", async () => {
      const refusing = await FakeLeaseServer.start({
        tls: { key: await pem("server.key"), cert: await pem("server.crt") },
        authenticate: () => false,
      });
      try {
        const kube = await loadKubeconfig(
          await kubeconfig({ "certificate-authority": "ca.crt" }, { token: "t" }),
        );
        const lease = new LeaseClient(
          { ...kube.endpoint, url: refusing.url },
          "jobs",
          "report",
          5_000,
        );
        const error = (await lease.get().catch((e: unknown) => e)) as LeaseApiError;
        expect([error.status, error.reason]).to.deep.equal([401, "Unauthorized"]);
        expect(refusing.requests).to.have.length(1);
      } finally {
        await refusing.close();
      }
    });

    for (const [mode, pattern] of [
      ["fail", /plugin ".*" failed: login required: run sso-login/],
      ["bad-json", /printed no JSON ExecCredential \("Welcome!"\)/],
    ] as const) {
      it(`a plugin that ${mode === "fail" ? "exits non-zero" : "prints no JSON"}: the call fails as a 401 naming the command, nothing is sent`, async () => {
        const env = await kubeconfig(
          { "certificate-authority": "ca.crt" },
          exec("client.authentication.k8s.io/v1", { MODE: mode }),
        );
        const { lease } = await client(env);
        const error = (await lease.get().catch((e: unknown) => e)) as LeaseApiError;
        expect(error).to.be.instanceOf(LeaseApiError);
        expect(error.status).to.equal(401);
        expect(error.message).to.match(pattern);
        expect(api.requests).to.have.length(0);
      });
    }

    it("a command that is not there says so, with the installHint", async () => {
      const env = await kubeconfig(
        {},
        {
          exec: {
            apiVersion: "client.authentication.k8s.io/v1",
            command: "./no-such-plugin",
            installHint: "brew install it",
          },
        },
      );
      const kube = await loadKubeconfig(env);
      const error = (await kube.endpoint.token().catch((e: unknown) => e)) as Error;
      expect(error.message).to.contain(
        `"${join(dir, "no-such-plugin")}" was not found (brew install it)`,
      );
    });
  });

  describe("errors: a ConfigurationError saying what was looked for", () => {
    const refused = async (env: NodeJS.ProcessEnv): Promise<string> => {
      const error = await loadKubeconfig(env).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).to.be.instanceOf(ConfigurationError);
      return (error as Error).message;
    };

    it("KUBECONFIG names a missing file", async () => {
      const message = await refused({ KUBECONFIG: join(dir, "nope"), HOME: dir });
      expect(message).to.contain(`${join(dir, "nope")} (KUBECONFIG), but there is no such file`);
      expect(message).to.contain("LOOPGROUP_API_SERVER");
    });

    it("KUBECONFIG unset and no ~/.kube/config", async () => {
      const message = await refused({ HOME: dir });
      expect(message).to.contain(
        `${join(dir, ".kube", "config")} (the default, as KUBECONFIG is not set)`,
      );
    });

    it("createElection reports it (after the option's own mistakes)", async () => {
      const env = { KUBECONFIG: join(dir, "nope") };
      const gate = new LeaderGate();
      const missing = await createElection({ lease: "r" }, env, gate, recordingLogger()).catch(
        (e: unknown) => e,
      );
      expect((missing as Error).message).to.match(/not in a Kubernetes pod.*no such file/);
      const bad = await createElection({ lease: "Bad_Name" }, env, gate, recordingLogger()).catch(
        (e: unknown) => e,
      );
      expect((bad as Error).message).to.contain("lease");
      expect((bad as Error).message).to.not.contain("kubeconfig");
    });

    it("no current-context; a context naming a missing cluster or user", async () => {
      expect(
        await refused(
          await kubeconfig({}, {}).then(async (env) => {
            const file = String(env.KUBECONFIG).split(":")[0] ?? "";
            await writeFile(
              file,
              (await readFile(file, "utf8")).replace(/current-context: laptop\n/, ""),
            );
            return env;
          }),
        ),
      ).to.contain("it has no current-context");
      expect(await refused(await kubeconfig({}, {}, { cluster: "gone" }))).to.contain(
        'no clusters entry named "gone"',
      );
      expect(await refused(await kubeconfig({}, {}, { user: "nobody" }))).to.contain(
        'no users entry named "nobody"',
      );
    });

    it("auth-provider, half a client certificate, an unknown exec apiVersion, CA with insecure", async () => {
      expect(await refused(await kubeconfig({}, { "auth-provider": { name: "gcp" } }))).to.match(
        /user "u" uses auth-provider "gcp".*exec credential plugin/,
      );
      expect(
        await refused(await kubeconfig({}, { "client-certificate": "client.crt" })),
      ).to.contain("client certificate without its key");
      expect(
        await refused(
          await kubeconfig(
            {},
            { exec: { apiVersion: "client.authentication.k8s.io/v1alpha1", command: "x" } },
          ),
        ),
      ).to.contain("exec apiVersion");
      expect(
        await refused(
          await kubeconfig(
            {},
            {
              exec: {
                apiVersion: "client.authentication.k8s.io/v1",
                command: "x",
                interactiveMode: "Always",
              },
            },
          ),
        ),
      ).to.contain("interactiveMode Always");
      expect(
        await refused(
          await kubeconfig(
            { "certificate-authority": "ca.crt", "insecure-skip-tls-verify": true },
            {},
          ),
        ),
      ).to.contain("both insecure-skip-tls-verify and a certificate-authority");
      expect(
        await refused(await kubeconfig({ "certificate-authority": "missing.crt" }, {})),
      ).to.contain(`certificate-authority ${join(dir, "missing.crt")} cannot be read (ENOENT)`);
    });
  });

  describe("an exec plugin's output is checked (no spawn: the runner is stubbed)", () => {
    const v1 = "client.authentication.k8s.io/v1";
    const source = (stdout: string): ExecCredentialSource =>
      new ExecCredentialSource(
        {
          apiVersion: v1,
          command: "plugin",
          args: [],
          env: [],
          installHint: undefined,
          cluster: undefined,
        },
        () => Promise.resolve(stdout),
      );
    const refused = (status: Record<string, unknown>, apiVersion = v1) =>
      source(JSON.stringify({ apiVersion, kind: "ExecCredential", status }))
        .get()
        .then(
          () => "",
          (e: Error) => e.message,
        );

    it("refuses another apiVersion, half a certificate, no credential, a bad expirationTimestamp", async () => {
      expect(await refused({ token: "t" }, "client.authentication.k8s.io/v1beta1")).to.contain(
        "expected an ExecCredential of client.authentication.k8s.io/v1",
      );
      expect(await refused({ clientCertificateData: "c" })).to.contain("without clientKeyData");
      expect(await refused({})).to.contain("neither status.token nor");
      expect(await refused({ token: "t", expirationTimestamp: "tomorrow" })).to.contain(
        'expirationTimestamp "tomorrow", not an RFC 3339 time',
      );
    });

    it("a token without expirationTimestamp is kept until invalidate(); concurrent callers share one run", async () => {
      const plugin = source(
        JSON.stringify({ apiVersion: v1, kind: "ExecCredential", status: { token: "t" } }),
      );
      const [a, b] = await Promise.all([plugin.get(), plugin.get()]);
      expect([a.token, b.token, plugin.runs]).to.deep.equal(["t", "t", 1]);
      await plugin.get();
      expect(plugin.runs).to.equal(1);
      expect(plugin.invalidate()).to.equal(true);
      expect(plugin.invalidate()).to.equal(false);
      await plugin.get();
      expect(plugin.runs).to.equal(2);
    });
  });

  it("a tokenFile that is missing falls back to the token; without a token the call fails as a 401 naming the file", async () => {
    const both = await loadKubeconfig(
      await kubeconfig(
        { "certificate-authority": "ca.crt" },
        { tokenFile: "absent", token: "fallback" },
      ),
    );
    await new LeaseClient(both.endpoint, "jobs", "r", 5_000).get();
    expect(api.requests.map((r) => r.authorization)).to.deep.equal(["Bearer fallback"]);
    const only = await loadKubeconfig(
      await kubeconfig({ "certificate-authority": "ca.crt" }, { tokenFile: "absent" }),
    );
    const error = (await new LeaseClient(only.endpoint, "jobs", "r", 5_000)
      .get()
      .catch((e: unknown) => e)) as Error;
    expect(error.message).to.contain(
      `the kubeconfig user's tokenFile ${join(dir, "absent")} is missing`,
    );
    expect(api.requests).to.have.length(1);
  });

  it("username/password, an exec without a command or with a nameless env entry, a server that is no URL", async () => {
    const refused = (env: NodeJS.ProcessEnv) =>
      loadKubeconfig(env).then(
        () => "",
        (e: Error) => e.message,
      );
    expect(await refused(await kubeconfig({}, { username: "a", password: "b" }))).to.contain(
      "basic auth",
    );
    expect(
      await refused(
        await kubeconfig({}, { exec: { apiVersion: "client.authentication.k8s.io/v1" } }),
      ),
    ).to.contain("exec has no command");
    expect(
      await refused(
        await kubeconfig(
          {},
          {
            exec: {
              apiVersion: "client.authentication.k8s.io/v1",
              command: "x",
              env: [{ value: "v" }],
            },
          },
        ),
      ),
    ).to.contain("env has an entry without a name");
    expect(await refused(await kubeconfig({ server: "127.0.0.1:6443" }, {}))).to.contain(
      "has no http(s) server",
    );
  });
});

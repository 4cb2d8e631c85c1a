// The laptop path end to end, through the built package (dist's lazy kubeconfig chunk and the
// yaml package it imports): examples/singleton-report with no LOOPGROUP_API_SERVER, only a
// KUBECONFIG whose cluster is the testing kit's FakeLeaseServer over HTTPS and whose user is an
// exec plugin; the Lease lands in the context's namespace.
import { expect } from "chai";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { FakeLeaseServer } from "../../src/testing.js";
import { makeCertificates } from "../helpers/certificates.js";
import { probe } from "../helpers/probe.js";
import { compiled, Worker } from "./helpers.js";

describe("end to end: a singleton loop on a laptop, elected through a kubeconfig", function () {
  this.timeout(30_000);
  let dir: string;
  let api: FakeLeaseServer | undefined;
  const workers: Worker[] = [];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "loopgroup-e2e-kubeconfig-"));
    await makeCertificates(dir);
    await writeFile(
      join(dir, "plugin.cjs"),
      'process.stdout.write(JSON.stringify({ apiVersion: "client.authentication.k8s.io/v1", kind: "ExecCredential", status: { token: "laptop-token" } }));',
    );
  });
  after(() => rm(dir, { recursive: true, force: true }));
  afterEach(async () => {
    workers.splice(0).forEach((w) => w.dispose());
    await api?.close();
    api = undefined;
  });

  const report = (env: Record<string, string>): Worker => {
    const worker = new Worker(compiled("../../examples/singleton-report/main.js"), {
      LOOPGROUP_LEASE: "singleton-report",
      LOOPGROUP_LEASE_DURATION_MS: "3000",
      LOOPGROUP_RENEW_DEADLINE_MS: "2000",
      LOOPGROUP_RETRY_PERIOD_MS: "500",
      LOOPGROUP_LOOPS: JSON.stringify({ "ReportService.report": { interval: 100 } }),
      POD_NAME: "laptop",
      WORK_MS: "20",
      HOME: dir,
      ...env,
    });
    workers.push(worker);
    return worker;
  };

  it("leads with the exec plugin's token over HTTPS, in the context's namespace, and stops cleanly", async () => {
    const pem = (name: string) => readFile(join(dir, name), "utf8");
    const server = await FakeLeaseServer.start({
      tls: { key: await pem("server.key"), cert: await pem("server.crt") },
      authenticate: ({ authorization }) => authorization === "Bearer laptop-token",
    });
    api = server;
    const config = {
      apiVersion: "v1",
      kind: "Config",
      "current-context": "laptop",
      clusters: [{ name: "c", cluster: { server: server.url, "certificate-authority": "ca.crt" } }],
      users: [
        {
          name: "me",
          user: {
            exec: {
              apiVersion: "client.authentication.k8s.io/v1",
              command: process.execPath,
              args: ["plugin.cjs"].map((f) => join(dir, f)),
              interactiveMode: "Never",
            },
          },
        },
      ],
      contexts: [{ name: "laptop", context: { cluster: "c", user: "me", namespace: "team-a" } }],
    };
    await writeFile(join(dir, "config"), stringify(config));
    const worker = report({ KUBECONFIG: join(dir, "config") });
    const port = await worker.port();
    const began = performance.now();
    let view: { leader?: { isLeader: boolean } } = {};
    while (view.leader?.isLeader !== true) {
      if (performance.now() - began > 10_000) throw new Error(`no leader: ${worker.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
      view = (await probe(port, "/health/ready?verbose")).json as typeof view;
    }
    expect(server.lease("team-a", "singleton-report")?.spec.holderIdentity).to.match(/^laptop_/);
    expect(server.requests.every((r) => r.authorization === "Bearer laptop-token")).to.equal(true);
    worker.kill("SIGTERM");
    expect((await worker.exited).code).to.equal(0);
  });

  it("with no kubeconfig at all, exits 1 saying where it looked and how to fix it", async () => {
    const worker = report({});
    expect((await worker.exited).code).to.equal(1);
    expect(worker.stderr + worker.stdout).to.contain(
      `reads the kubeconfig ${join(dir, ".kube", "config")} (the default, as KUBECONFIG is not set), but there is no such file`,
    );
  });
});

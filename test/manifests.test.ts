/**
 * The example manifests and Dockerfile in examples/kubernetes/, checked as an
 * operator would rely on them: every object schema-validated, the pods
 * hardened, the grace period above the shutdown budget, the probes aimed at
 * the HealthServer's real endpoints and port, and the Role allowing exactly
 * the requests the Lease client sends.
 */
import { expect } from "chai";
import { readdirSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { validate as validateDockerfile } from "dockerfile-utils";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { HealthServer } from "../src/index.js";
import { LeaseClient } from "../src/leader/lease-client.js";
import { leadershipEvent } from "../src/leader/events.js";
import { microTime } from "../src/leader/record.js";
import { probe } from "./helpers/probe.js";

const dir = fileURLToPath(new URL("../../examples/kubernetes/", import.meta.url));

/** A Kubernetes object as read from YAML. */
interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  rules?: PolicyRule[];
  subjects?: { kind: string; name: string }[];
  roleRef?: { kind: string; name: string };
}
interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  verbs: string[];
}
interface Probe {
  httpGet: { path: string; port: string | number };
  periodSeconds?: number;
  failureThreshold?: number;
  timeoutSeconds?: number;
}
interface Container {
  name: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string }[];
  ports?: { name?: string; containerPort: number }[];
  securityContext?: Record<string, unknown>;
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
}
interface PodSpec {
  serviceAccountName?: string;
  terminationGracePeriodSeconds?: number;
  securityContext?: Record<string, unknown>;
  topologySpreadConstraints?: { topologyKey: string }[];
  containers: Container[];
}
interface DeploymentSpec {
  replicas?: number;
  selector: { matchLabels: Record<string, string> };
  template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
}

/** A compiled JSON-schema validator as kubernetes-models ships them (ajv standalone). */
type Validator = ((data: unknown) => boolean) & {
  errors?: { instancePath: string; keyword: string; params?: unknown }[] | null;
};

const require = createRequire(import.meta.url);
/** kubernetes-models' schema of each kind the examples use (the Kubernetes OpenAPI schemas). */
const schemaFiles: Record<string, string> = {
  "apps/v1/Deployment": "kubernetes-models/_schemas/IoK8sApiAppsV1Deployment",
  "autoscaling/v2/HorizontalPodAutoscaler":
    "kubernetes-models/_schemas/IoK8sApiAutoscalingV2HorizontalPodAutoscaler",
  "policy/v1/PodDisruptionBudget": "kubernetes-models/_schemas/IoK8sApiPolicyV1PodDisruptionBudget",
  "rbac.authorization.k8s.io/v1/Role": "kubernetes-models/_schemas/IoK8sApiRbacV1Role",
  "rbac.authorization.k8s.io/v1/RoleBinding":
    "kubernetes-models/_schemas/IoK8sApiRbacV1RoleBinding",
  "v1/ServiceAccount": "kubernetes-models/_schemas/IoK8sApiCoreV1ServiceAccount",
};
/** The PodMonitor CRD's schema: its package exports no _schemas, so it is loaded by file. */
const podMonitorSchema = join(
  dirname(require.resolve("@kubernetes-models/prometheus-operator/package.json")),
  "_schemas/ComGithubPrometheusOperatorPrometheusOperatorPkgApisMonitoringV1PodMonitor.js",
);

async function validatorFor(apiVersion: string, kind: string): Promise<Validator | undefined> {
  const key = `${apiVersion}/${kind}`;
  const specifier =
    key === "monitoring.coreos.com/v1/PodMonitor"
      ? pathToFileURL(podMonitorSchema).href
      : schemaFiles[key];
  if (specifier === undefined) return undefined;
  return ((await import(specifier)) as { validate: Validator }).validate;
}

/**
 * Validates `object` against its schema and also reports every field the
 * schema does not know (the schemas allow unknown fields, so a typo such as
 * `readOnlyRootFileSystem` would pass silently and the API server would drop
 * it). The validator reads each field the schema names; a field it never read,
 * in an object it did not iterate as a map (labels, annotations), is unknown.
 */
function strictProblems(validate: Validator, object: unknown): string[] {
  const reads = new Map<string, Set<string>>();
  const iterated = new Set<string>();
  const track = (value: unknown, path: string): unknown => {
    if (typeof value !== "object" || value === null) return value;
    const read = new Set<string>();
    reads.set(path, read);
    const children = new Map<string, unknown>();
    return new Proxy(value, {
      get(target, key, receiver) {
        const inner: unknown = Reflect.get(target, key, receiver);
        if (typeof key !== "string") return inner;
        read.add(key);
        if (typeof inner !== "object" || inner === null) return inner;
        if (!children.has(key)) children.set(key, track(inner, `${path}/${key}`));
        return children.get(key);
      },
      ownKeys(target) {
        iterated.add(path);
        return Reflect.ownKeys(target);
      },
    });
  };
  const problems = validate(track(object, ""))
    ? []
    : (validate.errors ?? []).map(
        (e) => `${e.instancePath || "/"}: ${e.keyword} ${JSON.stringify(e.params)}`,
      );
  const walk = (value: unknown, path: string): void => {
    if (typeof value !== "object" || value === null) return;
    for (const [key, inner] of Object.entries(value)) {
      if (!iterated.has(path) && reads.get(path)?.has(key) !== true) {
        problems.push(`${path}/${key}: unknown field`);
      }
      walk(inner, `${path}/${key}`);
    }
  };
  walk(object, "");
  return problems;
}

/** Every Kubernetes manifest in examples/kubernetes (the Prometheus rule files are not manifests). */
const manifestFiles = readdirSync(dir).filter(
  (f) => f.endsWith(".yaml") && !f.startsWith("alerts."),
);

function load(file: string): KubeObject[] {
  return parseAllDocuments(readFileSync(`${dir}${file}`, "utf8")).map((doc) => {
    expect(doc.errors, `${file}: YAML errors`).to.deep.equal([]);
    return doc.toJS() as KubeObject;
  });
}

const all = manifestFiles.flatMap((file) => load(file).map((object) => ({ file, object })));
const deployments = all.filter(({ object }) => object.kind === "Deployment");
const env = (c: Container, name: string): string | undefined =>
  c.env?.find((e) => e.name === name)?.value;
const podOf = (o: KubeObject): PodSpec => (o.spec as unknown as DeploymentSpec).template.spec;

/** The hard-exit margin after the shutdown budget (docs/lifecycle.md: budget + 1 s). */
const HARD_EXIT_MARGIN_MS = 1_000;
/** A @HealthCheck's default timeout: readiness timeoutSeconds must be above it. */
const CHECK_TIMEOUT_MS = 1_000;

describe("example manifests (examples/kubernetes)", () => {
  it("finds the manifests: three Deployments with their budgets, RBAC and PodMonitors", () => {
    expect(manifestFiles).to.include.members([
      "deployment.yaml",
      "singleton-report.yaml",
      "tenant-sync.yaml",
      "podmonitor.yaml",
    ]);
    expect(deployments.map(({ object }) => object.metadata.name)).to.have.members([
      "order-worker",
      "singleton-report",
      "tenant-sync",
    ]);
  });

  it("every object is schema-valid for its apiVersion and kind, with no field the schema does not know", async () => {
    for (const { file, object } of all) {
      const validate = await validatorFor(object.apiVersion, object.kind);
      expect(validate, `${file}: no schema for ${object.apiVersion} ${object.kind}`).to.not.equal(
        undefined,
      );
      if (validate === undefined) continue;
      expect(strictProblems(validate, object), `${file}: ${object.kind}`).to.deep.equal([]);
    }
  });

  it("the schema check catches a wrong type and a misspelt field", async () => {
    const object = deployments[0]?.object as KubeObject;
    const validate = (await validatorFor("apps/v1", "Deployment")) as Validator;
    const broken = structuredClone(object) as unknown as { spec: DeploymentSpec };
    const container = broken.spec.template.spec.containers[0] as Container;
    (container.ports?.[0] as { containerPort: unknown }).containerPort = "health";
    container.securityContext = { readOnlyRootFileSystem: true };
    expect(strictProblems(validate, broken)).to.deep.equal([
      '/spec/template/spec/containers/0/ports/0/containerPort: type {"type":"integer"}',
      "/spec/template/spec/containers/0/securityContext/readOnlyRootFileSystem: unknown field",
    ]);
  });

  it("every container runs hardened: non-root, read-only root, no escalation, no capabilities, RuntimeDefault seccomp", () => {
    for (const { file, object } of deployments) {
      const pod = podOf(object);
      for (const c of pod.containers) {
        const where = `${file}: ${c.name}`;
        const sc = { ...pod.securityContext, ...c.securityContext };
        expect(sc.runAsNonRoot, `${where} runAsNonRoot`).to.equal(true);
        expect(sc.runAsUser, `${where} runAsUser (numeric, not 0)`).to.be.a("number").above(0);
        expect(
          c.securityContext?.readOnlyRootFilesystem,
          `${where} readOnlyRootFilesystem`,
        ).to.equal(true);
        expect(
          c.securityContext?.allowPrivilegeEscalation,
          `${where} allowPrivilegeEscalation`,
        ).to.equal(false);
        expect(
          (c.securityContext?.capabilities as { drop?: string[] } | undefined)?.drop,
          `${where} capabilities.drop`,
        ).to.deep.equal(["ALL"]);
        expect(sc.seccompProfile, `${where} seccompProfile`).to.deep.equal({
          type: "RuntimeDefault",
        });
      }
    }
  });

  it("every replicated Deployment has a PodDisruptionBudget and spreads its replicas over nodes", () => {
    for (const { file, object } of deployments) {
      const spec = object.spec as unknown as DeploymentSpec;
      if ((spec.replicas ?? 1) < 2) continue;
      const labels = spec.template.metadata.labels;
      const budget = all.find(
        ({ object: o }) =>
          o.kind === "PodDisruptionBudget" &&
          Object.entries(
            (o.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels,
          ).every(([k, v]) => labels[k] === v),
      );
      expect(budget, `${file}: PodDisruptionBudget for ${object.metadata.name}`).to.not.equal(
        undefined,
      );
      const budgetSpec = budget?.object.spec as { maxUnavailable?: number; minAvailable?: number };
      expect(
        budgetSpec.maxUnavailable ?? (spec.replicas ?? 1) - (budgetSpec.minAvailable ?? 0),
      ).to.be.below(spec.replicas ?? 1);
      expect(
        spec.template.spec.topologySpreadConstraints?.map((t) => t.topologyKey),
        `${file}: topology spread`,
      ).to.include("kubernetes.io/hostname");
    }
  });

  it("the grace period covers the whole shutdown budget plus the hard-exit margin; drain is inside the budget", () => {
    for (const { file, object } of deployments) {
      const pod = podOf(object);
      const [c] = pod.containers as [Container];
      const budget = Number(env(c, "SHUTDOWN_TIMEOUT_MS") ?? 25_000);
      const drain = Number(env(c, "DRAIN_DELAY_MS") ?? 0);
      const grace = (pod.terminationGracePeriodSeconds ?? 30) * 1_000;
      expect(grace, `${file}: terminationGracePeriodSeconds`).to.be.at.least(
        budget + HARD_EXIT_MARGIN_MS,
      );
      expect(drain, `${file}: DRAIN_DELAY_MS comes out of SHUTDOWN_TIMEOUT_MS`).to.be.below(budget);
    }
  });

  it("a worker no Service sends traffic to drains for 0 ms", () => {
    const services = all.filter(({ object }) => object.kind === "Service");
    for (const { file, object } of deployments) {
      const labels = (object.spec as unknown as DeploymentSpec).template.metadata.labels;
      const served = services.some(({ object: s }) =>
        Object.entries((s.spec as { selector?: Record<string, string> }).selector ?? {}).every(
          ([k, v]) => labels[k] === v,
        ),
      );
      if (served) continue;
      for (const c of podOf(object).containers) {
        expect(env(c, "DRAIN_DELAY_MS"), `${file}: ${c.name} DRAIN_DELAY_MS`).to.equal("0");
      }
    }
  });

  describe("probes against a real HealthServer", () => {
    let server: HealthServer;
    let port: number;
    before(async () => {
      server = new HealthServer({ port: 0, host: "127.0.0.1" });
      await server.start();
      port = server.address?.port ?? 0;
    });
    after(() => server.stop());

    it("each probe asks its own endpoint on the port HEALTH_PORT opens; readiness rides out one failed check", async () => {
      const expected = {
        startupProbe: "/health/startup",
        readinessProbe: "/health/ready",
        livenessProbe: "/health/live",
      } as const;
      for (const { file, object } of deployments) {
        for (const c of podOf(object).containers) {
          const healthPort = Number(env(c, "HEALTH_PORT"));
          for (const [kind, path] of Object.entries(expected) as [
            keyof typeof expected,
            string,
          ][]) {
            const p = c[kind];
            const where = `${file}: ${c.name} ${kind}`;
            expect(p?.httpGet.path, where).to.equal(path);
            const named = c.ports?.find((x) => x.name === p?.httpGet.port)?.containerPort;
            expect(named ?? p?.httpGet.port, `${where} port`).to.equal(healthPort);
            const answer = await probe(port, p?.httpGet.path ?? "/");
            expect(answer.status, `${where}: the HealthServer answers ${path}`).to.equal(200);
          }
          expect(
            c.readinessProbe?.failureThreshold,
            `${file}: readiness failureThreshold`,
          ).to.be.at.least(2);
          expect(
            (c.readinessProbe?.timeoutSeconds ?? 1) * 1_000,
            `${file}: readiness timeout`,
          ).to.be.above(CHECK_TIMEOUT_MS);
          const scrape = object.spec as unknown as DeploymentSpec;
          const annotations = (scrape.template.metadata as { annotations?: Record<string, string> })
            .annotations;
          if (annotations?.["prometheus.io/port"] !== undefined) {
            expect(Number(annotations["prometheus.io/port"]), `${file}: scrape port`).to.equal(
              healthPort,
            );
          }
        }
      }
      const unknown = await probe(port, "/healthz");
      expect(unknown.status, "a wrong path would be caught").to.equal(404);
    });
  });

  it("every PodMonitor selects a Deployment's pods and scrapes a port they name", () => {
    const monitors = all.filter(({ object }) => object.kind === "PodMonitor");
    expect(monitors.map(({ object }) => object.metadata.name)).to.have.members([
      "order-worker",
      "singleton-report",
      "tenant-sync",
    ]);
    for (const { file, object } of monitors) {
      const spec = object.spec as {
        selector: { matchLabels: Record<string, string> };
        podMetricsEndpoints: { port: string; path: string }[];
      };
      const target = deployments.find(({ object: d }) =>
        Object.entries(spec.selector.matchLabels).every(
          ([k, v]) => (d.spec as unknown as DeploymentSpec).template.metadata.labels[k] === v,
        ),
      );
      expect(target, `${file}: ${object.metadata.name} selects no Deployment`).to.not.equal(
        undefined,
      );
      if (target === undefined) continue;
      const pod = podOf(target.object);
      for (const endpoint of spec.podMetricsEndpoints) {
        expect(endpoint.path).to.equal("/metrics");
        expect(pod.containers.flatMap((c) => c.ports?.map((p) => p.name) ?? [])).to.include(
          endpoint.port,
        );
        expect(
          // The queue worker maps METRICS itself; the others leave LOOPGROUP_METRICS to loopgroup.
          pod.containers.some(
            (c) => env(c, "METRICS") === "true" || env(c, "LOOPGROUP_METRICS") === "true",
          ),
          `${file}: METRICS on`,
        ).to.equal(true);
      }
    }
  });

  describe("RBAC: the Role allows exactly what the Lease client sends", () => {
    /** Kubernetes' RBAC rule check for one namespaced request. */
    function allowed(
      rules: PolicyRule[],
      verb: string,
      group: string,
      resource: string,
      name?: string,
    ) {
      return rules.some(
        (r) =>
          (r.apiGroups ?? []).some((g) => g === group || g === "*") &&
          (r.resources ?? []).some((x) => x === resource || x === "*") &&
          r.verbs.some((v) => v === verb || v === "*") &&
          // A rule with resourceNames matches only requests that carry one of
          // those names; a create carries no name at authorization time.
          (r.resourceNames === undefined ||
            r.resourceNames.length === 0 ||
            (name !== undefined && r.resourceNames.includes(name))),
      );
    }

    /** Requests the LeaseClient sends (get, create, update) to a recorder on 127.0.0.1. */
    async function leaseRequests(namespace: string, lease: string) {
      const seen: { method: string; path: string }[] = [];
      const server: Server = createServer((req, res) => {
        seen.push({ method: req.method ?? "", path: req.url ?? "" });
        req.resume();
        const body = {
          metadata: { resourceVersion: "1" },
          spec: { holderIdentity: "a", leaseDurationSeconds: 15, leaseTransitions: 0 },
        };
        res.writeHead(req.method === "GET" ? 404 : req.method === "POST" ? 201 : 200, {
          "Content-Type": "application/json",
        });
        res.end(
          JSON.stringify(req.method === "GET" ? { kind: "Status", reason: "NotFound" } : body),
        );
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      try {
        const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        const client = new LeaseClient(
          { url, token: () => Promise.resolve("t0ken"), ca: undefined },
          namespace,
          lease,
          2_000,
        );
        const record = {
          holderIdentity: "a",
          leaseDurationSeconds: 15,
          acquireTime: microTime(Date.now()),
          renewTime: microTime(Date.now()),
          leaseTransitions: 0,
        };
        await client.get();
        const created = await client.create(record);
        await client.update(record, created.resourceVersion); // renew
        await client.update({ ...record, holderIdentity: "" }, created.resourceVersion); // release
        // A leadership Event, as the election writes it through the same client.
        await client.post(
          `/apis/events.k8s.io/v1/namespaces/${namespace}/events`,
          leadershipEvent({ namespace, name: lease }, "a", true, Date.now(), "1"),
        );
      } finally {
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
      return seen;
    }

    it("each request is allowed by the bound Role (the Lease's and the leadership Event's), and get/update only on the one Lease by name", async () => {
      const [report] = deployments.filter(
        ({ object }) => object.metadata.name === "singleton-report",
      );
      expect(report).to.not.equal(undefined);
      const pod = podOf(report?.object as KubeObject);
      const lease = env(pod.containers[0] as Container, "LOOPGROUP_LEASE") ?? "";
      expect(lease).to.equal("singleton-report");
      const binding = all.find(
        ({ object }) =>
          object.kind === "RoleBinding" &&
          object.subjects?.some(
            (s) => s.kind === "ServiceAccount" && s.name === pod.serviceAccountName,
          ),
      );
      const role = all.find(
        ({ object }) =>
          object.kind === "Role" && object.metadata.name === binding?.object.roleRef?.name,
      );
      const rules = role?.object.rules ?? [];
      expect(rules, "the Role bound to the pod's service account").to.not.deep.equal([]);
      const verbs = { GET: "get", POST: "create", PUT: "update" } as Record<string, string>;
      const requests = await leaseRequests("jobs", lease);
      expect(requests.map((r) => r.method)).to.deep.equal(["GET", "POST", "PUT", "PUT", "POST"]);
      const event = requests.pop();
      expect(event?.path).to.equal("/apis/events.k8s.io/v1/namespaces/jobs/events");
      expect(allowed(rules, "create", "events.k8s.io", "events"), "create on events").to.equal(
        true,
      );
      for (const { method, path } of requests) {
        const match =
          /^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/jobs\/leases(?:\/([^/?]+))?$/.exec(path);
        expect(match, path).to.not.equal(null);
        const verb = verbs[method] ?? "?";
        expect(
          allowed(rules, verb, "coordination.k8s.io", "leases", match?.[1]),
          `${method} ${path}`,
        ).to.equal(true);
      }
      // Least privilege: no other Lease can be read or written, nothing can be deleted or listed.
      expect(allowed(rules, "update", "coordination.k8s.io", "leases", "kube-scheduler")).to.equal(
        false,
      );
      expect(allowed(rules, "get", "coordination.k8s.io", "leases", "someone-else")).to.equal(
        false,
      );
      expect(allowed(rules, "delete", "coordination.k8s.io", "leases", lease)).to.equal(false);
      expect(allowed(rules, "list", "coordination.k8s.io", "leases")).to.equal(false);
    });
  });
});

describe("example manifest of a sharded loop (examples/kubernetes/tenant-sync.yaml)", () => {
  const objects = load("tenant-sync.yaml");
  const deployment = objects.find((o) => o.kind === "Deployment") as KubeObject;
  const pod = podOf(deployment);
  const main = readFileSync(
    fileURLToPath(new URL("../../examples/tenant-sync/main.ts", import.meta.url)),
    "utf8",
  );
  const shards = Number(/@Loop\(\{ shards: (\d+)/.exec(main)?.[1]);

  it("binds the pod's service account to a Role with get, list, create, update and delete on leases, and nothing else but Events", () => {
    const binding = objects.find(
      (o) =>
        o.kind === "RoleBinding" &&
        o.subjects?.some((s) => s.kind === "ServiceAccount" && s.name === pod.serviceAccountName),
    );
    const role = objects.find(
      (o) => o.kind === "Role" && o.metadata.name === binding?.roleRef?.name,
    );
    const rules = role?.rules ?? [];
    const leases = rules.filter(
      (r) => r.apiGroups?.includes("coordination.k8s.io") && r.resources?.includes("leases"),
    );
    // Shard and member Leases are named at run time: no resourceNames.
    expect(leases.flatMap((r) => r.verbs).sort()).to.deep.equal([
      "create",
      "delete",
      "get",
      "list",
      "update",
    ]);
    expect(leases.every((r) => (r.resourceNames ?? []).length === 0)).to.equal(true);
    expect(
      rules.filter((r) => !leases.includes(r)).map((r) => [r.apiGroups, r.resources, r.verbs]),
    ).to.deep.equal([[["events.k8s.io"], ["events"], ["create"]]]);
    expect(rules.some((r) => r.verbs.includes("*") || r.resources?.includes("*"))).to.equal(false);
    expect(env(pod.containers[0] as Container, "LOOPGROUP_LEASE")).to.equal("tenant-sync");
  });

  it("scales the Deployment on its sharded loop's utilization, never past the shard count", () => {
    const hpa = objects.find((o) => o.kind === "HorizontalPodAutoscaler");
    const spec = hpa?.spec as {
      scaleTargetRef: { kind: string; name: string };
      minReplicas: number;
      maxReplicas: number;
      metrics: {
        pods: { metric: { name: string; selector: { matchLabels: { loop: string } } } };
      }[];
    };
    expect(spec.scaleTargetRef).to.include({ kind: "Deployment", name: deployment.metadata.name });
    expect(shards).to.equal(16);
    expect(spec.maxReplicas, "a replica past the shard count would own nothing").to.be.at.most(
      shards,
    );
    expect(spec.minReplicas).to.be.at.least(2);
    const metric = spec.metrics[0]?.pods.metric;
    expect(metric?.name).to.equal("loopgroup_loop_utilization");
    expect(metric?.selector.matchLabels.loop).to.equal("TenantSync.sync");
    expect(main).to.match(/class TenantSync\b/);
    expect(main).to.include("ctx.idle()");
  });
});

describe("example Dockerfile (examples/kubernetes/Dockerfile), linted: no Docker engine here", () => {
  const text = readFileSync(`${dir}Dockerfile`, "utf8");
  /** Instructions (keyword, arguments), continuation lines joined, comments dropped. */
  const instructions = text
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => {
      const [keyword = "", ...rest] = l.split(/\s+/);
      return { keyword: keyword.toUpperCase(), args: rest.join(" ") };
    });
  const stages: { keyword: string; args: string }[][] = [];
  for (const i of instructions) {
    if (i.keyword === "FROM") stages.push([]);
    stages.at(-1)?.push(i);
  }
  const final = stages.at(-1) ?? [];
  const last = (keyword: string) => final.filter((i) => i.keyword === keyword).at(-1)?.args;

  it("passes dockerfile-utils' validator with no problem", () => {
    const problems = validateDockerfile(text).map(
      (d) =>
        `${d.range.start.line + 1}: ${typeof d.message === "string" ? d.message : d.message.value}`,
    );
    expect(problems).to.deep.equal([]);
  });

  it("the validator is strict enough to catch a broken instruction", () => {
    expect(validateDockerfile(`${text}\nEXPOSE not-a-port\n`)).to.not.deep.equal([]);
  });

  it("is multi-stage: the runtime stage copies the build from a named build stage", () => {
    expect(stages.length).to.be.at.least(2);
    expect(stages[0]?.[0]?.args).to.match(/ AS build$/i);
    expect(
      final.filter((i) => i.keyword === "COPY").every((i) => i.args.startsWith("--from=build")),
    ).to.equal(true);
    expect(final.some((i) => /npm (ci|install)(?! --omit=dev)/.test(i.args))).to.equal(false);
  });

  it("runs as a numeric non-root user, with tini as PID 1 and node in exec form", () => {
    const user = last("USER") ?? "";
    expect(user).to.match(/^\d+(:\d+)?$/);
    expect(Number(user.split(":")[0])).to.be.above(0);
    expect(JSON.parse(last("ENTRYPOINT") ?? "null")).to.deep.equal(["/usr/bin/tini", "--"]);
    const cmd = JSON.parse(last("CMD") ?? "null") as string[];
    expect(cmd[0]).to.equal("node");
    expect(final.some((i) => i.keyword === "RUN" && /install .*\btini\b/.test(i.args))).to.equal(
      true,
    );
  });

  it("the manifests keep tini: they give args, not command, and run node directly", () => {
    for (const { file, object } of deployments) {
      for (const c of podOf(object).containers) {
        expect(c.command, `${file}: ${c.name} command replaces the ENTRYPOINT`).to.equal(undefined);
        expect(c.args?.[0], `${file}: ${c.name}`).to.equal("node");
      }
    }
  });
});

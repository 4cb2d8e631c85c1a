/**
 * The fake Lease API server's LIST and DELETE rules, and the bodies it shares
 * with src/testing.ts: a LeaseList (items in key order, labelSelector and
 * fieldSelector, limit and continue) and DELETE's preconditions, each as the
 * Kubernetes API server answers them.
 */
/** A Lease as the fake stores it. */
export interface StoredLease {
  metadata: {
    name: string;
    namespace: string;
    resourceVersion: string;
    /** A fresh UUID per create, as the API server gives: a Lease deleted and created again has a new one. */
    uid: string;
    /** Kept from the create or the last update (which replaces them), for `labelSelector`. */
    labels?: Record<string, string>;
    /** Kept from the create or the last update, which replaces them. */
    annotations?: Record<string, string>;
  };
  spec: Record<string, unknown>;
}

/** A Failure Status; with `name`, the details the API server adds for an error about one Lease. */
export function status(
  code: number,
  reason: string,
  message: string,
  name?: string,
): Record<string, unknown> {
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    ...(name === undefined
      ? {}
      : { details: { name, group: "coordination.k8s.io", kind: "leases" } }),
    code,
  };
}

/** A stored Lease as the API server answers it (GET, POST, PUT). */
export function renderLease(lease: StoredLease): Record<string, unknown> {
  return { apiVersion: "coordination.k8s.io/v1", kind: "Lease", ...item(lease) };
}

/** A LeaseList item: a typed list's items carry no kind or apiVersion. */
function item(lease: StoredLease): Record<string, unknown> {
  const { labels, annotations, ...metadata } = lease.metadata;
  return {
    metadata: {
      ...metadata,
      ...(labels ? { labels: { ...labels } } : {}),
      ...(annotations ? { annotations: { ...annotations } } : {}),
    },
    spec: { ...lease.spec },
  };
}

type Requirement = (labels: Record<string, string>) => boolean;

const KEY =
  /^([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?\/)?[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?$/;
const VALUE = /^([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?)?$/;

/** Splits a selector on the commas outside `in (...)` sets. */
function terms(selector: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let current = "";
  for (const char of selector) {
    if (char === "(") depth += 1;
    if (char === ")") depth -= 1;
    if (char === "," && depth === 0) {
      out.push(current);
      current = "";
    } else current += char;
  }
  out.push(current);
  return out.map((t) => t.trim());
}

/**
 * Parses a labelSelector as the API server does (`a=b`, `a==b`, `a!=b`,
 * `a`, `!a`, `a in (x,y)`, `a notin (x)`), or returns the error message it
 * answers 400 with.
 */
export function parseSelector(selector: string): Requirement[] | string {
  if (selector.trim() === "") return [];
  const requirements: Requirement[] = [];
  for (const term of terms(selector)) {
    const set = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
    const equality = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term);
    const exists = /^(!?)\s*([^=!\s()]+)$/.exec(term);
    let key: string;
    let values: string[];
    let requirement: Requirement;
    if (set) {
      key = set[1] ?? "";
      values = (set[3] ?? "").split(",").map((v) => v.trim());
      const inSet = set[2] === "in";
      requirement = (labels) => {
        const value = labels[key];
        return inSet
          ? value !== undefined && values.includes(value)
          : value === undefined || !values.includes(value);
      };
    } else if (equality) {
      key = equality[1] ?? "";
      values = [equality[3] ?? ""];
      const value = values[0];
      requirement =
        equality[2] === "!="
          ? (labels) => labels[key] !== value
          : (labels) => labels[key] === value;
    } else if (exists) {
      key = exists[2] ?? "";
      values = [];
      const negated = exists[1] === "!";
      requirement = (labels) => key in labels !== negated;
    } else {
      return `unable to parse requirement: found '${term}', expected: identifier`;
    }
    if (!KEY.test(key) || key.length > 316) {
      return `unable to parse requirement: values[0][${key}]: Invalid value: "${key}": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`;
    }
    const bad = values.find((v) => !VALUE.test(v) || v.length > 63);
    if (bad !== undefined) {
      return `unable to parse requirement: values[0][${key}]: Invalid value: "${bad}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`;
    }
    requirements.push(requirement);
  }
  return requirements;
}

/** The fields a Lease can be selected by: metadata.name and metadata.namespace, `=`, `==` or `!=`. */
function parseFields(selector: string): ((lease: StoredLease) => boolean)[] | string {
  if (selector.trim() === "") return [];
  const out: ((lease: StoredLease) => boolean)[] = [];
  for (const term of selector.split(",")) {
    const m = /^\s*(metadata\.name|metadata\.namespace)\s*(==|=|!=)\s*(\S*)\s*$/.exec(term);
    if (!m) {
      const field = /^\s*([^=!\s]+)/.exec(term)?.[1] ?? term;
      return `"${field}" is not a known field selector: only "metadata.name", "metadata.namespace"`;
    }
    const field = m[1] === "metadata.name" ? "name" : "namespace";
    const value = m[3] ?? "";
    const negated = m[2] === "!=";
    out.push((lease) => (lease.metadata[field] === value) !== negated);
  }
  return out;
}

/**
 * A LIST of Leases in `namespace` (all namespaces when undefined): a
 * LeaseList with the store's current resourceVersion, items in etcd key
 * order (namespace, then name), filtered by `labelSelector` and
 * `fieldSelector`, paged by `limit` and `continue`; 400 for a selector or
 * continue token it cannot parse.
 */
export function listLeases(
  leases: readonly StoredLease[],
  namespace: string | undefined,
  query: URLSearchParams,
  revision: number,
): { code: number; body: Record<string, unknown> } {
  const labels = parseSelector(query.get("labelSelector") ?? "");
  if (typeof labels === "string") return { code: 400, body: status(400, "BadRequest", labels) };
  const fields = parseFields(query.get("fieldSelector") ?? "");
  if (typeof fields === "string") return { code: 400, body: status(400, "BadRequest", fields) };
  const keyOf = (l: StoredLease): string => `${l.metadata.namespace}/${l.metadata.name}`;
  let after: string | undefined;
  const token = query.get("continue");
  if (token) {
    try {
      const parsed = JSON.parse(Buffer.from(token, "base64").toString("utf8")) as {
        after?: unknown;
      };
      if (typeof parsed.after !== "string") throw new Error("no key");
      after = parsed.after;
    } catch {
      return {
        code: 400,
        body: status(
          400,
          "BadRequest",
          "continue key is not valid: illegal base64 data at input byte 0",
        ),
      };
    }
  }
  const limit = Number(query.get("limit") ?? "0");
  const matching = leases
    .filter((l) => namespace === undefined || l.metadata.namespace === namespace)
    .filter((l) => labels.every((r) => r(l.metadata.labels ?? {})))
    .filter((l) => fields.every((f) => f(l)))
    .sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0))
    .filter((l) => after === undefined || keyOf(l) > after);
  const page = Number.isInteger(limit) && limit > 0 ? matching.slice(0, limit) : matching;
  const last = page.at(-1);
  const more = page.length < matching.length && last !== undefined;
  return {
    code: 200,
    body: {
      kind: "LeaseList",
      apiVersion: "coordination.k8s.io/v1",
      metadata: {
        resourceVersion: String(revision),
        ...(more
          ? {
              continue: Buffer.from(JSON.stringify({ after: keyOf(last) })).toString("base64"),
              remainingItemCount: matching.length - page.length,
            }
          : {}),
      },
      items: page.map(item),
    },
  };
}

/**
 * DELETE's preconditions against the stored Lease, or the Conflict message the
 * API server answers when one does not hold (a storage InvalidObj error
 * wrapped by InterpretDeleteError).
 */
export function preconditionFailure(
  lease: StoredLease,
  preconditions: { uid?: string; resourceVersion?: string } | undefined,
): string | undefined {
  const { name, namespace, uid, resourceVersion } = lease.metadata;
  const mismatch =
    preconditions?.uid !== undefined && preconditions.uid !== uid
      ? `UID in precondition: ${preconditions.uid}, UID in object meta: ${uid}`
      : preconditions?.resourceVersion !== undefined &&
          preconditions.resourceVersion !== resourceVersion
        ? `ResourceVersion in precondition: ${preconditions.resourceVersion}, ResourceVersion in object meta: ${resourceVersion}`
        : undefined;
  if (mismatch === undefined) return undefined;
  return `Operation cannot be fulfilled on leases.coordination.k8s.io "${name}": StorageError: invalid object, Code: 4, Key: /registry/leases/${namespace}/${name}, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: ${mismatch}`;
}

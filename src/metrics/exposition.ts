/**
 * loopgroup's own families in the Prometheus text format 0.0.4, written
 * directly. prom-client's generic path (a label object, a hash and a
 * formatted copy per sample, then one string per line) cost about 90 µs per
 * loop at a scrape of 10 000 loops (docs/benchmarks.md has the profile).
 * A family here is also a prom-client metric (`name`, `help`, `type`,
 * `get()`), so it lives on the caller's Registry and any other use of that
 * registry (`registry.metrics()`, `getMetricsAsJSON()`) sees the same samples.
 * A scrape (`scrapeRegistry`) writes the families as it makes them, in chunks.
 */
import { now } from "../time.js";

/** The sample kinds a family writes. */
export type FamilyType = "counter" | "gauge" | "histogram";

/**
 * Writes one sample line: `name{labels} value`. `labels` is the inside of
 * the braces, already escaped (see {@link label}); "" writes no braces.
 */
export type Emit = (name: string, labels: string, value: number) => void;

/** A label pair as the exposition writes it: `key="value"`, the value escaped. */
export function label(key: string, value: string): string {
  return `${key}="${escapeLabelValue(value)}"`;
}

const NEEDS_ESCAPE = /[\\\n"]/;

/** Backslash, newline and double quote escaped, as text format 0.0.4 asks of a label value. */
export function escapeLabelValue(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return value;
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

/** Backslash and newline escaped, as a HELP text needs. */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** A sample value as prom-client writes it: `+Inf`, `-Inf`, `Nan`, or the number. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "Nan";
  if (!Number.isFinite(value)) return value < 0 ? "-Inf" : "+Inf";
  return `${value}`;
}

/** Inverse of the label text {@link label} writes: `a="x",b="y"` to `{ a: "x", b: "y" }`. */
export function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let at = 0;
  while (at < text.length) {
    const eq = text.indexOf('="', at);
    const key = text.slice(at, eq);
    let value = "";
    let i = eq + 2;
    for (; i < text.length && text[i] !== '"'; i += 1) {
      let ch = text[i] ?? "";
      if (ch === "\\") {
        i += 1;
        const next = text[i];
        ch = next === "n" ? "\n" : (next ?? "");
      }
      value += ch;
    }
    labels[key] = value;
    at = i + 2; // past the closing quote and the comma
  }
  return labels;
}

/** The longest a scrape runs before it lets the event loop (and the probes) have a turn. */
export const SLICE_MS = 4;

/**
 * Paces a long piece of work: `due()` is true once the current slice has run
 * {@link SLICE_MS}; `pause()` then yields one turn of the event loop.
 */
export class Slicer {
  private started = now();

  /** True when the work should pause before going on. */
  due(): boolean {
    return now() - this.started >= SLICE_MS;
  }

  /** Gives the event loop one turn (`setImmediate`, after pending I/O), then starts a new slice. */
  async pause(): Promise<void> {
    await new Promise<void>((resolve) => globalThis.setImmediate(resolve));
    this.started = now();
  }
}

/** About how long (in UTF-16 units) a chunk of a scrape's text grows before it is handed on. */
const CHUNK = 65_536;

/**
 * The text of a scrape, cut into flat strings of about 64 KB: one string of
 * tens of megabytes is a rope V8 must flatten in one blocking step, and a
 * whole scrape kept in memory (24 MB at 10 000 loops) costs more in garbage
 * collection and fresh pages than writing it does (docs/benchmarks.md).
 * A chunk is taken as soon as it is full and written while the next is made.
 */
export class TextChunks {
  private parts: string[] = [];
  private length = 0;

  /** Appends text. */
  add(text: string): void {
    this.parts.push(text);
    this.length += text.length;
  }

  /** True once a chunk's worth of text is waiting. */
  full(): boolean {
    return this.length >= CHUNK;
  }

  /** The text added since the last take, as one flat string ("" when none). */
  take(): string {
    const text = this.parts.join("");
    this.parts = [];
    this.length = 0;
    return text;
  }
}

/** How often (in rows) a family asks its slicer whether to pause. */
const CHECK_EVERY = 32;

/** A family's samples for one scrape: `count` rows, row `k` written through `emit`. */
export interface Rows {
  readonly count: number;
  readonly row: (k: number, emit: Emit) => void;
}

/**
 * One family of loopgroup's series: `read()` says what its samples are at
 * the moment of a scrape, as rows of that scrape's own (two scrapes at once
 * never share them); the family writes them as text, or as the metric object
 * prom-client's registry expects.
 */
export class Family {
  /** prom-client sums a counter or histogram across cluster workers, like these. */
  readonly aggregator = "sum";

  constructor(
    /** The family's name, as on /metrics. */
    readonly name: string,
    /** Its HELP text. */
    readonly help: string,
    /** Its TYPE. */
    readonly type: FamilyType,
    /** The samples at the start of a scrape: called once per scrape, pausing as `slicer` says. */
    private readonly read: (slicer: Slicer) => Rows | Promise<Rows>,
  ) {}

  /**
   * Appends the family's text (HELP, TYPE, one line per sample, no final
   * newline), yielding each full chunk and pausing as `slicer` says.
   */
  async *write(out: TextChunks, slicer: Slicer): AsyncGenerator<string> {
    out.add(`# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${this.type}`);
    const emit: Emit = (name, labels, value) => {
      out.add(
        labels === ""
          ? `\n${name} ${formatValue(value)}`
          : `\n${name}{${labels}} ${formatValue(value)}`,
      );
    };
    const { count, row } = await this.read(slicer);
    for (let k = 0; k < count; k += 1) {
      row(k, emit);
      if (k % CHECK_EVERY === CHECK_EVERY - 1) {
        if (out.full()) yield out.take();
        if (slicer.due()) await slicer.pause();
      }
    }
  }

  /** The family as prom-client's registry reads a metric (`registry.metrics()`, `getMetricsAsJSON()`). */
  async get(): Promise<{
    name: string;
    help: string;
    type: FamilyType;
    aggregator: string;
    values: { metricName: string; labels: Record<string, string>; value: number }[];
  }> {
    const values: { metricName: string; labels: Record<string, string>; value: number }[] = [];
    const emit: Emit = (metricName, labels, value) =>
      values.push({ metricName, labels: parseLabels(labels), value });
    const { count, row } = await this.read(new Slicer());
    for (let k = 0; k < count; k += 1) row(k, emit);
    const { name, help, type, aggregator } = this;
    return { name, help, type, aggregator, values };
  }

  /** prom-client's `registry.resetMetrics()`: loopgroup's series are counts of what happened, kept. */
  reset(): void {
    // Nothing to forget: the samples are read from the loops at each scrape.
  }
}

/** The parts of a prom-client Registry a scrape reads (two are not in its types). */
export interface ScrapedRegistry {
  readonly contentType: string;
  readonly _defaultLabels?: unknown;
  metrics(): Promise<string>;
  getMetricsAsArray(): readonly unknown[];
  getMetricsAsString?: (metric: unknown) => Promise<string>;
}

/**
 * One scrape of `registry`: loopgroup's families written as they are made,
 * chunk by chunk, every other metric by prom-client. A registry with default
 * labels or the OpenMetrics type changes every line: prom-client's own path
 * writes the whole of it.
 */
export async function scrapeRegistry(
  registry: ScrapedRegistry,
): Promise<{ contentType: string; body: string | AsyncIterable<string> }> {
  const { contentType } = registry;
  if (!plainText(registry)) return { contentType, body: await registry.metrics() };
  // Other metrics (a user's collect() may throw) are read before the answer starts, so a
  // failure is still a 500; loopgroup's families only read numbers, and are written as made.
  const metrics = registry.getMetricsAsArray();
  const texts = new Map<unknown, string>();
  for (const metric of metrics) {
    if (!(metric instanceof Family)) texts.set(metric, await registry.getMetricsAsString(metric));
  }
  return { contentType, body: scrapeText(metrics, texts) };
}

/** The text of one scrape, chunk by chunk: `texts` holds every metric not a Family, read already. */
async function* scrapeText(
  metrics: readonly unknown[],
  texts: ReadonlyMap<unknown, string>,
): AsyncGenerator<string> {
  const slicer = new Slicer();
  const out = new TextChunks();
  let first = true;
  for (const metric of metrics) {
    if (!first) out.add("\n\n");
    first = false;
    if (metric instanceof Family) yield* metric.write(out, slicer);
    else out.add(texts.get(metric) ?? "");
    if (out.full()) yield out.take();
    if (slicer.due()) await slicer.pause();
  }
  out.add("\n");
  yield out.take();
}

/** True when the registry writes text format 0.0.4 without default labels, as loopgroup's families do. */
function plainText(
  registry: ScrapedRegistry,
): registry is ScrapedRegistry & Required<Pick<ScrapedRegistry, "getMetricsAsString">> {
  const defaults = registry._defaultLabels;
  return (
    registry.contentType.startsWith("text/plain") &&
    typeof registry.getMetricsAsString === "function" &&
    typeof defaults === "object" &&
    defaults !== null &&
    Object.keys(defaults).length === 0
  );
}

import { expect } from "chai";
import { bootstrap, Loop, type App, type Leadership, type LoopContext } from "../../src/index.js";
import { leaseTransport } from "../../src/leader/election.js";
import type { ResolvedLeaderElection } from "../../src/leader/options.js";
import { useFakeClock } from "../helpers/clock.js";
import { LeaseStore, noFaults } from "../helpers/lease-store.js";

const quiet = { signals: false, exit: false, logger: false, healthPort: false } as const;
const timings = { leaseDuration: 3_000, renewDeadline: 2_000, retryPeriod: 500 };

describe("leadership in code: ctx.leadership and app.leader", () => {
  const clock = useFakeClock({ now: Date.UTC(2026, 11, 5, 12) });
  const connect = leaseTransport.connect;
  let store: LeaseStore;
  beforeEach(() => {
    store = new LeaseStore();
    leaseTransport.connect = (config: ResolvedLeaderElection) =>
      store.api(config.identity, noFaults());
  });
  afterEach(() => {
    leaseTransport.connect = connect;
  });

  function service(seen: { identity: string; leadership: Leadership | undefined }[]) {
    class Report {
      @Loop({ singleton: true, interval: 1_000 })
      run(ctx: LoopContext): void {
        seen.push({ identity: ctx.leadership?.identity ?? "none", leadership: ctx.leadership });
      }
      @Loop({ interval: 1_000 })
      everywhere(ctx: LoopContext): void {
        expect(ctx.leadership).to.equal(undefined);
      }
    }
    return Report;
  }

  const start = (seen: Parameters<typeof service>[0], identity: string): Promise<App> =>
    bootstrap(service(seen), {
      ...quiet,
      leaderElection: { lease: "report", identity, apiServer: "http://127.0.0.1:1", ...timings },
    });

  it("a singleton iteration sees its holding, and transitions grows with each new holder (a fencing token)", async () => {
    const seen: { identity: string; leadership: Leadership | undefined }[] = [];
    const a = await start(seen, "a");
    await clock().tickAsync(100);
    const b = await start(seen, "b");
    await clock().tickAsync(2_000);
    expect(seen.length).to.be.greaterThan(0);
    expect(seen.every((s) => s.identity === "a")).to.equal(true);
    expect(seen[0]?.leadership).to.deep.equal({
      lease: "report",
      identity: "a",
      transitions: 0,
      acquiredAt: new Date(Date.parse(store.lease!.record.acquireTime)),
    });
    expect(a.leader).to.deep.equal({ lease: "report", identity: "a", isLeader: true, holder: "a" });
    expect(b.leader).to.deep.equal({
      lease: "report",
      identity: "b",
      isLeader: false,
      holder: "a",
    });

    const stopping = a.shutdown();
    await clock().tickAsync(3_000);
    await stopping;
    const fromB = seen.filter((s) => s.identity === "b");
    expect(fromB.length, "b leads after a released").to.be.greaterThan(0);
    expect(fromB[0]?.leadership?.transitions).to.equal(1);
    expect(fromB[0]!.leadership!.transitions).to.be.greaterThan(seen[0]!.leadership!.transitions);
    expect(b.leader).to.deep.include({ isLeader: true, holder: "b" });

    const stoppingB = b.shutdown();
    await clock().tickAsync(3_000);
    await stoppingB;
  });

  it("app.leader is undefined without leader election", async () => {
    class Plain {
      @Loop({ interval: 1_000 })
      tick(): void {}
    }
    const app = await bootstrap(Plain, quiet);
    expect(app.leader).to.equal(undefined);
    const stopping = app.shutdown();
    await clock().tickAsync(100);
    await stopping;
  });
});

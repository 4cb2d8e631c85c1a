import { expect } from "chai";
import fc from "fast-check";
import { observe, type Observed } from "../../src/leader/index.js";
import {
  assign,
  fairShare,
  isFree,
  type AssignmentInput,
  type ShardView,
} from "../../src/shards/index.js";

const RUNS = Number(process.env.FC_RUNS ?? 1_000);
const seed = process.env.FC_SEED === undefined ? {} : { seed: Number(process.env.FC_SEED) };
const LEASE_MS = 15_000;

/** A shard Lease held by `holder`, last seen changing at `at` (monotonic ms). */
function held(holder: string, at: number): Observed {
  return observe(
    undefined,
    {
      holderIdentity: holder,
      leaseDurationSeconds: LEASE_MS / 1_000,
      acquireTime: "2026-12-05T00:00:00.000000Z",
      renewTime: "2026-12-05T00:00:00.000000Z",
      leaseTransitions: 1,
    },
    at,
  );
}

/** Generated worlds: shard count, members, and for each shard no Lease, released, or held (fresh or stale). */
const world = fc
  .record({
    count: fc.integer({ min: 1, max: 64 }),
    members: fc.uniqueArray(fc.constantFrom("a", "b", "c", "d", "e", "f", "g"), {
      minLength: 1,
      maxLength: 7,
    }),
    now: fc.integer({ min: 100_000, max: 1_000_000 }),
  })
  .chain(({ count, members, now }) =>
    fc
      .array(
        fc.oneof(
          fc.constant<{ kind: "none" }>({ kind: "none" }),
          fc.constant<{ kind: "released" }>({ kind: "released" }),
          fc.record({
            kind: fc.constant<"held">("held"),
            // holders include members and replicas gone (x, y) whose Leases may still be valid
            holder: fc.constantFrom(...members, "x", "y"),
            age: fc.integer({ min: 0, max: 2 * LEASE_MS }),
          }),
        ),
        { minLength: count, maxLength: count },
      )
      .chain((leases) =>
        fc.constantFrom(...members).map((me) => ({ count, members, now, leases, me })),
      ),
  );

function viewsOf(w: {
  leases: (
    { kind: "none" } | { kind: "released" } | { kind: "held"; holder: string; age: number }
  )[];
  now: number;
}): ShardView[] {
  return w.leases.map((lease, index) => ({
    index,
    observed:
      lease.kind === "none"
        ? undefined
        : lease.kind === "released"
          ? held("", w.now - 1)
          : held(lease.holder, w.now - lease.age),
  }));
}

describe("shard assignment: the pure decision", () => {
  it("fair shares are exact: they sum to the shard count and differ by at most one", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_024 }),
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 20 }),
        (count, members) => {
          const shares = members.map((m) => fairShare(count, members, m));
          expect(shares.reduce((a, b) => a + b, 0)).to.equal(count);
          expect(Math.max(...shares) - Math.min(...shares)).to.be.at.most(1);
          expect(Math.max(...shares)).to.equal(Math.ceil(count / members.length));
        },
      ),
      { numRuns: RUNS, ...seed },
    );
  });

  it("never takes a shard that another holder renewed within its duration", () => {
    fc.assert(
      fc.property(world, (w) => {
        const shards = viewsOf(w);
        const owned = new Set(
          shards.filter((s) => s.observed?.record.holderIdentity === w.me).map((s) => s.index),
        );
        const { acquire } = assign({ ...w, shards, owned });
        for (const index of acquire) {
          const lease = w.leases[index];
          if (lease?.kind === "held" && lease.holder !== w.me) {
            expect(lease.age, `shard ${index} held by ${lease.holder}`).to.be.at.least(LEASE_MS);
          }
          expect(owned.has(index)).to.equal(false);
        }
      }),
      { numRuns: RUNS, ...seed },
    );
  });

  it("hands off at most the excess over its share, and never acquires while above it", () => {
    fc.assert(
      fc.property(world, fc.array(fc.nat(63), { maxLength: 64 }), (w, ownedList) => {
        const owned = new Set(ownedList.filter((i) => i < w.count));
        const { target, acquire, release } = assign({ ...w, shards: viewsOf(w), owned });
        expect(release.length).to.equal(Math.max(0, owned.size - target));
        for (const index of release) expect(owned.has(index)).to.equal(true);
        if (release.length > 0) expect(acquire).to.deep.equal([]);
        expect(owned.size - release.length + acquire.length).to.be.at.most(target);
      }),
      { numRuns: RUNS, ...seed },
    );
  });

  it("converges to balance from any start: every shard owned, owners within one, in three rounds", () => {
    fc.assert(
      fc.property(world, fc.array(fc.nat(), { minLength: 1, maxLength: 5 }), (w, order) => {
        // Holders of the generated world that are not members are gone: their Leases expire.
        let now = w.now;
        const holders = w.leases.map((lease) =>
          lease.kind === "held" && (w.members as string[]).includes(lease.holder)
            ? lease.holder
            : "",
        );
        // Shards whose holder is gone are released on the wire only by expiry: start them stale.
        const seen = holders.map((holder, index) =>
          holder === "" ? held("", now - 2 * LEASE_MS - index) : held(holder, now),
        );
        for (let round = 0; round < 3; round += 1) {
          now += 2_000;
          const pick = order[round % order.length] ?? 0;
          const members = [
            ...w.members.slice(pick % w.members.length),
            ...w.members.slice(0, pick % w.members.length),
          ];
          for (const me of members) {
            const input: AssignmentInput = {
              me,
              count: w.count,
              owned: new Set(holders.flatMap((h, i) => (h === me ? [i] : []))),
              shards: seen.map((observed, index) => ({ index, observed })),
              members: w.members,
              now,
            };
            const { acquire, release } = assign(input);
            for (const index of release) {
              holders[index] = "";
              seen[index] = held("", now);
            }
            for (const index of acquire) {
              // The API server's compare-and-swap: only one writer wins a free shard.
              const current = seen[index];
              if (current !== undefined && !isFree({ index, observed: current }, me, now)) continue;
              holders[index] = me;
              seen[index] = held(me, now);
            }
          }
        }
        const counts = w.members.map((m) => holders.filter((h) => h === m).length);
        expect(
          holders.every((h) => h !== ""),
          `unowned: ${JSON.stringify(holders)}`,
        ).to.equal(true);
        expect(Math.max(...counts) - Math.min(...counts)).to.be.at.most(1);
      }),
      { numRuns: RUNS, ...seed },
    );
  });

  it("16 shards over 3 members rest at 6/5/5, and at 8/8 when one leaves", () => {
    const shares = (members: string[]) => members.map((m) => fairShare(16, members, m));
    expect(shares(["a", "b", "c"])).to.deep.equal([6, 5, 5]);
    expect(shares(["a", "b"])).to.deep.equal([8, 8]);
  });
});

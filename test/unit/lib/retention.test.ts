/**
 * Grandfather-father-son retention (the seed: 30 daily, 12 weekly, 12 monthly
 * copies), restore points and the local copies that fit the backup volume,
 * with expected sets worked out by hand from the calendar.
 */
import {
    GFS_RETENTION,
    expiredStamps,
    formatStamp,
    isoWeek,
    localSetsToKeep,
    maxRetainedSets,
    parseStamp,
    periodsOf,
    restorePoint,
    selectRetained,
} from "../../../lib/retention";
import { dumpKey, finalPrefix, manifestKey, mirrorPrefix, objectsIndexKey, parseMirrorKey, setPrefix } from "../../../lib/archiveLayout";

const GiB = 1024 ** 3;

/** One set at 02:00 UTC on each day from `first` (YYYY-MM-DD), `count` days. */
function daily(first: string, count: number): string[] {
    const start = Date.parse(`${first}T02:00:00Z`);
    return Array.from({ length: count }, (_, i) => formatStamp(new Date(start + i * 86_400_000)));
}

describe("stamps and periods", () => {
    test("a stamp names a UTC instant and back", () => {
        expect(parseStamp("20261201-020304").toISOString()).toBe("2026-12-01T02:03:04.000Z");
        expect(formatStamp(new Date("2026-02-09T23:59:59Z"))).toBe("20260209-235959");
    });

    test.each(["2026-12-01", "20261301-000000", "20260230-020000", "20260101-240000", "20260101-2"])("%s is refused", (stamp) => {
        expect(() => parseStamp(stamp)).toThrow(`backup stamp "${stamp}"`);
    });

    test.each([
        ["2026-12-01", "2026-W49"],
        ["2026-01-01", "2026-W01"],
        ["2025-12-29", "2026-W01"],
        ["2021-01-03", "2020-W53"],
        ["2024-12-30", "2025-W01"],
        ["2026-03-01", "2026-W09"],
        ["2026-03-02", "2026-W10"],
    ])("%s is in ISO week %s", (day, week) => {
        expect(isoWeek(new Date(`${day}T12:00:00Z`))).toBe(week);
    });

    test("a set's day, week and month", () => {
        expect(periodsOf("20260104-020000")).toEqual({ daily: "20260104", weekly: "2026-W01", monthly: "202601" });
    });
});

describe("GFS selection", () => {
    test("the seed's policy is 30 daily, 12 weekly, 12 monthly, at most 54 sets", () => {
        expect(GFS_RETENTION).toEqual({ daily: 30, weekly: 12, monthly: 12 });
        expect(maxRetainedSets()).toBe(54);
    });

    test("40 daily sets from 2026-01-01: the newest 30 days, plus the newest set of week 2026-W01 (Sunday 2026-01-04)", () => {
        const stamps = daily("2026-01-01", 40); // to 2026-02-09
        const keep = selectRetained(stamps);
        expect([...keep.keys()].sort()).toEqual(["20260104-020000", ...daily("2026-01-11", 30)]);
        expect(expiredStamps(stamps)).toEqual(["20260101-020000", "20260102-020000", "20260103-020000", ...daily("2026-01-05", 6)]);
        expect(keep.get("20260209-020000")).toEqual(["daily", "weekly", "monthly"]);
        expect(keep.get("20260131-020000")).toEqual(["daily", "monthly"]);
        expect(keep.get("20260208-020000")).toEqual(["daily", "weekly"]);
        expect(keep.get("20260104-020000")).toEqual(["weekly"]);
        expect(keep.get("20260111-020000")).toEqual(["daily", "weekly"]);
        expect(keep.get("20260112-020000")).toEqual(["daily"]);
    });

    test("a year and a half of daily sets keeps 30 + 12 weekly beyond them + 12 monthly beyond those", () => {
        const stamps = daily("2025-01-01", 547); // to 2026-07-01 (Wednesday)
        const keep = [...selectRetained(stamps).keys()].sort();
        // Daily: 2026-06-02 .. 2026-07-01. Weekly, the Sundays (a week's newest set) before and within them:
        // W27 is 2026-07-01 itself, W26 .. W23 end on Sundays 06-28, 06-21, 06-14, 06-07 (within the days),
        // then 05-31, 05-24, 05-17, 05-10, 05-03, 04-26, 04-19: 12 weeks. Monthly: 2026-07-01, 06-30, 05-31,
        // then the last day of 2026-04 .. 2025-08.
        const sundays = ["20260419", "20260426", "20260503", "20260510", "20260517", "20260524"].map((d) => `${d}-020000`);
        const monthEnds = ["20250831", "20250930", "20251031", "20251130", "20251231", "20260131", "20260228", "20260331", "20260430"].map(
            (d) => `${d}-020000`,
        );
        expect(keep).toEqual(
            [...monthEnds.slice(0, 8), "20260419-020000", ...sundays.slice(1), "20260430-020000", "20260531-020000", ...daily("2026-06-02", 30)].sort(),
        );
        expect(keep).toHaveLength(30 + 7 + 9);
    });

    test("monthly copies are the newest set of each of the last 12 months that have one", () => {
        const stamps = Array.from({ length: 14 }, (_, i) => formatStamp(new Date(Date.UTC(2025, i, 15, 2))));
        expect(expiredStamps(stamps, { daily: 1, weekly: 1, monthly: 12 })).toEqual(["20250115-020000", "20250215-020000"]);
    });

    test("missed days cost no copy: the window counts days that have a set", () => {
        const stamps = ["20260301-020000", "20260303-020000", "20260310-020000"];
        expect([...selectRetained(stamps, { daily: 3, weekly: 0, monthly: 0 }).keys()]).toEqual(["20260310-020000", "20260303-020000", "20260301-020000"]);
    });

    test("two sets on one day: the newer is the day's copy, the older is dropped", () => {
        expect(expiredStamps(["20260301-020000", "20260301-140000"])).toEqual(["20260301-020000"]);
        expect(expiredStamps([])).toEqual([]);
    });
});

describe("restore points", () => {
    const stamps = ["20260301-020000", "20260302-020000", "20260302-140000", "20260305-020000"];

    test("latest, a date (the newest set taken that day or before) or an exact stamp", () => {
        expect(restorePoint(stamps, "latest")).toBe("20260305-020000");
        expect(restorePoint(stamps, "2026-03-02")).toBe("20260302-140000");
        expect(restorePoint(stamps, "2026-03-04")).toBe("20260302-140000");
        expect(restorePoint(stamps, "2026-03-01")).toBe("20260301-020000");
        expect(restorePoint(stamps, "20260302-020000")).toBe("20260302-020000");
    });

    test("nothing before the oldest set, nothing for an unknown stamp, nothing in an empty archive", () => {
        expect(restorePoint(stamps, "2026-02-28")).toBeUndefined();
        expect(restorePoint(stamps, "20260303-020000")).toBeUndefined();
        expect(restorePoint([], "latest")).toBeUndefined();
    });

    test("anything else is refused naming the accepted forms", () => {
        expect(() => restorePoint(stamps, "yesterday")).toThrow('--from "yesterday" is neither "latest", a date YYYY-MM-DD nor a backup stamp YYYYMMDD-HHMMSS');
        expect(() => restorePoint(stamps, "2026-02-30")).toThrow('backup stamp "20260230-000000" is not a real UTC date and time');
    });
});

describe("local copies on the backup volume", () => {
    const sets = (n: number, bytes: number) => daily("2026-03-01", n).map((stamp) => ({ stamp, bytes }));

    test("a 10 GiB volume with 2 GiB sets keeps the newest 2 (4 GiB; a third would pass half the volume)", () => {
        expect(localSetsToKeep(sets(5, 2 * GiB), 10 * GiB)).toEqual(["20260305-020000", "20260304-020000"]);
    });

    test("a 100 GiB volume with 1 GiB sets keeps at most 7", () => {
        expect(localSetsToKeep(sets(10, GiB), 100 * GiB)).toHaveLength(7);
        expect(localSetsToKeep(sets(10, GiB), 100 * GiB)[6]).toBe("20260304-020000");
    });

    test("the newest set stays even when it alone passes half the volume", () => {
        expect(localSetsToKeep(sets(3, 6 * GiB), 10 * GiB)).toEqual(["20260303-020000"]);
        expect(localSetsToKeep([], 10 * GiB)).toEqual([]);
    });

    test("after a downgrade the volume keeps its size (ignoreChanges), and the copies kept follow that size, not the tier's", () => {
        // A business tenant's 100 GiB volume, downgraded to standard (which would ask for 10 GiB): 5 GiB sets.
        expect(localSetsToKeep(sets(10, 5 * GiB), 100 * GiB)).toHaveLength(7);
        // A standard tenant's 10 GiB volume, upgraded to business: still 10 GiB, so one 5 GiB set.
        expect(localSetsToKeep(sets(10, 5 * GiB), 10 * GiB)).toEqual(["20260310-020000"]);
    });
});

describe("archive layout", () => {
    test("keys of a set, a final backup and the mirror", () => {
        expect(setPrefix("abc", "20261201-020000")).toBe("tenants/abc/sets/20261201-020000/");
        expect(dumpKey(setPrefix("abc", "20261201-020000"), "client_abc_auth_db")).toBe("tenants/abc/sets/20261201-020000/db/client_abc_auth_db.sql.gz");
        expect(manifestKey(finalPrefix("abc", "20261201-020000"))).toBe("tenants/abc/final/20261201-020000/manifest.json");
        expect(objectsIndexKey(setPrefix("abc", "20261201-020000"))).toBe("tenants/abc/sets/20261201-020000/objects.json");
        expect(mirrorPrefix("abc", "client-abc-products")).toBe("tenants/abc/objects/client-abc-products/");
        expect(parseMirrorKey("abc", "tenants/abc/objects/client-abc-products/images/a/b.jpg")).toEqual({
            bucket: "client-abc-products",
            key: "images/a/b.jpg",
        });
    });

    test("a key outside the tenant's mirror, or without an object key, is refused", () => {
        expect(() => parseMirrorKey("abc", "tenants/abd/objects/b/k")).toThrow("tenants/abd/objects/b/k is not under tenants/abc/objects/");
        expect(() => parseMirrorKey("abc", "tenants/abc/objects/bucket/")).toThrow("has no <bucket>/<key>");
    });
});

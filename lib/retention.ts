/**
 * Backup retention: grandfather-father-son over the archive's backup sets, the
 * same for every tier (the seed's 30 daily, 12 weekly and 12 monthly copies),
 * the choice of a restore point, and how many recent sets the in-cluster
 * backup volume keeps (what fits the volume it really has).
 *
 * Pure: no I/O. core/archive.ts prunes the archive, keeps the local copies
 * and restores with these; the backup job runs `tenantctl backup --prune`,
 * so the job and restore share this one definition.
 *
 * A backup set is named by its UTC stamp `YYYYMMDD-HHMMSS` (the job's `date -u +%Y%m%d-%H%M%S`).
 */

export interface RetentionPolicy {
    /** Newest set of each of the last N days that have a set. */
    readonly daily: number;
    /** Newest set of each of the last N ISO weeks that have a set. */
    readonly weekly: number;
    /** Newest set of each of the last N calendar months that have a set. */
    readonly monthly: number;
}

/** The seed's promise, for every tier. */
export const GFS_RETENTION: RetentionPolicy = { daily: 30, weekly: 12, monthly: 12 };

/** Years a cancelled tenant's final backup is kept (S3 Object Lock, compliance mode). */
export const FINAL_BACKUP_RETENTION_YEARS = 7;

export type RetentionTier = "daily" | "weekly" | "monthly";

export const STAMP_PATTERN = /^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})$/;

/** The instant a stamp names; throws on anything that is not a valid `YYYYMMDD-HHMMSS`. */
export function parseStamp(stamp: string): Date {
    const m = STAMP_PATTERN.exec(stamp);
    if (!m) throw new Error(`backup stamp "${stamp}" is not YYYYMMDD-HHMMSS`);
    const [y, mo, d, h, mi, s] = m.slice(1).map(Number);
    const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
    if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) {
        throw new Error(`backup stamp "${stamp}" is not a real UTC date and time`);
    }
    return date;
}

export function formatStamp(date: Date): string {
    const p = (n: number) => String(n).padStart(2, "0");
    return `${date.getUTCFullYear()}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}-${p(date.getUTCHours())}${p(date.getUTCMinutes())}${p(date.getUTCSeconds())}`;
}

/** ISO 8601 week of a UTC date, e.g. 2026-W49 (`date +%G-W%V`). */
export function isoWeek(date: Date): string {
    const d = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
    const weekday = d.getUTCDay() || 7; // Monday 1 .. Sunday 7
    d.setUTCDate(d.getUTCDate() + 4 - weekday); // the Thursday of this week decides the year
    const yearStart = Date.UTC(d.getUTCFullYear(), 0, 1);
    const week = Math.ceil(((d.getTime() - yearStart) / 86_400_000 + 1) / 7);
    return `${d.getUTCFullYear()}-W${String(week).padStart(2, "0")}`;
}

/** The day, ISO week and month a stamp belongs to. */
export function periodsOf(stamp: string): Record<RetentionTier, string> {
    const date = parseStamp(stamp);
    return { daily: stamp.slice(0, 8), weekly: isoWeek(date), monthly: stamp.slice(0, 6) };
}

/**
 * The sets to keep, each with the tiers that keep it: walking from the newest
 * set, the first set seen of a day is that day's daily copy while fewer than
 * `policy.daily` days were kept, likewise per ISO week and per month. So the
 * copy of a week or month is its newest set, and a missed day costs no copy
 * (the window counts days that have a set, not calendar days).
 */
export function selectRetained(stamps: readonly string[], policy: RetentionPolicy = GFS_RETENTION): Map<string, RetentionTier[]> {
    const sorted = [...new Set(stamps)].sort().reverse();
    const seen: Record<RetentionTier, Set<string>> = { daily: new Set(), weekly: new Set(), monthly: new Set() };
    const keep = new Map<string, RetentionTier[]>();
    for (const stamp of sorted) {
        const periods = periodsOf(stamp);
        const tiers: RetentionTier[] = [];
        for (const tier of ["daily", "weekly", "monthly"] as const) {
            if (seen[tier].has(periods[tier]) || seen[tier].size >= policy[tier]) continue;
            seen[tier].add(periods[tier]);
            tiers.push(tier);
        }
        if (tiers.length > 0) keep.set(stamp, tiers);
    }
    return keep;
}

/** The sets retention drops, oldest first. */
export function expiredStamps(stamps: readonly string[], policy: RetentionPolicy = GFS_RETENTION): string[] {
    const keep = selectRetained(stamps, policy);
    return [...new Set(stamps)].filter((s) => !keep.has(s)).sort();
}

/** Most sets GFS can retain at once (a set can serve several tiers, so usually fewer are kept). */
export function maxRetainedSets(policy: RetentionPolicy = GFS_RETENTION): number {
    return policy.daily + policy.weekly + policy.monthly;
}

/**
 * The set a restore starts from: `latest`, or the newest set taken on or
 * before the end of the UTC day `YYYY-MM-DD`, or the set whose stamp is given
 * exactly. Undefined when there is none.
 */
export function restorePoint(stamps: readonly string[], from: string): string | undefined {
    const sorted = [...new Set(stamps)].sort();
    if (from === "latest") return sorted.at(-1);
    if (STAMP_PATTERN.test(from)) return sorted.includes(from) ? from : undefined;
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(from);
    if (!m) throw new Error(`--from "${from}" is neither "latest", a date YYYY-MM-DD nor a backup stamp YYYYMMDD-HHMMSS`);
    parseStamp(`${m[1]}${m[2]}${m[3]}-000000`);
    const limit = `${m[1]}${m[2]}${m[3]}-235959`;
    return sorted.filter((s) => s <= limit).at(-1);
}

/** A backup set on the in-cluster volume: its stamp and bytes. */
export interface LocalSet {
    readonly stamp: string;
    readonly bytes: number;
}

/** Most recent sets the backup volume keeps; the archive holds the GFS history. */
export const LOCAL_MAX_SETS = 7;

/**
 * The sets the backup volume keeps after a new one was written: the newest
 * first, while they use at most half the volume's capacity (the other half is
 * room for the next dump, which is about the size of the last one), at most
 * `maxSets`, and always the newest one. The capacity is what the job measures
 * on the mounted volume (`df`), so after a tier change, when `ignoreChanges`
 * keeps the volume at the size it was created with, retention fits the volume
 * that exists rather than the one the tier would ask for.
 */
export function localSetsToKeep(sets: readonly LocalSet[], capacityBytes: number, maxSets: number = LOCAL_MAX_SETS): string[] {
    const newestFirst = [...sets].sort((a, b) => (a.stamp < b.stamp ? 1 : a.stamp > b.stamp ? -1 : 0));
    const keep: string[] = [];
    let used = 0;
    for (const s of newestFirst) {
        if (keep.length >= maxSets) break;
        if (keep.length > 0 && used + s.bytes > capacityBytes / 2) break;
        keep.push(s.stamp);
        used += s.bytes;
    }
    return keep;
}

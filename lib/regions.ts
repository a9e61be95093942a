/** The regions the platform runs in: one Pulumi stack each, data never leaves its region. */
export const REGIONS = ["eu-west", "us-east", "apac"] as const;
export type Region = (typeof REGIONS)[number];

export function isRegion(value: unknown): value is Region {
    return typeof value === "string" && (REGIONS as readonly string[]).includes(value);
}

/**
 * Kubernetes resource quantities ("250m", "4Gi", "2") as plain numbers:
 * CPU in cores, memory and storage in bytes, counts as counts.
 */
const SUFFIX: Record<string, number> = {
    "": 1,
    m: 1e-3,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
};

export function parseQuantity(quantity: string): number {
    const match = /^(\d+(?:\.\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(quantity);
    if (!match) throw new Error(`not a Kubernetes quantity: ${JSON.stringify(quantity)}`);
    return Number(match[1]) * SUFFIX[match[2] ?? ""];
}

export const GiB = 2 ** 30;

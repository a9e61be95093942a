/** Argument parsers shared by the commands (commander's custom option processing). */
import { InvalidArgumentError } from "commander";

/** One of a fixed set of words. */
export function choice<const T extends string>(allowed: readonly T[]): (value: string) => T {
    return (value) => {
        if (!(allowed as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${allowed.join(", ")}`);
        return value as T;
    };
}

/** A positive integer. */
export function positiveInt(value: string): number {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("expected a positive integer");
    return n;
}

/** A comma-separated list of positive integers, e.g. 10,100,1000. */
export function countList(value: string): number[] {
    const counts = value.split(",").map((v) => Number(v.trim()));
    if (counts.length === 0 || counts.some((n) => !Number.isInteger(n) || n < 1 || n > 100_000)) {
        throw new InvalidArgumentError("expected a comma-separated list of positive integers, e.g. 10,100,1000");
    }
    return counts;
}

/** Repeated `<region>=<stack>` options, collected into a map. */
export function stackMapping(value: string, previous: Record<string, string> = {}): Record<string, string> {
    const m = /^([a-z][a-z0-9-]*)=([A-Za-z0-9._-]+)$/.exec(value);
    if (!m) throw new InvalidArgumentError("expected <region>=<stack>, e.g. eu-west=local");
    return { ...previous, [m[1]]: m[2] };
}

/** `<stack>=<file>` (repeatable): a region stack's settings file instead of the repository's `Pulumi.<stack>.yaml`. */
export function stackSettingsFile(value: string, previous: Record<string, string> = {}): Record<string, string> {
    const m = /^([A-Za-z0-9._-]+)=(.+)$/.exec(value);
    if (!m) throw new InvalidArgumentError("expected <stack>=<settings file>, e.g. local=/tmp/Pulumi.local.yaml");
    return { ...previous, [m[1]]: m[2] };
}

/** A whole number of milliseconds, 0 or more. */
export function milliseconds(value: string): number {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError("expected a whole number of milliseconds, 0 or more");
    return n;
}

/** A TCP port; 0 asks for any free one. */
export function port(value: string): number {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError("expected a port, 0-65535 (0: any free port)");
    return n;
}

/** When the service limits an update to the changed tenants. */
export const targetMode = choice(["never", "existing", "always"] as const);

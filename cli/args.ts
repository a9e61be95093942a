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

export async function runDiff(_: unknown): Promise<number> { return 0; }

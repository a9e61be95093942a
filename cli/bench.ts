export async function runBench(_a: unknown, _b: unknown): Promise<void> {}
export async function synthWorker(_: unknown): Promise<void> {}

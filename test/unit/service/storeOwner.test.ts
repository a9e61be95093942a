/**
 * One service per SQLite store: two service processes on one store file
 * claimed and ran the same jobs (overlapping by 2.4 s), so a second one is
 * refused at start. The process-level refusal (exit 1) is in main.test.ts; a
 * restart after kill -9 on the same store (a dead owner) in restart.test.ts.
 */
import * as os from "node:os";
import * as path from "node:path";
import pino from "pino";
import { FakeDeployer } from "../../../service/fakeDeployer";
import { createService, StoreInUse } from "../../../service/service";
import { SECRET, startService, tempDir, tempManifest } from "../../support/service";

const options = (manifestPath: string, storePath: string) => ({
    manifestPath,
    storePath,
    deployer: new FakeDeployer(),
    secrets: [SECRET],
    logger: pino({ level: "silent" }),
});

describe("the owner of a SQLite store", () => {
    it("a second service on the same store file is refused with StoreInUse naming this process; after close() the store is free again", async () => {
        const first = await startService(new FakeDeployer());
        const storePath = path.join(first.dir, "service.db");
        let closed = false;
        try {
            const second = createService(options(first.manifestPath, storePath));
            await expect(second).rejects.toThrow(StoreInUse);
            await expect(second).rejects.toThrow(
                `the store ${storePath} is in use by process ${process.pid} on ${os.hostname()}: a SQLite store serves one service process. ` +
                    "Fix: stop that process, or give this replica a store of its own (--store); several replicas sharing jobs need a shared store.",
            );
            await first.close();
            closed = true;
            const third = await createService(options(first.manifestPath, storePath));
            await third.close();
        } finally {
            if (!closed) await first.close();
        }
    });

    it("services on stores of their own, or in memory, start side by side", async () => {
        const dir = tempDir();
        const manifest = tempManifest(dir);
        const services = [
            await createService(options(manifest, path.join(dir, "a.db"))),
            await createService(options(manifest, path.join(dir, "b.db"))),
            await createService(options(manifest, ":memory:")),
            await createService(options(manifest, ":memory:")),
        ];
        expect(services).toHaveLength(4);
        for (const s of services) await s.close();
    });
});

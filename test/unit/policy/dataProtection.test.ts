import { DATA_BEARING, checkDataProtection } from "../../../policy/rules/dataProtection";
import { subject } from "./subjects";

describe("data-resources-protected", () => {
    it("covers databases, buckets, vhosts, queues, PVCs and namespaces", () => {
        expect(Object.keys(DATA_BEARING).sort()).toEqual([
            "kubernetes:core/v1:Namespace",
            "kubernetes:core/v1:PersistentVolumeClaim",
            "minio:index/s3Bucket:S3Bucket",
            "mysql:index/database:Database",
            "rabbitmq:index/queue:Queue",
            "rabbitmq:index/vHost:VHost",
        ]);
    });

    it.each(Object.keys(DATA_BEARING))("allows a protected %s and reports an unprotected one", (type) => {
        expect(checkDataProtection([subject(type, "kept", {}, { protect: true })])).toEqual([]);
        const bare = subject(type, "bare", {});
        expect(checkDataProtection([bare])).toEqual([{ policy: "data-resources-protected", urn: bare.urn, message: expect.stringContaining("bare holds") }]);
    });

    it("ignores resources that hold no data", () => {
        expect(checkDataProtection([subject("mysql:index/grant:Grant", "g", {}), subject("kubernetes:core/v1:ConfigMap", "c", {})])).toEqual([]);
    });
});

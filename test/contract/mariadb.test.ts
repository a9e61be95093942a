/**
 * Contract test against the real MariaDB of `make local-up`.
 *
 * The databases, users and grants the program declares (synth recorder: the
 * exact inputs of mysql.Database, mysql.User and mysql.Grant) are applied
 * with the statements the Terraform mysql provider runs for them:
 *   CREATE DATABASE `<name>` CHARACTER SET ... COLLATE ...
 *   CREATE USER '<user>'@'<host>' IDENTIFIED BY '<password>'
 *   GRANT <privileges> ON `<database as declared>`.* TO '<user>'@'<host>'
 * Then each service user, with its own password, must be able to work in its
 * own database and be refused everywhere else: in the other tenant's
 * databases (including the a-b / a1b pair that an unescaped `_` would join),
 * and in its own tenant's other services' databases.
 */
import * as mysql from "mysql2/promise";
import type { SynthResource } from "../../core/synth";
import { TENANT_A, TENANT_B, declaredResources, input, localServices, ofType, rejection, testPassword, type LocalServices } from "../support/contract";

jest.setTimeout(60_000);

const DATABASE = "mysql:index/database:Database";
const USER = "mysql:index/user:User";
const GRANT = "mysql:index/grant:Grant";

interface ServiceAccount {
    readonly tenant: string;
    readonly database: string;
    readonly user: string;
    readonly host: string;
    /** The GRANT database pattern exactly as declared. */
    readonly pattern: string;
    readonly privileges: string[];
    readonly password: string;
    readonly grantUrn: string;
}

const TENANTS = [TENANT_A, TENANT_B] as const;
/** A control account granted the unescaped pattern, to show what the escaping prevents. */
const CONTROL_USER = "cv_contract_unescaped";
const CONTROL_PASSWORD = testPassword();

let services: LocalServices;
let resources: SynthResource[];
let admin: mysql.Connection;
const accounts: ServiceAccount[] = [];

const quoteString = (value: string) => `'${value.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`;
const quoteIdent = (value: string) => `\`${value.replace(/`/g, "``")}\``;
const account = (user: string, host: string) => `${quoteString(user)}@${quoteString(host)}`;

function connectAs(acc: { user: string; password: string }, database?: string): Promise<mysql.Connection> {
    return mysql.createConnection({ host: services.mysql.host, port: services.mysql.port, user: acc.user, password: acc.password, database });
}

async function withConnection<T>(acc: { user: string; password: string }, fn: (c: mysql.Connection) => Promise<T>): Promise<T> {
    const conn = await connectAs(acc);
    try {
        return await fn(conn);
    } finally {
        await conn.end();
    }
}

/** Declared objects of the contract manifest, plus names a leftover from a crashed run may hold. */
async function dropEverything(): Promise<void> {
    for (const r of resources.filter((x) => x.type === USER)) {
        await admin.query(`DROP USER IF EXISTS ${account(input(r, "user"), input(r, "host"))}`);
    }
    await admin.query(`DROP USER IF EXISTS ${account(CONTROL_USER, "%")}`);
    for (const r of resources.filter((x) => x.type === DATABASE)) {
        await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(input(r, "name"))}`);
    }
}

beforeAll(async () => {
    services = localServices();
    resources = await declaredResources();
    admin = await mysql.createConnection({
        host: services.mysql.host,
        port: services.mysql.port,
        user: services.mysql.user,
        password: services.mysql.password,
    });
    await dropEverything();

    for (const tenant of TENANTS) {
        for (const db of ofType(resources, DATABASE, tenant)) {
            await admin.query(
                `CREATE DATABASE ${quoteIdent(input(db, "name"))} CHARACTER SET ${quoteString(input(db, "defaultCharacterSet"))} COLLATE ${quoteString(input(db, "defaultCollation"))}`,
            );
        }
        const users = ofType(resources, USER, tenant);
        for (const grant of ofType(resources, GRANT, tenant)) {
            const userName = input(grant, "user");
            const user = users.find((u) => input(u, "user") === userName);
            if (!user) throw new Error(`${grant.urn}: grants to ${userName}, which no mysql.User of tenant ${tenant} declares`);
            const password = testPassword();
            await admin.query(`CREATE USER ${account(userName, input(user, "host"))} IDENTIFIED BY ${quoteString(password)}`);
            const privileges = grant.inputs.privileges as string[];
            // The provider's TablePrivilegeGrant.SQLGrantStatement: the database between backticks, verbatim.
            await admin.query(`GRANT ${privileges.join(", ")} ON \`${input(grant, "database")}\`.* TO ${account(userName, input(grant, "host"))}`);
            const dbName = ofType(resources, DATABASE, tenant)
                .map((d) => input(d, "name"))
                .find((name) => name.replace(/_db$/, "") === userName.replace(/_(user|usrb)$/, ""));
            if (!dbName) throw new Error(`${grant.urn}: no declared database belongs to ${userName}`);
            accounts.push({
                tenant,
                database: dbName,
                user: userName,
                host: input(grant, "host"),
                pattern: input(grant, "database"),
                privileges,
                password,
                grantUrn: grant.urn,
            });
        }
    }
    // Control: the same grant without escaping (what the program declared before grantDatabasePattern).
    const controlDb = accounts.find((a) => a.tenant === TENANT_A)!.database;
    await admin.query(`CREATE USER ${account(CONTROL_USER, "%")} IDENTIFIED BY ${quoteString(CONTROL_PASSWORD)}`);
    await admin.query(`GRANT CREATE, DROP, SELECT, INSERT ON \`${controlDb}\`.* TO ${account(CONTROL_USER, "%")}`);
});

afterAll(async () => {
    if (admin) {
        await dropEverything();
        await admin.end();
    }
});

const ownAccounts = (tenant: string) => accounts.filter((a) => a.tenant === tenant);
const otherTenant = (tenant: string) => (tenant === TENANT_A ? TENANT_B : TENANT_A);

describe("declarations (synth of the contract manifest, stack eu-west)", () => {
    test("each tenant declares one database per service (auth, products, orders), and two users with a grant each (rotation slots a and b)", () => {
        for (const tenant of TENANTS) {
            const slug = tenant.replace(/-/g, "_");
            expect(ofType(resources, DATABASE, tenant).map((d) => input(d, "name"))).toEqual(
                expect.arrayContaining(["auth", "products", "orders"].map((s) => `client_${slug}_${s}_db`)),
            );
            expect(ofType(resources, DATABASE, tenant)).toHaveLength(3);
            expect(ofType(resources, USER, tenant)).toHaveLength(6);
            expect(ofType(resources, GRANT, tenant)).toHaveLength(6);
        }
        expect(accounts).toHaveLength(12);
    });

    test("the a-b and a1b database names collide as unescaped LIKE patterns (the pair is a real test of the escaping)", () => {
        const aAuth = accounts.find((a) => a.tenant === TENANT_A && a.database.includes("_auth_"))!.database;
        const bAuth = accounts.find((a) => a.tenant === TENANT_B && a.database.includes("_auth_"))!.database;
        const like = (pattern: string) => new RegExp(`^${pattern.replace(/_/g, ".")}$`);
        expect(like(aAuth).test(bAuth)).toBe(true);
    });

    test("every grant pattern is the database name with `_` escaped, and grants exactly the data and schema privileges", () => {
        // Database-level privileges only: nothing server-wide (no ALL, GRANT OPTION, SUPER, FILE, PROCESS, CREATE USER, RELOAD, SHUTDOWN).
        const expected = [
            "ALTER",
            "CREATE",
            "CREATE TEMPORARY TABLES",
            "CREATE VIEW",
            "DELETE",
            "DROP",
            "EXECUTE",
            "INDEX",
            "INSERT",
            "LOCK TABLES",
            "REFERENCES",
            "SELECT",
            "SHOW VIEW",
            "TRIGGER",
            "UPDATE",
        ];
        for (const a of accounts) {
            expect({ urn: a.grantUrn, pattern: a.pattern }).toEqual({ urn: a.grantUrn, pattern: a.database.replace(/_/g, "\\_") });
            expect({ urn: a.grantUrn, privileges: [...a.privileges].sort() }).toEqual({ urn: a.grantUrn, privileges: expected });
        }
    });
});

describe("the server accepts the declarations", () => {
    test("SHOW GRANTS holds exactly USAGE on *.* and the declared privileges on the declared pattern", async () => {
        for (const a of accounts) {
            const [rows] = await admin.query(`SHOW GRANTS FOR ${account(a.user, a.host)}`);
            const grants = (rows as Record<string, string>[]).map((r) => Object.values(r)[0]);
            expect(grants).toHaveLength(2);
            expect(grants[0]).toMatch(new RegExp(`^GRANT USAGE ON \\*\\.\\* TO \`${a.user}\`@\`%\``));
            const onPattern = grants[1];
            expect(onPattern.startsWith("GRANT ")).toBe(true);
            expect(onPattern).toContain(` ON \`${a.pattern}\`.* TO \`${a.user}\`@\`%\``);
            const granted = onPattern.slice("GRANT ".length, onPattern.indexOf(" ON `")).split(", ").sort();
            expect(granted).toEqual([...a.privileges].sort());
        }
    });

    test("databases exist with the declared character set and collation", async () => {
        const [rows] = await admin.query(
            "SELECT SCHEMA_NAME AS name, DEFAULT_CHARACTER_SET_NAME AS charset, DEFAULT_COLLATION_NAME AS collation FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'client\\_a%'",
        );
        const byName = new Map((rows as { name: string; charset: string; collation: string }[]).map((r) => [r.name, r]));
        for (const db of [...ofType(resources, DATABASE, TENANT_A), ...ofType(resources, DATABASE, TENANT_B)]) {
            expect(byName.get(input(db, "name"))).toEqual({
                name: input(db, "name"),
                charset: input(db, "defaultCharacterSet"),
                collation: input(db, "defaultCollation"),
            });
        }
    });
});

describe.each(TENANTS)("tenant %s, with its own service credentials", (tenant) => {
    test("each service user creates, fills, reads and drops a table in its own database", async () => {
        for (const a of ownAccounts(tenant)) {
            await withConnection(a, async (c) => {
                await c.query(`CREATE TABLE ${quoteIdent(a.database)}.contract_probe (id INT PRIMARY KEY, note VARCHAR(40))`);
                await c.query(`INSERT INTO ${quoteIdent(a.database)}.contract_probe VALUES (1, ?)`, [a.user]);
                const [rows] = await c.query(`SELECT note FROM ${quoteIdent(a.database)}.contract_probe`);
                expect(rows).toEqual([{ note: a.user }]);
                await c.query(`DROP TABLE ${quoteIdent(a.database)}.contract_probe`);
            });
        }
    });

    test("is refused on every database of the other tenant (CREATE TABLE and USE)", async () => {
        const theirs = ownAccounts(otherTenant(tenant)).map((a) => a.database);
        for (const a of ownAccounts(tenant)) {
            await withConnection(a, async (c) => {
                for (const db of theirs) {
                    const create = await rejection(c.query(`CREATE TABLE ${quoteIdent(db)}.intruder (id INT)`));
                    expect({ user: a.user, db, code: create.code }).toEqual({ user: a.user, db, code: "ER_TABLEACCESS_DENIED_ERROR" });
                    expect(create.message).toContain(`CREATE command denied to user '${a.user}'@'`);
                    const use = await rejection(c.query(`USE ${quoteIdent(db)}`));
                    expect({ user: a.user, db, code: use.code }).toEqual({ user: a.user, db, code: "ER_DBACCESS_DENIED_ERROR" });
                    expect(use.message).toContain(`to database '${db}'`);
                }
            });
        }
    });

    test("cannot connect with the other tenant's database as its default schema", async () => {
        const a = ownAccounts(tenant)[0];
        for (const db of ownAccounts(otherTenant(tenant)).map((x) => x.database)) {
            const err = await rejection(connectAs(a, db).then((c) => c.end()));
            expect({ db, code: err.code }).toEqual({ db, code: "ER_DBACCESS_DENIED_ERROR" });
        }
    });

    test("each service user is refused on its own tenant's other services' databases", async () => {
        const mine = ownAccounts(tenant);
        for (const a of mine) {
            await withConnection(a, async (c) => {
                // Other services' accounts (the same service's rotation partner shares its database).
                for (const other of mine.filter((x) => x.database !== a.database)) {
                    const err = await rejection(c.query(`CREATE TABLE ${quoteIdent(other.database)}.intruder (id INT)`));
                    expect({ user: a.user, db: other.database, code: err.code }).toEqual({
                        user: a.user,
                        db: other.database,
                        code: "ER_TABLEACCESS_DENIED_ERROR",
                    });
                }
            });
        }
    });

    test("sees only its own database and cannot create new ones", async () => {
        for (const a of ownAccounts(tenant)) {
            await withConnection(a, async (c) => {
                const [rows] = await c.query("SHOW DATABASES");
                const visible = (rows as { Database: string }[]).map((r) => r.Database).filter((d) => d !== "information_schema");
                expect({ user: a.user, visible }).toEqual({ user: a.user, visible: [a.database] });
                const err = await rejection(c.query(`CREATE DATABASE ${quoteIdent(a.database + "_x")}`));
                expect(err.code).toBe("ER_DBACCESS_DENIED_ERROR");
            });
        }
    });
});

describe("the `_` escaping is what separates a-b from a1b", () => {
    test("control: the same grant with the unescaped name would let a-b's user into a1b's database", async () => {
        const aAuth = accounts.find((a) => a.tenant === TENANT_A && a.database.includes("_auth_"))!;
        const bAuth = accounts.find((a) => a.tenant === TENANT_B && a.database.includes("_auth_"))!;
        await withConnection({ user: CONTROL_USER, password: CONTROL_PASSWORD }, async (c) => {
            await c.query(`CREATE TABLE ${quoteIdent(bAuth.database)}.leaked (id INT)`);
            await c.query(`DROP TABLE ${quoteIdent(bAuth.database)}.leaked`);
        });
        // And the declared (escaped) grant of the same database does not.
        await withConnection(aAuth, async (c) => {
            const err = await rejection(c.query(`CREATE TABLE ${quoteIdent(bAuth.database)}.leaked (id INT)`));
            expect(err.code).toBe("ER_TABLEACCESS_DENIED_ERROR");
        });
    });
});

/**
 * The AMQP 0-9-1 opening handshake, byte by byte, to read the broker's exact
 * answer to a login and a vhost. amqplib reports a refusal at
 * connection.open only as "Expected ConnectionOpenOk; got <ConnectionClose>",
 * without the reply code and text the broker sent; this shows them.
 */
import * as net from "node:net";

export type HandshakeOutcome =
    | { readonly outcome: "opened" }
    /** The broker closed the connection: after start-ok (login) or after open (vhost). */
    | { readonly outcome: "closed"; readonly after: "start-ok" | "open"; readonly replyCode: number; readonly replyText: string };

const FRAME_END = 0xce;

function shortstr(s: string): Buffer {
    const b = Buffer.from(s, "utf8");
    return Buffer.concat([Buffer.from([b.length]), b]);
}

function longstr(b: Buffer): Buffer {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    return Buffer.concat([len, b]);
}

function table(entries: Buffer[]): Buffer {
    return longstr(Buffer.concat(entries));
}

/** client-properties: capabilities.authentication_failure_close, so a refused login is answered with connection.close. */
function clientProperties(): Buffer {
    const capability = Buffer.concat([shortstr("authentication_failure_close"), Buffer.from("t"), Buffer.from([1])]);
    return table([Buffer.concat([shortstr("capabilities"), Buffer.from("F"), table([capability])])]);
}

function methodFrame(classId: number, methodId: number, args: Buffer): Buffer {
    const head = Buffer.alloc(11);
    head.writeUInt8(1, 0); // method frame
    head.writeUInt16BE(0, 1); // channel 0
    head.writeUInt32BE(4 + args.length, 3);
    head.writeUInt16BE(classId, 7);
    head.writeUInt16BE(methodId, 9);
    return Buffer.concat([head, args, Buffer.from([FRAME_END])]);
}

interface Method {
    readonly classId: number;
    readonly methodId: number;
    readonly args: Buffer;
}

/**
 * Logs in as `user` with PLAIN and opens `vhost`; resolves with what the
 * broker answered. Rejects only on socket problems or a protocol surprise.
 */
export function amqpHandshake(opts: {
    host: string;
    port: number;
    user: string;
    password: string;
    vhost: string;
    timeoutMs?: number;
}): Promise<HandshakeOutcome> {
    return new Promise((resolve, reject) => {
        const socket = net.connect({ host: opts.host, port: opts.port });
        let buffered = Buffer.alloc(0);
        let step: "start" | "tune" | "open-ok" = "start";
        const done = (err: Error | null, value?: HandshakeOutcome) => {
            clearTimeout(timer);
            socket.destroy();
            if (err) reject(err);
            else resolve(value!);
        };
        const timer = setTimeout(() => done(new Error(`AMQP handshake with ${opts.host}:${opts.port} timed out`)), opts.timeoutMs ?? 10_000);
        const closeOf = (m: Method, after: "start-ok" | "open"): HandshakeOutcome => {
            const replyCode = m.args.readUInt16BE(0);
            const textLength = m.args.readUInt8(2);
            return { outcome: "closed", after, replyCode, replyText: m.args.subarray(3, 3 + textLength).toString("utf8") };
        };
        const onMethod = (m: Method) => {
            const isClose = m.classId === 10 && m.methodId === 50;
            if (step === "start") {
                if (m.classId !== 10 || m.methodId !== 10) return done(new Error(`expected connection.start, got ${m.classId}.${m.methodId}`));
                const response = Buffer.from(`\u0000${opts.user}\u0000${opts.password}`, "utf8");
                socket.write(methodFrame(10, 11, Buffer.concat([clientProperties(), shortstr("PLAIN"), longstr(response), shortstr("en_US")])));
                step = "tune";
            } else if (step === "tune") {
                if (isClose) return done(null, closeOf(m, "start-ok"));
                if (m.classId !== 10 || m.methodId !== 30) return done(new Error(`expected connection.tune, got ${m.classId}.${m.methodId}`));
                const tuneOk = Buffer.alloc(8);
                tuneOk.writeUInt16BE(m.args.readUInt16BE(0), 0); // channel-max as offered
                tuneOk.writeUInt32BE(m.args.readUInt32BE(2), 2); // frame-max as offered
                tuneOk.writeUInt16BE(0, 6); // no heartbeat
                socket.write(methodFrame(10, 31, tuneOk));
                socket.write(methodFrame(10, 40, Buffer.concat([shortstr(opts.vhost), shortstr(""), Buffer.from([0])])));
                step = "open-ok";
            } else {
                if (isClose) return done(null, closeOf(m, "open"));
                if (m.classId !== 10 || m.methodId !== 41) return done(new Error(`expected connection.open-ok, got ${m.classId}.${m.methodId}`));
                done(null, { outcome: "opened" });
            }
        };
        socket.on("connect", () => socket.write(Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1])));
        socket.on("data", (chunk: Buffer) => {
            buffered = Buffer.concat([buffered, chunk]);
            while (buffered.length >= 7) {
                const size = buffered.readUInt32BE(3);
                if (buffered.length < 7 + size + 1) return;
                const type = buffered.readUInt8(0);
                const payload = buffered.subarray(7, 7 + size);
                buffered = buffered.subarray(8 + size);
                if (type === 1) onMethod({ classId: payload.readUInt16BE(0), methodId: payload.readUInt16BE(2), args: payload.subarray(4) });
            }
        });
        socket.on("error", (err) => done(err));
        socket.on("end", () => done(new Error("the broker closed the socket without a connection.close")));
    });
}

// A loopback HTTP proxy in front of the Workers that fails requests on command: answers 5xx,
// cuts connections before or after the server saw the request, or holds requests back.
import { createServer, request as forwardRequest, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type Fault =
  | { kind: "pass" }
  | { kind: "status"; status: number; retryAfter?: string }
  /** The connection dies mid-body: the server never gets the part. */
  | { kind: "drop-before" }
  /** The server stores the part, but its answer never reaches the client. */
  | { kind: "drop-after" }
  /** Forwarded only once `until` resolves. */
  | { kind: "hold"; until: Promise<void> };

export type Seen = { method: string; path: string; fault: Fault["kind"] };

export interface FaultProxy {
  url: string;
  seen: Seen[];
  close(): Promise<void>;
}

export async function startFaultProxy(
  target: string,
  decide: (method: string, path: string) => Fault,
): Promise<FaultProxy> {
  const upstream = new URL(target);
  const seen: Seen[] = [];
  const forward = (req: IncomingMessage, res: ServerResponse, onAnswer?: (answer: IncomingMessage) => void) => {
    const out = forwardRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: upstream.host },
      },
      (answer) => {
        if (onAnswer !== undefined) return onAnswer(answer);
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on("error", () => res.destroy());
    req.pipe(out);
  };
  const server = createServer((req, res) => {
    const method = req.method ?? "GET";
    const path = req.url ?? "/";
    const fault = decide(method, path);
    seen.push({ method, path, fault: fault.kind });
    switch (fault.kind) {
      case "pass":
        return forward(req, res);
      case "status":
        // Read the whole body first: answering early would race the client's upload.
        req.resume();
        req.on("end", () => {
          res.writeHead(fault.status, {
            "content-type": "application/json",
            ...(fault.retryAfter === undefined ? {} : { "retry-after": fault.retryAfter }),
          });
          res.end(JSON.stringify({ error: { code: "injected", message: "injected by the test proxy" } }));
        });
        return;
      case "drop-before": {
        let received = 0;
        req.on("data", (chunk: Buffer) => {
          received += chunk.byteLength;
          if (received >= 256 * 1024) req.socket.destroy();
        });
        req.on("end", () => req.socket.destroy());
        return;
      }
      case "drop-after":
        return forward(req, res, (answer) => {
          answer.resume();
          answer.on("end", () => req.socket.destroy());
        });
      case "hold":
        req.pause();
        void fault.until.then(() => forward(req, res));
        return;
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** "PUT", "/uploads/abc/parts/3" -> 3; undefined for anything but a part upload. */
export const partOf = (method: string, path: string): number | undefined => {
  const match = method === "PUT" ? /\/parts\/(\d+)$/.exec(path) : null;
  return match === null ? undefined : Number(match[1]);
};

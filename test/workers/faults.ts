/**
 * Wrappers around the real bindings that count calls and inject faults. Everything not
 * intercepted goes straight to the real local R2 / D1.
 */

export type BucketHooks = {
  /** Called before each multipart complete; throw to make R2 "fail". */
  beforeComplete?: (call: number) => void;
  beforeAbort?: (call: number) => void;
  beforeUploadPart?: (call: number) => void;
};

export type BucketProbe = { bucket: R2Bucket; completeCalls: () => number; abortCalls: () => number };

export function probeBucket(real: R2Bucket, hooks: BucketHooks = {}): BucketProbe {
  let completes = 0;
  let aborts = 0;
  let uploadParts = 0;
  const wrapUpload = (upload: R2MultipartUpload): R2MultipartUpload =>
    new Proxy(upload, {
      get(target, prop) {
        if (prop === "complete") {
          return async (parts: R2UploadedPart[]) => {
            completes++;
            hooks.beforeComplete?.(completes);
            return target.complete(parts);
          };
        }
        if (prop === "uploadPart") {
          return async (
            partNumber: number,
            value: ReadableStream | ArrayBuffer | string | Blob,
            options?: R2UploadPartOptions,
          ) => {
            uploadParts++;
            hooks.beforeUploadPart?.(uploadParts);
            return target.uploadPart(partNumber, value, options);
          };
        }
        if (prop === "abort") {
          return async () => {
            aborts++;
            hooks.beforeAbort?.(aborts);
            return target.abort();
          };
        }
        return bound(target, prop);
      },
    });
  const bucket = new Proxy(real, {
    get(target, prop) {
      if (prop === "resumeMultipartUpload") {
        return (key: string, uploadId: string) => wrapUpload(target.resumeMultipartUpload(key, uploadId));
      }
      return bound(target, prop);
    },
  });
  return { bucket, completeCalls: () => completes, abortCalls: () => aborts };
}

/** A D1 binding whose batches can be made to fail. */
export function flakyDb(real: D1Database, shouldFail: (call: number) => boolean): D1Database {
  let calls = 0;
  return new Proxy(real, {
    get(target, prop) {
      if (prop === "batch") {
        return async (statements: D1PreparedStatement[]) => {
          calls++;
          if (shouldFail(calls)) throw new Error("D1_ERROR: injected failure");
          return target.batch(statements);
        };
      }
      return bound(target, prop);
    },
  });
}

function bound(target: object, prop: string | symbol): unknown {
  const value: unknown = Reflect.get(target, prop);
  return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
}

export function r2Error(message: string, code: number): Error {
  return new Error(`${message} (${code})`);
}

export type D1Probe = { db: D1Database; roundTrips: () => number };

/** Counts D1 round trips: every batch, and every statement run on its own. */
export function countRoundTrips(real: D1Database): D1Probe {
  let trips = 0;
  const executing = new Set<string | symbol>(["first", "run", "all", "raw"]);
  const wrapStatement = (statement: D1PreparedStatement): D1PreparedStatement =>
    new Proxy(statement, {
      get(target, prop) {
        if (prop === "bind") {
          return (...values: unknown[]) => wrapStatement(target.bind(...values));
        }
        if (executing.has(prop)) {
          const method = bound(target, prop) as (...args: unknown[]) => unknown;
          return (...args: unknown[]) => {
            trips++;
            return method(...args);
          };
        }
        return bound(target, prop);
      },
    });
  const db = new Proxy(real, {
    get(target, prop) {
      if (prop === "prepare") {
        return (sql: string) => wrapStatement(target.prepare(sql));
      }
      if (prop === "batch") {
        return async (statements: D1PreparedStatement[]) => {
          trips++;
          return target.batch(statements);
        };
      }
      return bound(target, prop);
    },
  });
  return { db, roundTrips: () => trips };
}

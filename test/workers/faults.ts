/**
 * Wrappers around the real bindings that count calls and inject faults. Everything not
 * intercepted goes straight to the real local R2 / D1.
 */

export type BucketHooks = {
  /** Called before each multipart complete; throw to make R2 "fail". */
  beforeComplete?: (call: number) => void;
  beforeAbort?: (call: number) => void;
};

export type BucketProbe = { bucket: R2Bucket; completeCalls: () => number; abortCalls: () => number };

export function probeBucket(real: R2Bucket, hooks: BucketHooks = {}): BucketProbe {
  let completes = 0;
  let aborts = 0;
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

// Type test, checked by `npm run typecheck` (tsc -p test/client/contract), never run: it fails to
// compile when the client's published types stop being exactly the server's contract. The client
// takes them from the OpenAPI document (client/src/openapi.ts, kept current by
// test/contract/openapi.test.ts), so this also proves the document says what the schemas say.
// Requests are compared with what the server's schema accepts (its input), responses with what
// it produces (its output). Both directions count: a field the server adds, drops, renames, makes
// optional or retypes breaks the build until the document and the client say the same.
import type { z } from "zod/mini";
import type { createUpload } from "../../../client/src/api.js";
import type * as client from "../../../client/src/contract.js";
import type { UploadStatus } from "../../../client/src/index.js";
import type * as deadLetters from "../../../shared/dead-letter-schemas.js";
import type * as server from "../../../shared/schemas.js";

/** True only for identical types (not merely mutually assignable: `any` and optionality count). */
type Exactly<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/** Flattens intersections and nested objects, so that only the shape is compared, not how it was written. */
type Shape<T> = T extends (...args: never[]) => unknown
  ? T
  : T extends readonly (infer E)[]
    ? Shape<E>[]
    : T extends object
      ? { [K in keyof T]: Shape<T[K]> }
      : T;
type Same<A, B> = Exactly<Shape<A>, Shape<B>>;

/** Compiles only when handed `true`: a drifted pair fails on its own line. */
const same = <Check extends true>(_drifted: Check) => undefined;

same<Same<client.CreateUploadRequest, z.input<typeof server.CreateUploadRequest>>>(true);
same<Same<client.CompleteUploadRequest, z.input<typeof server.CompleteUploadRequest>>>(true);
same<Same<client.UploadStatus, z.output<typeof server.UploadStatus>>>(true);
same<Same<client.CreatedUpload, z.output<typeof server.CreatedUpload>>>(true);
same<Same<client.PartUploadedResponse, z.output<typeof server.PartUploadedResponse>>>(true);
same<Same<client.ChunkStagedResponse, z.output<typeof server.ChunkStagedResponse>>>(true);
same<Same<client.ErrorBody, z.output<typeof server.ErrorBody>>>(true);
same<Same<client.UploadState, z.output<typeof server.UploadState>>>(true);
same<Same<client.DeadLetter, z.output<typeof deadLetters.DeadLetter>>>(true);
same<Same<client.DeadLetterList, z.output<typeof deadLetters.DeadLetterList>>>(true);
same<Same<client.DeadLetterReplay, z.output<typeof deadLetters.DeadLetterReplay>>>(true);
same<Same<client.DeadLetterState, z.output<typeof deadLetters.DeadLetterState>>>(true);

// The library's own signatures use these types, so they are what callers get.
same<Same<Parameters<typeof createUpload>[1], z.input<typeof server.CreateUploadRequest>>>(true);
same<Same<Awaited<ReturnType<typeof createUpload>>, z.output<typeof server.CreatedUpload>>>(true);
same<Same<UploadStatus, z.output<typeof server.UploadStatus>>>(true);

/**
 * The HTTP API's request and response bodies, taken from the types openapi-typescript generates
 * from the service's published document (./openapi.ts, from producer/openapi.json): no copy of
 * the contract is written by hand, and the package needs neither zod nor the server's sources.
 * test/client/contract/ fails `npm run typecheck` when these stop being exactly the server's zod
 * schemas (requests: what a schema accepts, responses: what it produces).
 */
import type { components } from "./openapi.js";

type Schemas = components["schemas"];

/** Body of POST /uploads. */
export type CreateUploadRequest = Schemas["CreateUploadRequest"];
/** Body of POST /uploads/{id}/complete. */
export type CompleteUploadRequest = Schemas["CompleteUploadRequest"];
/** GET /uploads/{id}, and the answer to abort and complete. */
export type UploadStatus = Schemas["UploadStatus"];
/** The answer to POST /uploads: the new upload's status and a token for it alone. */
export type CreatedUpload = Schemas["CreatedUpload"];
export type StreamStatus = Schemas["StreamStatus"];
export type ObjectInfo = Schemas["ObjectInfo"];
/** The answer to PUT /uploads/{id}/parts/{n}. */
export type PartUploadedResponse = Schemas["PartUploaded"];
/** The answer to PUT /uploads/{id}/chunks/{seq} (stream mode). */
export type ChunkStagedResponse = Schemas["ChunkStaged"];
/** Every 4xx and 5xx answer of the API. */
export type ErrorBody = Schemas["Error"];
export type UploadState = UploadStatus["state"];
export type UploadMode = UploadStatus["mode"];

import type { Route } from "../http/route";
import { discardDeadLetter } from "./dead-letters/discard";
import { listDeadLetters } from "./dead-letters/list";
import { replayDeadLetterRoute } from "./dead-letters/replay";
import { health } from "./health";
import { getObject, headObject } from "./objects/read";
import { openApi } from "./openapi";
import { tusCreate } from "./tus/create";
import { tusHead } from "./tus/head";
import { tusOptions, tusUploadOptions } from "./tus/options";
import { tusPatch } from "./tus/patch";
import { tusTerminate } from "./tus/terminate";
import { abort } from "./uploads/abort";
import { complete } from "./uploads/complete";
import { create } from "./uploads/create";
import { listUploads } from "./uploads/list";
import { putChunk } from "./uploads/put-chunk";
import { putPart } from "./uploads/put-part";
import { status } from "./uploads/status";
import { uploadSummary } from "./uploads/summary";

/**
 * Every native route, in the order the API reference lists them. `/uploads/summary` comes before
 * `/uploads/{uploadId}`, which would otherwise take "summary" for an upload id.
 */
export const nativeRoutes: Route[] = [
  create,
  listUploads,
  uploadSummary,
  status,
  abort,
  complete,
  putPart,
  putChunk,
  headObject,
  getObject,
  tusOptions,
  tusCreate,
  tusHead,
  tusPatch,
  tusTerminate,
  tusUploadOptions,
  listDeadLetters,
  replayDeadLetterRoute,
  discardDeadLetter,
  health,
  openApi,
];

export { compatRoutes } from "./compat/app";

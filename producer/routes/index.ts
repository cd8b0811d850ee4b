import type { Route } from "../http/route";
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
import { putChunk } from "./uploads/put-chunk";
import { putPart } from "./uploads/put-part";
import { status } from "./uploads/status";

/** Every native route, in the order the API reference lists them. */
export const nativeRoutes: Route[] = [
  create,
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
  openApi,
];

export { compatRoutes } from "./compat/app";

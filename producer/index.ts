import { app } from "./app";
import type { Env } from "./env";

export { ChunkStream } from "./streams/chunk-stream";
export { TusUpload } from "./tus/upload-object";

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;

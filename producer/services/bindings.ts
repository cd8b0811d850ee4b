import type { Env } from "../env";
/** What the services touch: the bucket, the database, the event queue the tus uploads' and chunk streams' objects. */
export type Bindings = Pick<Env, "BUCKET" | "DB" | "UPLOAD_EVENTS" | "TUS_UPLOADS" | "CHUNK_STREAMS" | "METRICS">;

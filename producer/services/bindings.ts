import type { Env } from "../env";
/** What the services touch: the bucket, the database, the event queue and the tus uploads' objects. */
export type Bindings = Pick<Env, "BUCKET" | "DB" | "UPLOAD_EVENTS" | "TUS_UPLOADS">;

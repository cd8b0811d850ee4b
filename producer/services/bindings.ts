import type { Env } from "../env";
/** What the services touch: the bucket, the database and the event queue. */
export type Bindings = Pick<Env, "BUCKET" | "DB" | "UPLOAD_EVENTS">;

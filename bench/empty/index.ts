import { DurableObject } from "cloudflare:workers";

// The cold-start reference: a Worker that does nothing at all. Its time to first response is
// the runtime's own floor, which the producer and consumer are measured against.
export default {
  fetch: () => new Response("ok"),
  scheduled: () => undefined,
  queue: () => undefined,
} satisfies ExportedHandler;

/** The producer's config declares this Durable Object class; the empty twin must export one. */
export class TusUpload extends DurableObject {}

/** The chunk streams' Durable Object class, declared by the producer's config too. */
export class ChunkStream extends DurableObject {}

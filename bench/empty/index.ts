// The cold-start reference: a Worker that does nothing at all. Its time to first response is
// the runtime's own floor, which the producer and consumer are measured against.
export default {
  fetch: () => new Response("ok"),
  scheduled: () => undefined,
  queue: () => undefined,
} satisfies ExportedHandler;

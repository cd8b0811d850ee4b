// POST /send?id=X  -> sends {id, sentAt} on the probe queue; answers once the send resolved.
// GET  /seen/X     -> what the consumer recorded for X, or 404 while it has not run yet.
type ProbeProducerEnv = { BUCKET: R2Bucket; PROBE: Queue<ProbeMessage> };
type ProbeMessage = { id: string; sentAt: number };

export default {
  async fetch(request, env): Promise<Response> {
    const url = new URL(request.url);
    if (request.method === "POST" && url.pathname === "/send") {
      const id = url.searchParams.get("id") ?? crypto.randomUUID();
      const sentAt = Date.now();
      await env.PROBE.send({ id, sentAt }, { contentType: "json" });
      return Response.json({ id, sentAt });
    }
    if (request.method === "GET" && url.pathname.startsWith("/seen/")) {
      const object = await env.BUCKET.get(`seen/${url.pathname.slice("/seen/".length)}`);
      if (object === null) return new Response("not yet", { status: 404 });
      return new Response(object.body, { headers: { "content-type": "application/json" } });
    }
    return new Response("ok");
  },
} satisfies ExportedHandler<ProbeProducerEnv>;

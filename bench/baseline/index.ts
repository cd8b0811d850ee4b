// Minimal baseline Worker: PUT streams the request body straight into `uploadPart`.
// POST (create) and DELETE (abort) exist only so the benchmark can set up and clean up; they
// are not timed.
//
//   POST   /mpu?key=K                          -> {"uploadId"}
//   PUT    /mpu?key=K&uploadId=U&part=N  body  -> {"etag"}        (the timed path)
//   DELETE /mpu?key=K&uploadId=U               -> 204
//   PUT    /obj?key=K                    body  -> {"etag"}        (chunk baseline: one R2 put)
//   GET    /                                   -> "ok"            (cold-start probe)
//
// Diagnostic variant, not the baseline: `PUT /mpu?...&tap=1` first passes the body through a
// TransformStream whose JS callback counts the bytes, into a FixedLengthStream of the declared
// length (what a Worker has to do to meter or hash a body on its way to R2). It shows what
// per-chunk JavaScript on the body path costs in this runtime.

type BaselineEnv = { BUCKET: R2Bucket };

/** The body through a JS byte counter into a stream of the declared length (diagnostic only). */
function tapped(request: Request, seen: { chunks: number }): ReadableStream<Uint8Array> {
  const length = Number(request.headers.get("content-length") ?? "0");
  let bytes = 0;
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      bytes += chunk.byteLength;
      seen.chunks++;
      controller.enqueue(chunk);
    },
    flush() {
      if (bytes !== length) throw new Error(`body was ${bytes} bytes, declared ${length}`);
    },
  });
  const sized = new FixedLengthStream(length);
  void (request.body ?? new ReadableStream({ start: (c) => c.close() }))
    .pipeThrough(counter)
    .pipeTo(sized.writable)
    .catch(() => undefined);
  return sized.readable;
}

export default {
  async fetch(request, env): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/obj" && request.method === "PUT") {
      // The least a stream chunk needs: stored durably as an object of its own.
      const stored = await env.BUCKET.put(url.searchParams.get("key") ?? "chunk", request.body);
      return Response.json({ etag: stored?.etag ?? null });
    }
    if (url.pathname !== "/mpu") return new Response("ok");
    const key = url.searchParams.get("key") ?? "baseline";
    switch (request.method) {
      case "POST": {
        const upload = await env.BUCKET.createMultipartUpload(key);
        return Response.json({ uploadId: upload.uploadId });
      }
      case "PUT": {
        const upload = env.BUCKET.resumeMultipartUpload(key, url.searchParams.get("uploadId") ?? "");
        const seen = { chunks: 0 };
        const body = url.searchParams.has("tap") ? tapped(request, seen) : (request.body ?? new Uint8Array(0));
        const part = await upload.uploadPart(Number(url.searchParams.get("part")), body);
        return Response.json({ etag: part.etag, chunks: seen.chunks });
      }
      case "DELETE": {
        await env.BUCKET.resumeMultipartUpload(key, url.searchParams.get("uploadId") ?? "").abort();
        return new Response(null, { status: 204 });
      }
    }
    return new Response("method not allowed", { status: 405 });
  },
} satisfies ExportedHandler<BaselineEnv>;

/** What `upload()` accepts: a Blob/File (known size) or a stream of unknown length. */
export type UploadSource = Blob | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>;

export type Source = { kind: "blob"; blob: Blob; size: number } | { kind: "stream"; chunks: AsyncIterable<Uint8Array> };

export function describeSource(source: UploadSource): Source {
  if (source instanceof Blob) return { kind: "blob", blob: source, size: source.size };
  if (source instanceof ReadableStream) return { kind: "stream", chunks: readerIterable(source) };
  return { kind: "stream", chunks: source };
}

// Not every runtime makes ReadableStream async-iterable (Safari does not), so read it by hand.
async function* readerIterable(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

export interface StreamPart {
  partNumber: number;
  bytes: Uint8Array<ArrayBuffer>;
  /** Known because the splitter reads one chunk past a full part before handing it out. */
  final: boolean;
}

/**
 * Cuts a stream into parts of exactly `partSize` bytes (the last one shorter), copying chunks
 * into one buffer per part. A buffer is only allocated when the caller asks for the next part,
 * so a caller that holds at most N parts holds at most N buffers. An empty stream yields one
 * empty part, which is how the API spells an empty object.
 */
export async function* splitParts(chunks: AsyncIterable<Uint8Array>, partSize: number): AsyncGenerator<StreamPart> {
  let partNumber = 0;
  let buffer: Uint8Array<ArrayBuffer> | undefined;
  let filled = 0;
  let full: Uint8Array<ArrayBuffer> | undefined;
  for await (const chunk of chunks) {
    let offset = 0;
    while (offset < chunk.byteLength) {
      if (full !== undefined) {
        const bytes = full;
        full = undefined;
        yield { partNumber: ++partNumber, bytes, final: false };
      }
      buffer ??= new Uint8Array(partSize);
      const take = Math.min(partSize - filled, chunk.byteLength - offset);
      buffer.set(chunk.subarray(offset, offset + take), filled);
      filled += take;
      offset += take;
      if (filled === partSize) {
        full = buffer;
        buffer = undefined;
        filled = 0;
      }
    }
  }
  if (full !== undefined) yield { partNumber: ++partNumber, bytes: full, final: true };
  else if (filled > 0 || partNumber === 0) {
    yield { partNumber: ++partNumber, bytes: (buffer ?? new Uint8Array(0)).subarray(0, filled), final: true };
  }
}

const CHUNK = 64 * 1024;

/** A fresh stream over one part that reports each chunk as fetch reads it. */
export function countingBody(part: Blob | Uint8Array, onBytes: (bytes: number) => void): ReadableStream<Uint8Array> {
  if (part instanceof Blob) {
    return part.stream().pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        // An in-memory Blob can hand over a whole part as one chunk: re-cut it so that
        // progress moves while the part is on its way.
        transform(chunk, controller) {
          for (let offset = 0; offset < chunk.byteLength; offset += CHUNK) {
            const piece = chunk.subarray(offset, offset + CHUNK);
            controller.enqueue(piece);
            onBytes(piece.byteLength);
          }
        },
      }),
    );
  }
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= part.byteLength) return controller.close();
      const chunk = part.subarray(offset, offset + CHUNK);
      offset += chunk.byteLength;
      controller.enqueue(chunk);
      onBytes(chunk.byteLength);
    },
  });
}

import { DEFAULT_ENDPOINT } from "./context.js";

export const HELP = `Usage: ingest <command> [options]

Uploads large files to the R2 ingest service in parallel parts, resumably.

Commands:
  upload <file|->          Upload a file, or stdin with "-"
  status <uploadId>        Show an upload's state and missing parts
  abort <uploadId>         Abort an open upload
  download <key> [file]    Save an object to file (default: the key's last segment; "-" = stdout)
  list                     List uploads, newest first: a table on a terminal, tab-separated lines
                           otherwise (id, state, key, bytes, parts, age, expires in)
  summary                  Count uploads by state; bytes in flight; the oldest open upload
  dead-letters list        Messages the queue gave up on, newest first (id, state, type, key,
                           deliveries, age); --state, --limit, --cursor, --all as for list
  dead-letters replay <id>...   Put each back on the queue, once (again: reported, not resent)
  dead-letters discard <id>...  Set each aside for good

Upload options:
  --key <key>              Object key (default: the file's name; required with "-")
  --part-size <size>       Bytes per part: 8MiB, 8M (binary), 8MB (decimal) or a number.
                           Default 8MiB; the server refuses less than 5MiB
  --concurrency <n>        Parts in flight at once (default 4). Memory: n x part size
  --wait                   Exit only once the server has completed the object
  --resume <file|id>       Carry on an interrupted upload from its state file or upload id
  --state <file>           Where to keep resume state while uploading
                           (default: <file>.ingest.json, or ./<key>.ingest.json for stdin)
  --content-type <type>    Content-Type of the stored object
  --retries <n>            Retries per request on network errors, 429 and 5xx (default 6)

List options:
  --state <state>          open, completing, completed, aborted or failed; repeat it or give
                           a comma list for several
  --prefix <prefix>        Only keys that begin with it
  --api <api>              native, compat (S3), tus or stream
  --created-after <time>   Only uploads created after an ISO 8601 time: 2026-01-31T12:00:00Z
  --stale-before <time>    Only open uploads that expire before the time: --stale-before now
                           gives those past their expiry that the sweep has yet to abort
  --order <order>          newest (default), oldest, or expiring (soonest first)
  --limit <n>              Uploads per page, 1 to 200 (default 50)
  --cursor <cursor>        Carry on where the previous page ended (the cursor it printed)
  --all                    Follow the cursors to the last page
  With --json: the page ({"items":[...],"nextCursor"}), or with --all one array of every item.

Common options:
  --endpoint <url>         Service URL. Default: $INGEST_ENDPOINT, else ${DEFAULT_ENDPOINT}
  --token <token>          Sent as "Authorization: Bearer <token>". Default: $INGEST_TOKEN
  --json                   Print one JSON document on stdout (errors: {"error":{code,message}});
                           no progress output
  -h, --help               Show this help

Progress goes to stderr: a live bar on a terminal, a line every 2 s otherwise.
Ctrl-C stops an upload, keeps its state file and prints the command that resumes it.

Exit codes: 0 done, 1 failed, 2 bad usage, 130 interrupted (resumable).

Examples:
  ingest upload video.mp4 --key videos/cat.mp4 --wait
  tar c dir | ingest upload - --key backups/dir.tar
  ingest upload video.mp4 --resume video.mp4.ingest.json
  ingest status <uploadId> --json
  ingest download videos/cat.mp4 cat.mp4
  ingest list --state open,failed --prefix videos/
  ingest list --stale-before now --all --json
  ingest dead-letters list --state dead
  ingest dead-letters list --state dead --all | tail -n +2 | cut -f1 | xargs ingest dead-letters replay
`;

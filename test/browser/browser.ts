// What every browser test needs: Debian's Chromium driven by playwright-core (never a downloaded
// browser), a fresh context per test whose console errors and page errors fail the test unless
// the test said it expects them, sign-in, screenshots, and the API from the Node side to seed
// uploads and to check what the page claims.
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, type BrowserContext, chromium, type Locator, type Page } from "playwright-core";
import { afterAll, expect, inject, onTestFinished } from "vitest";

export const MiB = 1024 * 1024;

export const baseUrl = () => inject("baseUrl");
export const apiKey = () => inject("apiKey");
export const tenantKey = () => inject("tenantKey");
export const tenantPrefix = () => inject("tenantPrefix");

/** Where screenshots go (gitignored): stable names for the ones docs/ shows, test names for failures. */
export const SCREENSHOTS = fileURLToPath(new URL("../../test-results/browser/", import.meta.url));

/** A key prefix no other test or run uses: `browser-tests/<time>-<random>/<name>/`. */
export const uniquePrefix = (name: string) =>
  `browser-tests/${Date.now().toString(36)}-${randomBytes(3).toString("hex")}/${name}/`;

// One browser per test file (launching one costs ~1 s), one context per test.
let browser: Promise<Browser> | undefined;
afterAll(async () => {
  await (await browser)?.close();
  browser = undefined;
});

/** Debian's Chromium (apt-get install chromium); CHROMIUM_PATH points at another one, e.g. on macOS. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

function launch(): Promise<Browser> {
  browser ??= chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
    ],
  });
  return browser;
}

export type Session = {
  page: Page;
  context: BrowserContext;
  /**
   * Declares a console error or page error this test causes on purpose (a refused key's 401,
   * say). The test fails if it never shows up, like it fails on any error nobody declared.
   */
  expectError(pattern: RegExp): void;
  /** The console errors and page errors so far, as `console.error: …` / `page error: …` lines. */
  errors: string[];
};

/**
 * A page in a fresh browser context (no storage shared with other tests). When the test ends:
 * a screenshot if it failed, then the check that the page logged no error nobody expected.
 */
export async function openPage(): Promise<Session> {
  const context = await (await launch()).newContext({
    viewport: { width: 1280, height: 900 },
    baseURL: baseUrl(),
    // Times on the page (datetime-local filters, ages) in one zone and format, whatever the machine's.
    timezoneId: "UTC",
    locale: "en-US",
  });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  const errors: string[] = [];
  const expected: RegExp[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(`console.error: ${message.text()} (${message.location().url})`);
  });
  page.on("pageerror", (error) => errors.push(`page error: ${error.stack ?? error.message}`));
  onTestFinished(async ({ task }) => {
    try {
      if (task.result?.state === "fail") {
        const name = task.name.replace(/[^a-z0-9]+/gi, "-").slice(0, 100);
        await screenshot(page, `failed-${name}.png`).catch(() => undefined);
      }
      const unexpected = errors.filter((line) => !expected.some((pattern) => pattern.test(line)));
      const missing = expected.filter((pattern) => !errors.some((line) => pattern.test(line))).map(String);
      expect(unexpected, "console errors or page errors no test expected").toEqual([]);
      expect(missing, "errors the test expected but the page never logged").toEqual([]);
    } finally {
      await context.close();
    }
  });
  return { page, context, errors, expectError: (pattern) => expected.push(pattern) };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, name);
  // No focus ring or caret in the pictures the docs show.
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  await page.screenshot({ path, fullPage: true, animations: "disabled" });
  return path;
}

/** Opens the app at `route` (a hash route such as `#/upload`) and signs in there with the form. */
export async function signIn(page: Page, key: string, route = "#/"): Promise<void> {
  await page.goto(`/${route}`);
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("navigation", { name: "Main" }).waitFor();
}

/** Waits until `locator`'s text (trimmed) is `text`. */
export const expectText = (locator: Locator, text: string | RegExp, timeout = 15_000) =>
  expect
    .poll(
      async () =>
        (await locator.count()) === 0 ? "(no such element)" : ((await locator.first().textContent())?.trim() ?? ""),
      {
        timeout,
      },
    )
    .toMatch(typeof text === "string" ? new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`) : text);

/** The console's table rows as the page shows them: upload id, state and key of each. */
export async function tableRows(page: Page): Promise<Array<{ uploadId: string; state: string; key: string }>> {
  return page
    .getByRole("table", { name: "Uploads" })
    .locator("[data-upload-id]")
    .evaluateAll((rows) =>
      rows.map((row) => ({
        uploadId: row.getAttribute("data-upload-id") ?? "",
        state: row.getAttribute("data-state") ?? "",
        key: row.querySelector('a[href^="#/uploads/"]')?.textContent?.trim() ?? "",
      })),
    );
}

/** Sorted `state key` lines of the table, for comparing with what was seeded. */
export const rowLines = async (page: Page) =>
  (await tableRows(page)).map((row) => `${row.state} ${row.key}`).sort((a, b) => a.localeCompare(b));

/** Roles of what a user operates or reads a value from: each needs a name. Chromium's role names. */
const CONTROL_ROLES = new Set([
  "button",
  "link",
  "textbox",
  "searchbox",
  "checkbox",
  "radio",
  "combobox",
  "ComboBoxSelect",
  "ComboBoxMenuButton",
  "listbox",
  "spinbutton",
  "slider",
  "switch",
  "tab",
  "menuitem",
  "DateTime",
  "InputTime",
  "progressbar",
  "dialog",
]);

export type Control = { role: string; name: string; html: string };

/**
 * The page's controls with the accessible names Chromium computes for them (its accessibility
 * tree, as a screen reader gets it), hidden ones left out.
 */
export async function controls(page: Page): Promise<Control[]> {
  const cdp = await page.context().newCDPSession(page);
  try {
    const { nodes } = (await cdp.send("Accessibility.getFullAXTree")) as {
      nodes: Array<{
        ignored: boolean;
        role?: { value?: string };
        name?: { value?: string };
        backendDOMNodeId?: number;
      }>;
    };
    const found: Control[] = [];
    for (const node of nodes) {
      const role = node.role?.value ?? "";
      if (node.ignored || !CONTROL_ROLES.has(role)) continue;
      let html = "";
      if (node.backendDOMNodeId !== undefined) {
        const { outerHTML } = (await cdp.send("DOM.getOuterHTML", { backendNodeId: node.backendDOMNodeId })) as {
          outerHTML: string;
        };
        html = outerHTML.slice(0, 160);
      }
      found.push({ role, name: (node.name?.value ?? "").trim(), html });
    }
    return found;
  } finally {
    await cdp.detach();
  }
}

/**
 * Every control without an accessible name, as `role: <html>` lines. `mustInclude` names some
 * controls the check must have seen (with these names), so that it cannot pass by seeing nothing.
 */
export async function unnamedControls(page: Page, mustInclude: string[] = []): Promise<string[]> {
  const found = await controls(page);
  const names = new Set(found.map((control) => control.name));
  expect(
    mustInclude.filter((name) => !names.has(name)),
    "controls the accessibility tree should list",
  ).toEqual([]);
  return found.filter((control) => control.name === "").map((control) => `${control.role}: ${control.html}`);
}

// ---- The API from Node: seeding uploads and checking what the page says ----

/** A request to the API with an API key (the unrestricted one unless told). */
export function api(path: string, init: RequestInit = {}, key = apiKey()): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${key}`);
  return fetch(new URL(path, baseUrl()), { ...init, headers });
}

const objectPath = (key: string) => key.split("/").map(encodeURIComponent).join("/");

export type UploadStatus = { uploadId: string; key: string; state: string; api: string; object?: { size: number } };

async function json<T>(response: Response, expected: number, what: string): Promise<T> {
  if (response.status !== expected) throw new Error(`${what}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

/** An open native upload (two parts unless told; nothing sent yet), as the unrestricted key unless told. */
export async function createUpload(
  key: string,
  { parts = 2, as = apiKey(), staleAfterSeconds }: { parts?: number; as?: string; staleAfterSeconds?: number } = {},
): Promise<UploadStatus> {
  const response = await api(
    "uploads",
    {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ key, parts, staleAfterSeconds }),
    },
    as,
  );
  return json<UploadStatus>(response, 201, `POST /uploads ${key}`);
}

export async function fetchStatus(uploadId: string, as = apiKey()): Promise<UploadStatus> {
  return json<UploadStatus>(await api(`uploads/${encodeURIComponent(uploadId)}`, {}, as), 200, `status ${uploadId}`);
}

export async function abortUpload(uploadId: string, as = apiKey()): Promise<UploadStatus> {
  const response = await api(`uploads/${encodeURIComponent(uploadId)}`, { method: "DELETE" }, as);
  return json<UploadStatus>(response, 200, `DELETE /uploads/${uploadId}`);
}

export async function waitForState(uploadId: string, state: string, as = apiKey()): Promise<void> {
  await expect
    .poll(async () => (await fetchStatus(uploadId, as)).state, { timeout: 20_000, interval: 100 })
    .toBe(state);
}

/** A one-part upload through the native API, waited for until the consumer completed it. */
export async function completedNativeUpload(
  key: string,
  bytes: Uint8Array<ArrayBuffer>,
  as = apiKey(),
): Promise<UploadStatus> {
  const { uploadId } = await createUpload(key, { parts: 1, as });
  const response = await api(`uploads/${uploadId}/parts/1`, { method: "PUT", body: bytes }, as);
  await json(response, 200, `PUT part 1 of ${key}`);
  await waitForState(uploadId, "completed", as);
  return fetchStatus(uploadId, as);
}

/** A tus upload in one creation-with-upload request, waited for until completed. */
export async function completedTusUpload(
  key: string,
  bytes: Uint8Array<ArrayBuffer>,
  as = apiKey(),
): Promise<UploadStatus> {
  const response = await api(
    "files/",
    {
      method: "POST",
      headers: {
        "tus-resumable": "1.0.0",
        "upload-length": String(bytes.byteLength),
        "upload-metadata": `key ${Buffer.from(key).toString("base64")}`,
        "content-type": "application/offset+octet-stream",
      },
      body: bytes,
    },
    as,
  );
  if (response.status !== 201) throw new Error(`POST /files/ ${key}: ${response.status} ${await response.text()}`);
  expect(response.headers.get("upload-offset")).toBe(String(bytes.byteLength));
  const uploadId = new URL(response.headers.get("location") ?? "", baseUrl()).pathname.split("/").pop() ?? "";
  await waitForState(uploadId, "completed", as);
  return fetchStatus(uploadId, as);
}

export async function fetchObject(key: string, as = apiKey()): Promise<Uint8Array> {
  const response = await api(`objects/${objectPath(key)}`, {}, as);
  if (response.status !== 200) throw new Error(`GET /objects/${key}: ${response.status} ${await response.text()}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** Files of random bytes in a temporary folder removed after the test. */
export async function tempFiles(
  files: Record<string, number>,
): Promise<Record<string, { path: string; bytes: Buffer }>> {
  const dir = await mkdtemp(join(tmpdir(), "ingest-browser-"));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  const made: Record<string, { path: string; bytes: Buffer }> = {};
  for (const [name, size] of Object.entries(files)) {
    const bytes = randomBytes(size);
    const path = join(dir, name);
    await writeFile(path, bytes);
    made[name] = { path, bytes };
  }
  return made;
}

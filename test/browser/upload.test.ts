import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import {
  apiKey,
  expectText,
  fetchObject,
  fetchStatus,
  MiB,
  openPage,
  rowLines,
  screenshot,
  signIn,
  tempFiles,
  uniquePrefix,
  unnamedControls,
  waitForState,
} from "./browser.js";

describe("upload page", () => {
  it("shows both files completed with their sizes after uploading them through the Dashboard, and stores them byte for byte", async () => {
    const { page } = await openPage();
    // Two sizes: one below the 8 MiB tus part size (one part), one above it (two parts, the last short).
    const files = await tempFiles({ "small.bin": 3 * MiB, "large.bin": 9 * MiB + 12_345 });
    const prefix = uniquePrefix("upload");

    await signIn(page, apiKey(), "#/upload");
    await page.getByRole("heading", { level: 1, name: "Upload files" }).waitFor();
    const prefixBox = page.getByRole("textbox", { name: "Key prefix" });
    expect(await prefixBox.inputValue()).toBe("uploads/");
    await prefixBox.fill(prefix);

    await page
      .locator("input[type=file].uppy-Dashboard-input")
      .first()
      .setInputFiles(Object.values(files).map((f) => f.path));
    await page.locator(".uppy-StatusBar-actionBtn--upload").click();

    const finished = page.getByRole("list", { name: "Finished uploads" });
    const uploadIds: Record<string, string> = {};
    for (const name of Object.keys(files)) {
      const status = finished.getByRole("link", { name: `Status of ${name}`, exact: true });
      await status.waitFor({ timeout: 60_000 });
      const href = (await status.getAttribute("href")) ?? "";
      expect(href).toMatch(/^#\/uploads\/[\w-]{22}$/);
      uploadIds[name] = href.slice("#/uploads/".length);
      await finished.getByRole("link", { name: `Download ${prefix}${name}`, exact: true }).waitFor();
    }
    await screenshot(page, "upload-page.png");

    // The object keys are <prefix><file name>, and the consumer completes both.
    for (const [name, uploadId] of Object.entries(uploadIds)) {
      await expect
        .poll(async () => {
          const status = await fetchStatus(uploadId);
          return `${status.state} ${status.key} ${status.api}`;
        })
        .toBe(`completed ${prefix}${name} tus`);
    }

    // The console, filtered to this test's prefix, lists exactly these two, completed, with exact sizes.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Console" }).click();
    await page.getByRole("heading", { level: 1, name: "Uploads" }).waitFor();
    const filterPrefix = page.getByRole("form", { name: "Filters" }).getByRole("textbox", { name: "Key prefix" });
    await filterPrefix.fill(prefix);
    await filterPrefix.press("Enter");
    await expect
      .poll(() => rowLines(page), { timeout: 20_000 })
      .toEqual(
        Object.keys(files)
          .map((name) => `completed ${prefix}${name}`)
          .sort(),
      );

    const table = page.getByRole("table", { name: "Uploads" });
    for (const [name, { bytes }] of Object.entries(files)) {
      const row = table.locator(`[data-upload-id="${uploadIds[name]}"]`);
      expect(await row.getAttribute("data-state")).toBe("completed");
      const size = row.locator("[data-bytes]");
      expect(await size.getAttribute("data-bytes")).toBe(String(bytes.byteLength));
      // The title carries the exact count (digits, maybe grouped), the text a human-readable size.
      expect((await size.getAttribute("title"))?.replace(/\D/g, "")).toBe(String(bytes.byteLength));
      expect(await size.textContent()).toMatch(/MiB|MB/);
      await row.getByRole("progressbar", { name: `Progress of ${prefix}${name}` }).waitFor();
      // The state is told in words, not by colour alone.
      await expectText(row.getByRole("cell").first(), /completed/);
    }

    // Byte-exact objects, read back from Node.
    for (const [name, { bytes }] of Object.entries(files)) {
      const stored = await fetchObject(`${prefix}${name}`);
      expect(stored.byteLength).toBe(bytes.byteLength);
      expect(Buffer.compare(Buffer.from(stored), bytes)).toBe(0);
    }
  });

  it("downloads the finished object from its 'Download' link", async () => {
    const { page } = await openPage();
    const files = await tempFiles({ "note.txt": 200_000 });
    const prefix = uniquePrefix("download");
    await signIn(page, apiKey(), "#/upload");
    await page.getByRole("textbox", { name: "Key prefix" }).fill(prefix);
    await page.locator("input[type=file].uppy-Dashboard-input").first().setInputFiles(files["note.txt"]!.path);
    await page.locator(".uppy-StatusBar-actionBtn--upload").click();

    const download = page.getByRole("link", { name: `Download ${prefix}note.txt`, exact: true });
    await download.waitFor({ timeout: 60_000 });
    const uploadId = (await page.getByRole("link", { name: "Status of note.txt" }).getAttribute("href"))
      ?.split("/")
      .pop();
    await waitForState(uploadId ?? "", "completed");
    const [file] = await Promise.all([page.waitForEvent("download"), download.click()]);
    const saved = await readFile(await file.path());
    expect(Buffer.compare(saved, files["note.txt"]!.bytes)).toBe(0);
  });

  it("opens the upload's own page from its 'Status of' link", async () => {
    const { page } = await openPage();
    const files = await tempFiles({ "status.bin": 1 * MiB });
    const prefix = uniquePrefix("status-link");
    await signIn(page, apiKey(), "#/upload");
    await page.getByRole("textbox", { name: "Key prefix" }).fill(prefix);
    await page.locator("input[type=file].uppy-Dashboard-input").first().setInputFiles(files["status.bin"]!.path);
    await page.locator(".uppy-StatusBar-actionBtn--upload").click();
    const status = page.getByRole("link", { name: "Status of status.bin", exact: true });
    await status.waitFor({ timeout: 60_000 });
    await status.click();
    await page.getByRole("heading", { level: 1, name: `${prefix}status.bin` }).waitFor();
    await expectText(page.getByTestId("upload-state"), "completed", 20_000);
    await page.getByRole("list", { name: "Parts" }).getByRole("listitem", { name: "Part 1: received" }).waitFor();
  });

  it("finishes an upload whose first PATCH lost its connection, by resuming it, byte for byte", async () => {
    const session = await openPage();
    const { page } = session;
    const files = await tempFiles({ "flaky.bin": 6 * MiB + 7 });
    const prefix = uniquePrefix("dropped");
    // The first PATCH never reaches the server: the connection is reset, as on a flaky network.
    let dropped = 0;
    await page.route("**/files/*", async (route) => {
      if (route.request().method() === "PATCH" && dropped === 0) {
        dropped++;
        await route.abort("connectionreset");
      } else {
        await route.continue();
      }
    });
    session.expectError(/ERR_CONNECTION_RESET/);

    await signIn(page, apiKey(), "#/upload");
    await page.getByRole("textbox", { name: "Key prefix" }).fill(prefix);
    await page.locator("input[type=file].uppy-Dashboard-input").first().setInputFiles(files["flaky.bin"]!.path);
    await page.locator(".uppy-StatusBar-actionBtn--upload").click();
    const status = page.getByRole("link", { name: "Status of flaky.bin", exact: true });
    await status.waitFor({ timeout: 60_000 });
    expect(dropped).toBe(1);

    const uploadId = (await status.getAttribute("href"))?.split("/").pop() ?? "";
    await waitForState(uploadId, "completed");
    expect(Buffer.compare(Buffer.from(await fetchObject(`${prefix}flaky.bin`)), files["flaky.bin"]!.bytes)).toBe(0);
  });

  it("gives every control of the upload page an accessible name, before and after adding a file", async () => {
    const { page } = await openPage();
    const files = await tempFiles({ "named.bin": 1024 });
    await signIn(page, apiKey(), "#/upload");
    await page.locator("input[type=file].uppy-Dashboard-input").first().waitFor({ state: "attached" });
    expect(await unnamedControls(page, ["Key prefix", "Console"])).toEqual([]);
    await page.locator("input[type=file].uppy-Dashboard-input").first().setInputFiles(files["named.bin"]!.path);
    await page.locator(".uppy-StatusBar-actionBtn--upload").waitFor();
    expect(await unnamedControls(page)).toEqual([]);
  });

  it("pauses an upload with Uppy's Pause button and finishes it after Resume, byte for byte", async () => {
    const { page } = await openPage();
    const files = await tempFiles({ "paused.bin": 5 * MiB + 3 });
    const prefix = uniquePrefix("pause");
    // The first PATCH is held in the browser, so the upload is in flight when Pause is pressed.
    let held: (() => void) | undefined;
    const patchHeld = new Promise<void>((resolve) => {
      held = resolve;
    });
    let patches = 0;
    await page.route("**/files/*", async (route) => {
      if (route.request().method() === "PATCH" && patches++ === 0) {
        held?.();
        return; // never answered: Pause aborts it in the page
      }
      await route.continue();
    });

    await signIn(page, apiKey(), "#/upload");
    await page.getByRole("textbox", { name: "Key prefix" }).fill(prefix);
    await page.locator("input[type=file].uppy-Dashboard-input").first().setInputFiles(files["paused.bin"]!.path);
    await page.locator(".uppy-StatusBar-actionBtn--upload").click();
    await patchHeld;
    await page.getByRole("button", { name: "Pause", exact: true }).click();
    await page.getByRole("button", { name: "Resume", exact: true }).waitFor();
    expect(await page.getByRole("link", { name: "Status of paused.bin" }).count()).toBe(0);

    await page.getByRole("button", { name: "Resume", exact: true }).click();
    const status = page.getByRole("link", { name: "Status of paused.bin", exact: true });
    await status.waitFor({ timeout: 60_000 });
    expect(patches).toBeGreaterThanOrEqual(2);
    const uploadId = (await status.getAttribute("href"))?.split("/").pop() ?? "";
    await waitForState(uploadId, "completed");
    expect(Buffer.compare(Buffer.from(await fetchObject(`${prefix}paused.bin`)), files["paused.bin"]!.bytes)).toBe(0);
  });
});

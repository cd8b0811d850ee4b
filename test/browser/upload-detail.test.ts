import { describe, expect, it } from "vitest";
import {
  api,
  apiKey,
  createUpload,
  expectText,
  fetchStatus,
  openPage,
  signIn,
  uniquePrefix,
  unnamedControls,
} from "./browser.js";

describe("one upload's page", () => {
  it("aborts an open upload from its page after confirming, and the API then says aborted", async () => {
    const { page } = await openPage();
    const key = `${uniquePrefix("abort")}never-finished.bin`;
    const { uploadId } = await createUpload(key);

    await signIn(page, apiKey(), `#/uploads/${uploadId}`);
    await page.getByRole("heading", { level: 1, name: key }).waitFor();
    await expectText(page.getByTestId("upload-state"), "open");
    const parts = page.getByRole("list", { name: "Parts" });
    await parts.getByRole("listitem", { name: "Part 1: missing" }).waitFor();
    await parts.getByRole("listitem", { name: "Part 2: missing" }).waitFor();
    await page.getByRole("list", { name: "Timeline" }).waitFor();
    await page.getByRole("region", { name: "Digest" }).waitFor();
    const terms = (await page.locator("dl dt").allTextContents()).map((term) => term.trim());
    expect(terms).toEqual(expect.arrayContaining(["State", "API", "Mode", "Size", "Parts"]));
    expect(await unnamedControls(page, ["Abort upload", "Console"])).toEqual([]);

    await page.getByRole("button", { name: "Abort upload" }).click();
    const dialog = page.getByRole("dialog", { name: "Abort this upload?" });
    await dialog.waitFor();
    expect(await unnamedControls(page, ["Abort this upload?", "Abort", "Cancel"])).toEqual([]);
    await dialog.getByRole("button", { name: "Abort", exact: true }).click();

    await expectText(page.getByTestId("upload-state"), "aborted");
    await dialog.waitFor({ state: "hidden" });
    await page.getByRole("button", { name: "Abort upload" }).waitFor({ state: "detached" });
    expect((await fetchStatus(uploadId)).state).toBe("aborted");
  });

  it("leaves the upload open when the abort is cancelled in the dialog", async () => {
    const { page } = await openPage();
    const key = `${uniquePrefix("abort-cancel")}kept.bin`;
    const { uploadId } = await createUpload(key);

    await signIn(page, apiKey(), `#/uploads/${uploadId}`);
    await expectText(page.getByTestId("upload-state"), "open");
    await page.getByRole("button", { name: "Abort upload" }).click();
    const dialog = page.getByRole("dialog", { name: "Abort this upload?" });
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "hidden" });

    await page.getByRole("button", { name: "Abort upload" }).waitFor();
    await expectText(page.getByTestId("upload-state"), "open");
    expect((await fetchStatus(uploadId)).state).toBe("open");
  });

  it("shows a received part as received and the rest as missing", async () => {
    const { page } = await openPage();
    const key = `${uniquePrefix("parts")}half.bin`;
    const { uploadId } = await createUpload(key);
    const part = new Uint8Array(8 * 1024 * 1024).fill(7);
    const response = await api(`uploads/${uploadId}/parts/1`, { method: "PUT", body: part });
    expect(response.status).toBe(200);

    await signIn(page, apiKey(), `#/uploads/${uploadId}`);
    const parts = page.getByRole("list", { name: "Parts" });
    await parts.getByRole("listitem", { name: "Part 1: received" }).waitFor();
    await parts.getByRole("listitem", { name: "Part 2: missing" }).waitFor();
    await expectText(page.getByTestId("upload-state"), "open");
  });

  it("shows a stream's arrived chunks, the gap between them, and its staged bytes", async () => {
    const { page } = await openPage();
    const key = `${uniquePrefix("stream")}sensor.log`;
    const created = await api("uploads", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ key, mode: "stream" }),
    });
    expect(created.status).toBe(201);
    const { uploadId } = (await created.json()) as { uploadId: string };
    for (const seq of [1, 3]) {
      const chunk = await api(`uploads/${uploadId}/chunks/${seq}`, { method: "PUT", body: new Uint8Array(1_000) });
      expect(chunk.status).toBe(200);
    }

    await signIn(page, apiKey(), `#/uploads/${uploadId}`);
    await page.getByRole("heading", { level: 1, name: key }).waitFor();
    const chunks = page.getByRole("list", { name: "Chunks" });
    // The contract says "received"; the app tells the two kinds of arrived chunk apart (staged: not yet in a part).
    await chunks.getByRole("listitem", { name: /^Chunk 1: (received|staged)$/ }).waitFor();
    await chunks.getByRole("listitem", { name: "Chunk 2: missing" }).waitFor();
    await chunks.getByRole("listitem", { name: /^Chunk 3: (received|staged)$/ }).waitFor();
    await page
      .getByText(/staged/)
      .first()
      .waitFor();
    await expectText(page.getByTestId("upload-state"), "open");
  });

  it("says there is no such upload for an unknown id", async () => {
    const { page, expectError } = await openPage();
    // The browser logs the 404 of GET /uploads/<unknown id> itself: expected, and asserted.
    expectError(/404/);
    await signIn(page, apiKey(), "#/uploads/AAAAAAAAAAAAAAAAAAAAAA");
    await expectText(page.getByRole("alert"), /No upload with this id\./);
    await page.getByRole("button", { name: "Abort upload" }).waitFor({ state: "detached" });
  });
});

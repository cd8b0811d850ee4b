import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import {
  abortUpload,
  apiKey,
  completedNativeUpload,
  completedTusUpload,
  createUpload,
  openPage,
  rowLines,
  screenshot,
  signIn,
  tableRows,
  tenantKey,
  tenantPrefix,
  uniquePrefix,
} from "./browser.js";

const filters = (page: Page) => page.getByRole("form", { name: "Filters" });

/** Types a prefix into the console's filter and applies it at once with Enter. */
async function filterByPrefix(page: Page, prefix: string) {
  const box = filters(page).getByRole("textbox", { name: "Key prefix" });
  await box.fill(prefix);
  await box.press("Enter");
}

const expectRows = (page: Page, lines: string[]) =>
  expect.poll(() => rowLines(page), { timeout: 20_000 }).toEqual([...lines].sort((a, b) => a.localeCompare(b)));

/** The Summary region's terms and their values, e.g. { Open: "2", Completed: "1", ... }. */
const summaryOf = (page: Page) =>
  page
    .getByRole("region", { name: "Summary" })
    .evaluate((region) =>
      Object.fromEntries(
        [...region.querySelectorAll("dt")].map((term) => [
          term.textContent?.trim() ?? "",
          term.nextElementSibling?.textContent?.trim() ?? "",
        ]),
      ),
    );

describe("console", () => {
  it("lists only the uploads of the ticked states and the typed key prefix", async () => {
    const { page } = await openPage();
    const prefix = uniquePrefix("filters");
    const small = (n: number) => new Uint8Array(n).fill(n % 251);
    // Seeded from Node through the API: two completed (native, tus), two open, one aborted.
    await completedNativeUpload(`${prefix}done-native.bin`, small(1_000));
    await completedTusUpload(`${prefix}done-tus.bin`, small(2_000));
    await createUpload(`${prefix}open-1.bin`);
    await createUpload(`${prefix}open-2.bin`);
    await abortUpload((await createUpload(`${prefix}gone.bin`)).uploadId);
    const all = [
      `completed ${prefix}done-native.bin`,
      `completed ${prefix}done-tus.bin`,
      `open ${prefix}open-1.bin`,
      `open ${prefix}open-2.bin`,
      `aborted ${prefix}gone.bin`,
    ];

    await signIn(page, apiKey());
    await filterByPrefix(page, prefix);
    await expectRows(page, all);
    await screenshot(page, "console.png");

    // The contract's columns and summary terms.
    const headers = await page.getByRole("table", { name: "Uploads" }).getByRole("columnheader").allTextContents();
    expect(headers.map((text) => text.trim())).toEqual(["State", "Key", "Size", "Progress", "Age", "Expires in"]);
    expect(Object.keys(await summaryOf(page))).toEqual([
      "Open",
      "Completing",
      "Completed",
      "Aborted",
      "Failed",
      "Bytes in flight",
      "Expiring within the hour",
      "Completed in 24 h",
      "Completion p95",
      "Oldest open upload",
    ]);

    // Each row says its state in words (its data-state and its state cell agree), not by colour alone.
    for (const row of await tableRows(page)) {
      const cell = page.locator(`[data-upload-id="${row.uploadId}"]`).getByRole("cell").first();
      expect((await cell.textContent())?.trim()).toMatch(new RegExp(`^${row.state}\\b`));
    }

    const state = (name: string) =>
      filters(page).getByRole("group", { name: "State" }).getByRole("checkbox", { name, exact: true });
    await state("open").check();
    await expectRows(page, [`open ${prefix}open-1.bin`, `open ${prefix}open-2.bin`]);
    await state("aborted").check();
    await expectRows(page, [`open ${prefix}open-1.bin`, `open ${prefix}open-2.bin`, `aborted ${prefix}gone.bin`]);
    await state("open").uncheck();
    await state("aborted").uncheck();
    await expectRows(page, all);

    await filters(page).getByRole("combobox", { name: "API" }).selectOption({ label: "tus" });
    await expectRows(page, [`completed ${prefix}done-tus.bin`]);
    await filters(page).getByRole("combobox", { name: "API" }).selectOption({ label: "Any" });
    await expectRows(page, all);

    // A narrower prefix narrows the list; one matching nothing says so.
    await filterByPrefix(page, `${prefix}open-`);
    await expectRows(page, [`open ${prefix}open-1.bin`, `open ${prefix}open-2.bin`]);
    await filterByPrefix(page, `${prefix}nothing-here/`);
    await expectRows(page, []);
    await page.getByText("No uploads match these filters.").waitFor();
  });

  it("orders the rows oldest first as the exact reverse of newest first", async () => {
    const { page } = await openPage();
    const prefix = uniquePrefix("order");
    for (const name of ["a", "b", "c", "d"]) await createUpload(`${prefix}${name}.bin`);
    await signIn(page, apiKey());
    await filterByPrefix(page, prefix);
    await expect.poll(async () => (await tableRows(page)).length, { timeout: 20_000 }).toBe(4);
    const keys = async () => (await tableRows(page)).map((row) => row.key);
    const newest = await keys();
    expect(newest[0]).toBe(`${prefix}d.bin`);
    await filters(page).getByRole("combobox", { name: "Order" }).selectOption({ label: "Oldest first" });
    await expect.poll(keys, { timeout: 20_000 }).toEqual([...newest].reverse());
  });

  it("shows a prefix-limited API key only the uploads under its prefix, in the list and the summary", async () => {
    const { page } = await openPage();
    const mine = `${tenantPrefix()}${uniquePrefix("tenant")}`;
    const theirs = uniquePrefix("not-tenant");
    await createUpload(`${mine}open.bin`, { as: tenantKey() });
    await completedNativeUpload(`${mine}done.bin`, new Uint8Array(4_096).fill(1), tenantKey());
    await createUpload(`${theirs}open.bin`);

    await signIn(page, tenantKey());
    // Without any filter: every row is under the key's prefix, and both of its uploads are there.
    await expect
      .poll(
        async () =>
          (await tableRows(page))
            .map((row) => row.key)
            .filter((key) => key.startsWith(mine))
            .sort(),
        {
          timeout: 20_000,
        },
      )
      .toEqual([`${mine}done.bin`, `${mine}open.bin`]);
    const keys = (await tableRows(page)).map((row) => row.key);
    expect(keys.filter((key) => !key.startsWith(tenantPrefix()))).toEqual([]);

    // Only this test creates uploads under the tenant prefix: one open, one completed.
    await expect
      .poll(async () => {
        const summary = await summaryOf(page);
        return [summary.Open, summary.Completed];
      })
      .toEqual([expect.stringMatching(/^\D*1\D*$/), expect.stringMatching(/^\D*1\D*$/)]);

    // Asking for another prefix shows nothing rather than someone else's uploads.
    await filterByPrefix(page, theirs);
    await expectRows(page, []);
    await page.getByText("No uploads match these filters.").waitFor();
  });

  it("shows an upload created after the console opened, and its later abort, without a reload", async () => {
    const { page } = await openPage();
    const prefix = uniquePrefix("live");
    await signIn(page, apiKey());
    await filterByPrefix(page, prefix);
    await page.getByText("No uploads match these filters.").waitFor();
    // A reload would reset this.
    await page.evaluate(() => Object.assign(window, { __sameDocument: true }));

    const { uploadId } = await createUpload(`${prefix}late.bin`);
    await expectRows(page, [`open ${prefix}late.bin`]);
    await abortUpload(uploadId);
    await expectRows(page, [`aborted ${prefix}late.bin`]);
    expect(await page.evaluate(() => (window as { __sameDocument?: boolean }).__sameDocument)).toBe(true);
  });

  it("opens an upload's page from the link on its key", async () => {
    const { page } = await openPage();
    const key = `${uniquePrefix("row-link")}linked.bin`;
    const { uploadId } = await createUpload(key);
    await signIn(page, apiKey());
    await filterByPrefix(page, key);
    const link = page.getByRole("table", { name: "Uploads" }).getByRole("link", { name: key, exact: true });
    expect(await link.getAttribute("href")).toBe(`#/uploads/${uploadId}`);
    await link.click();
    await page.getByRole("heading", { level: 1, name: key }).waitFor();
  });

  it("lists only the open uploads that go stale before the chosen time, and those expiring soonest first", async () => {
    const { page } = await openPage();
    const prefix = uniquePrefix("stale");
    await createUpload(`${prefix}day.bin`);
    await createUpload(`${prefix}ten-minutes.bin`, { staleAfterSeconds: 600 });
    await completedNativeUpload(`${prefix}done.bin`, new Uint8Array(10));
    await signIn(page, apiKey());
    await filterByPrefix(page, prefix);
    await expectRows(page, [`open ${prefix}day.bin`, `open ${prefix}ten-minutes.bin`, `completed ${prefix}done.bin`]);

    // The page runs in UTC (see openPage), so a UTC wall-clock time is what the input takes.
    const inAnHour = new Date(Date.now() + 3_600_000).toISOString().slice(0, 16);
    await filters(page).getByLabel("Stale before").fill(inAnHour);
    await expectRows(page, [`open ${prefix}ten-minutes.bin`]);
    await filters(page).getByLabel("Stale before").fill("");
    await expectRows(page, [`open ${prefix}day.bin`, `open ${prefix}ten-minutes.bin`, `completed ${prefix}done.bin`]);

    await filters(page).getByRole("combobox", { name: "Order" }).selectOption({ label: "Expiring soonest" });
    await expect
      .poll(async () => (await tableRows(page)).map((row) => row.key), { timeout: 20_000 })
      .toEqual([`${prefix}ten-minutes.bin`, `${prefix}day.bin`]);
  });

  it("lists only uploads created after the chosen time", async () => {
    const { page } = await openPage();
    const prefix = uniquePrefix("created");
    await createUpload(`${prefix}now.bin`);
    await signIn(page, apiKey());
    await filterByPrefix(page, prefix);
    await expectRows(page, [`open ${prefix}now.bin`]);
    const createdAfter = filters(page).getByLabel("Created after");
    await createdAfter.fill(new Date(Date.now() + 3_600_000).toISOString().slice(0, 16));
    await expectRows(page, []);
    await createdAfter.fill(new Date(Date.now() - 3_600_000).toISOString().slice(0, 16));
    await expectRows(page, [`open ${prefix}now.bin`]);
  });

  it("shows the next page of uploads after 'Load more'", async () => {
    const { page } = await openPage();
    const prefix = uniquePrefix("more");
    const keys = Array.from({ length: 53 }, (_, i) => `${prefix}${String(i).padStart(2, "0")}.bin`);
    for (const key of keys) await createUpload(key);
    await signIn(page, apiKey());
    await filterByPrefix(page, prefix);
    await expect.poll(async () => (await tableRows(page)).length, { timeout: 20_000 }).toBeGreaterThan(0);
    const first = (await tableRows(page)).length;
    expect(first).toBeLessThan(keys.length);
    await page.getByRole("button", { name: "Load more" }).click();
    await expectRows(
      page,
      keys.map((key) => `open ${key}`),
    );
    await page.getByRole("button", { name: "Load more" }).waitFor({ state: "detached" });
  });
});

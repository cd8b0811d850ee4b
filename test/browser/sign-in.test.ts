import { describe, expect, it } from "vitest";
import {
  apiKey,
  createUpload,
  expectText,
  openPage,
  signIn,
  tenantKey,
  uniquePrefix,
  unnamedControls,
} from "./browser.js";

const STORAGE_KEY = "ingest.apiKey";

describe("sign-in", () => {
  it("shows the console after signing in with a valid API key, and keeps the key in sessionStorage only", async () => {
    const { page, context } = await openPage();
    await page.goto("/");
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    await signIn(page, apiKey());

    await page.getByRole("heading", { level: 1, name: "Uploads" }).waitFor();
    await page.getByRole("region", { name: "Summary" }).waitFor();
    await page.getByRole("form", { name: "Filters" }).waitFor();
    const nav = page.getByRole("navigation", { name: "Main" });
    await nav.getByRole("link", { name: "Console" }).waitFor();
    await nav.getByRole("link", { name: "Upload" }).waitFor();
    await page.getByRole("button", { name: "Sign out" }).waitFor();
    expect(await page.getByLabel("API key").count()).toBe(0);

    const storage = await page.evaluate((name) => {
      const local = Object.keys(localStorage).map((key) => `${key}=${localStorage.getItem(key)}`);
      return { session: sessionStorage.getItem(name), local, cookie: document.cookie };
    }, STORAGE_KEY);
    expect(storage.session).toBe(apiKey());
    expect(storage.local.filter((entry) => entry.includes(apiKey()))).toEqual([]);
    expect(storage.cookie).not.toContain(apiKey());
    expect((await context.cookies()).filter((cookie) => cookie.value.includes(apiKey()))).toEqual([]);
  });

  it("stays signed in across a reload of the tab (sessionStorage) but not in a new tab's session", async () => {
    const { page, context } = await openPage();
    await signIn(page, apiKey());
    await page.reload();
    await page.getByRole("heading", { level: 1, name: "Uploads" }).waitFor();
    // sessionStorage is per tab: a second tab of the same browser context starts signed out.
    const other = await context.newPage();
    await other.goto("/");
    await other.getByLabel("API key").waitFor();
    expect(await other.evaluate((name) => sessionStorage.getItem(name), STORAGE_KEY)).toBeNull();
  });

  it("refuses a wrong API key with a 'not accepted' alert and stays on the sign-in form", async () => {
    const session = await openPage();
    const { page } = session;
    // The browser itself logs the refused GET /uploads/summary: expected, and asserted.
    session.expectError(/401/);
    await page.goto("/");
    await page.getByLabel("API key").fill("not-a-key-of-this-deployment-0123456789");
    await page.getByRole("button", { name: "Sign in" }).click();

    await expectText(page.getByRole("alert"), /not accepted/);
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    await page.getByLabel("API key").waitFor();
    expect(await page.getByRole("navigation", { name: "Main" }).count()).toBe(0);
    expect(await page.evaluate((name) => sessionStorage.getItem(name), STORAGE_KEY)).toBeNull();

    // The right key afterwards signs in.
    await page.getByLabel("API key").fill(apiKey());
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { level: 1, name: "Uploads" }).waitFor();
  });

  it("returns to the sign-in form and forgets the key after 'Sign out'", async () => {
    const { page } = await openPage();
    await signIn(page, apiKey());
    await page.getByRole("button", { name: "Sign out" }).click();

    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    await page.getByLabel("API key").waitFor();
    expect(await page.evaluate((name) => sessionStorage.getItem(name), STORAGE_KEY)).toBeNull();
    // Also after a reload: nothing left behind signs the tab back in.
    await page.reload();
    await page.getByLabel("API key").waitFor();
    expect(await page.getByRole("navigation", { name: "Main" }).count()).toBe(0);
  });

  it("shows the sign-in form on every route while signed out, and the route after signing in there", async () => {
    const { page } = await openPage();
    await page.goto("/#/upload");
    await page.getByLabel("API key").waitFor();
    await page.getByLabel("API key").fill(tenantKey());
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { level: 1, name: "Upload files" }).waitFor();
  });

  it("signs in with the keyboard alone: Tab to the key, type it, press Enter", async () => {
    const { page } = await openPage();
    await page.goto("/");
    await page.getByLabel("API key").waitFor();
    const focusedLabel = () =>
      page.evaluate(() => {
        const active = document.activeElement;
        return active instanceof HTMLInputElement ? [...(active.labels ?? [])].map((l) => l.textContent?.trim()) : [];
      });
    // Tab from the top of the page until the key input has focus (it may have it already).
    for (let i = 0; i < 20 && !(await focusedLabel()).includes("API key"); i++) await page.keyboard.press("Tab");
    expect(await focusedLabel()).toContain("API key");
    await page.keyboard.type(apiKey());
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { level: 1, name: "Uploads" }).waitFor();

    // Back from the page's content to the Upload link in the header by keyboard; Enter follows it.
    const upload = page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Upload" });
    let focused = false;
    for (let i = 0; i < 40 && !focused; i++) {
      await page.keyboard.press("Shift+Tab");
      focused = await upload.evaluate((link) => link === document.activeElement);
    }
    expect(focused, "the Upload link is reachable with Tab").toBe(true);
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { level: 1, name: "Upload files" }).waitFor();
  });

  it("gives every control of the sign-in form and the console an accessible name", async () => {
    const { page } = await openPage();
    // A row, so that the table's links and progress bars are checked too.
    const key = `${uniquePrefix("names")}named.bin`;
    await createUpload(key);
    await page.goto("/");
    await page.getByLabel("API key").waitFor();
    expect(await unnamedControls(page, ["API key", "Sign in"])).toEqual([]);
    await signIn(page, apiKey());
    await page.getByRole("progressbar", { name: `Progress of ${key}` }).waitFor();
    const filters = page.getByRole("form", { name: "Filters" });
    await filters.getByRole("group", { name: "State" }).waitFor();
    for (const state of ["open", "completing", "completed", "aborted", "failed"]) {
      await filters.getByRole("checkbox", { name: state, exact: true }).waitFor();
    }
    await filters.getByRole("textbox", { name: "Key prefix" }).waitFor();
    await filters.getByRole("combobox", { name: "API" }).waitFor();
    await filters.getByLabel("Created after").waitFor();
    await filters.getByLabel("Stale before").waitFor();
    await filters.getByRole("combobox", { name: "Order" }).waitFor();
    expect(
      await unnamedControls(page, [
        "Console",
        "Upload",
        "Sign out",
        key,
        `Progress of ${key}`,
        "open",
        "Key prefix",
        "API",
        "Created after",
        "Order",
      ]),
    ).toEqual([]);
  });
});

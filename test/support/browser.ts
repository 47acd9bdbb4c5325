// A headless Chromium for tests that need a real browser, driven through playwright-core. A system Chromium
// is preferred when there is one (CHROMIUM_PATH, /usr/bin/chromium, ...); otherwise the Chromium that ships
// inside the @sparticuz/chromium npm package, decompressed into the system temp folder on first use: so a
// machine with Node.js and nothing else runs the browser tests. Network stays closed: no first-run, sync,
// component updates or background requests, and a fresh profile per launch.
import {existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {setTimeout as sleep} from 'node:timers/promises';
import {chromium as playwright, type BrowserContext, type Page} from 'playwright-core';

const SYSTEM_CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable', '/snap/bin/chromium'];

/** Flags for a closed network: nothing reaches out, nothing needs a GPU or a sandbox (tests run as root). */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-extensions',
];

export interface FoundChromium {
  executable: string;
  /** `system` (CHROMIUM_PATH or a distribution's package) or `npm` (@sparticuz/chromium) */
  source: 'system' | 'npm';
}

/**
 * @sparticuz/chromium decompresses into `tmpdir()/chromium` and trusts any file already there, so two test
 * processes (or a killed one) could leave a half-written binary that every later run would use. One process
 * at a time extracts, under a lock folder, and a marker written after extraction tells a complete one apart.
 */
async function npmChromium(): Promise<string> {
  const {default: sparticuz} = await import('@sparticuz/chromium');
  const binary = path.join(tmpdir(), 'chromium');
  const marker = path.join(tmpdir(), 'chromium.fivetran-complete');
  const lock = path.join(tmpdir(), 'chromium.fivetran-lock');
  const complete = () => existsSync(marker) && existsSync(binary) && statSync(marker).mtimeMs >= statSync(binary).mtimeMs;
  if (complete()) return binary;
  for (let waited = 0; ; waited += 200) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // a lock left by a process killed mid-extraction goes stale after two minutes
      if (waited > 120_000) rmSync(lock, {recursive: true, force: true});
      await sleep(200);
    }
  }
  try {
    if (complete()) return binary;
    rmSync(binary, {force: true});
    const executable = await sparticuz.executablePath();
    writeFileSync(marker, `${executable}\n`);
    return executable;
  } finally {
    rmSync(lock, {recursive: true, force: true});
  }
}

export async function findChromium(env: NodeJS.ProcessEnv = process.env): Promise<FoundChromium> {
  if (env.CHROMIUM_PATH) {
    if (!existsSync(env.CHROMIUM_PATH)) throw new Error(`CHROMIUM_PATH ${env.CHROMIUM_PATH} does not exist; unset it to use the Chromium from npm`);
    return {executable: env.CHROMIUM_PATH, source: 'system'};
  }
  const system = SYSTEM_CHROMIUM.find((candidate) => existsSync(candidate));
  if (system) return {executable: system, source: 'system'};
  return {executable: await npmChromium(), source: 'npm'};
}

export interface HeadlessBrowser {
  context: BrowserContext;
  chromium: FoundChromium;
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

/** Launches headless Chromium with a fresh profile; close() ends it and removes the profile. */
export async function launchChromium(options: {env?: NodeJS.ProcessEnv} = {}): Promise<HeadlessBrowser> {
  const found = await findChromium(options.env);
  const profile = mkdtempSync(path.join(tmpdir(), 'chromium-profile-'));
  let context: BrowserContext;
  try {
    context = await playwright.launchPersistentContext(profile, {
      executablePath: found.executable,
      headless: true,
      args: CHROMIUM_FLAGS,
      // the npm build is chrome-headless-shell; its fonts are decompressed beside it
      env: {...process.env, ...(found.source === 'npm' ? {FONTCONFIG_PATH: path.join(tmpdir(), 'fonts')} : {})},
      timeout: 60_000,
    });
  } catch (error) {
    rmSync(profile, {recursive: true, force: true});
    throw new Error(`headless Chromium (${found.executable}) did not start: ${(error as Error).message.split('\n')[0]}`);
  }
  return {
    context,
    chromium: found,
    newPage: () => context.newPage(),
    async close() {
      await context.close();
      rmSync(profile, {recursive: true, force: true});
    },
  };
}

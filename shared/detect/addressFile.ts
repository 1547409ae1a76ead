import { readFileSync, statSync } from 'node:fs';
import { ConfigError, errorMessage } from '../errors.js';
import { AddressList } from './addresses.js';
import { Detector, type DetectorOptions } from './engine.js';

/** How often the deny file's modification time is checked. */
const POLL_MS = 2000;

function load(file: string): AddressList {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`detections.denyAddressesFile: cannot read ${file}: ${errorMessage(err)}`);
  }
  return AddressList.ofText(text, file);
}

/**
 * The deny file's addresses, reloaded when the file changes. A file that cannot be read or
 * parsed at start is an error; a bad edit later keeps the previous list and is reported through
 * `warn`, so a typo never drops the list.
 */
export function watchAddressFile(file: string, warn: (message: string) => void): { current: () => AddressList; close: () => void } {
  // What the list was read from: a later change of size, time or inode (a file replaced) is a reload.
  const version = () => {
    try {
      const st = statSync(file);
      return `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      return 'missing';
    }
  };
  let seen = version();
  let list = load(file);
  const poll = setInterval(() => {
    const now = version();
    if (now === seen) return;
    seen = now;
    try {
      list = load(file);
    } catch (err) {
      warn(`${errorMessage(err)}; keeping the ${list.size} address(es) loaded before`);
    }
  }, POLL_MS);
  poll.unref();
  return { current: () => list, close: () => clearInterval(poll) };
}

/** The detector the options describe, with its deny file watched (composition roots). */
export function createDetector(options: DetectorOptions, warn: (message: string) => void): Detector {
  const file = options.denyAddressesFile ? watchAddressFile(options.denyAddressesFile, warn) : undefined;
  return new Detector(options, file?.current);
}

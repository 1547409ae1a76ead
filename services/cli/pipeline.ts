import { detectorOptionsFrom, type Config } from '../../shared/config.js';
import { createDetector } from '../../shared/detect/addressFile.js';
import type { DetectorOptions } from '../../shared/detect/engine.js';
import { loadSigmaRules } from '../../shared/detect/sigma/sigmaFiles.js';
import { createLogger } from '../../shared/log.js';
import { IngestPipeline, splitsTokens } from '../../shared/pipeline/ingestPipeline.js';
import type { BodyThreadData } from '../ingest/bodyParser.js';

/** Warnings of the detections' files (Sigma rules left out, a bad edit of the deny file), at the configured log level. */
function warnerOf(config: Readonly<Config>): (message: string) => void {
  const log = createLogger(config.log.level);
  return (message) => log.warn(message);
}

/** Per config, its detections with the Sigma rules read once (and their problems reported once). */
const loaded = new WeakMap<object, DetectorOptions | null>();

function detectorOptionsOf(config: Readonly<Config>): DetectorOptions | null {
  if (!loaded.has(config)) {
    const options = detectorOptionsFrom(config);
    loaded.set(config, options && { ...options, sigma: loadSigmaRules(config.detections.sigma, warnerOf(config)) });
  }
  return loaded.get(config)!;
}

/**
 * The ingest pipeline the config asks for (its detections, its identity map's say on tokens),
 * composed where a command that stores events starts: on this thread, and as the data the
 * webhook's body thread composes its own from.
 */
export function pipelineOf(config: Readonly<Config>, writer: { redactionKey: Uint8Array }): IngestPipeline {
  const options = detectorOptionsOf(config);
  return new IngestPipeline({ redactionKey: writer.redactionKey, detector: options && createDetector(options, warnerOf(config)), splitTokens: splitsTokens(config.identityMap) });
}

export function bodyThreadPipeline(config: Readonly<Config>, writer: { redactionKey: Uint8Array }): Omit<BodyThreadData, 'mode'> {
  return { redactionKey: writer.redactionKey, detector: detectorOptionsOf(config), splitTokens: splitsTokens(config.identityMap) };
}

import { detectorOptionsFrom, type Config } from '../../shared/config.js';
import { createDetector } from '../../shared/detect/addressFile.js';
import { createLogger } from '../../shared/log.js';
import { IngestPipeline, splitsTokens } from '../../shared/pipeline/ingestPipeline.js';
import type { BodyThreadData } from '../ingest/bodyParser.js';

/**
 * The ingest pipeline the config asks for (its detections, its identity map's say on tokens),
 * composed where a command that stores events starts: on this thread, and as the data the
 * webhook's body thread composes its own from.
 */
export function pipelineOf(config: Readonly<Config>, writer: { redactionKey: Uint8Array }): IngestPipeline {
  const options = detectorOptionsFrom(config);
  return new IngestPipeline({ redactionKey: writer.redactionKey, detector: options && createDetector(options, (m) => createLogger().warn(m)), splitTokens: splitsTokens(config.identityMap) });
}

export function bodyThreadPipeline(config: Readonly<Config>, writer: { redactionKey: Uint8Array }): Omit<BodyThreadData, 'mode'> {
  return { redactionKey: writer.redactionKey, detector: detectorOptionsFrom(config), splitTokens: splitsTokens(config.identityMap) };
}

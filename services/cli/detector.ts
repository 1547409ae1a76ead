import { detectorOptionsFrom, type Config } from '../../shared/config.js';
import { Detector } from '../../shared/detect/engine.js';

/** The detections the config asks for, built where a command that stores events is composed; null when disabled. */
export function detectorOf(config: Readonly<Config>): Detector | null {
  const options = detectorOptionsFrom(config);
  return options && new Detector(options);
}

import type { ActionRow } from '../audit/actionRow.js';
import type { AlertRow } from '../storage/sqlite/queries/alertQuery.js';
import { actionToEcs, alertToEcs } from './ecs.js';
import { actionToOcsf, alertToOcsf } from './ocsf.js';
import type { SiemSchema } from './siemFields.js';

/** Each SIEM schema's document of an action (OCSF API Activity, ECS event). */
export const ACTION_DOCUMENTS: Record<SiemSchema, (row: ActionRow) => Record<string, unknown>> = { ocsf: actionToOcsf, ecs: actionToEcs };

/** Each SIEM schema's document of an alert (OCSF Detection Finding, ECS alert). */
export const ALERT_DOCUMENTS: Record<SiemSchema, (row: AlertRow) => Record<string, unknown>> = { ocsf: alertToOcsf, ecs: alertToEcs };

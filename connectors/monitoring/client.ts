// The Fivetran REST API client of one call, built from that call's secrets (never kept between calls: a warm
// instance would hand one account's credentials to the next).
import {FivetranApi} from '../../sdk/fivetran-api.js';
import type {MonitoringSecrets} from './secrets.js';

/** A client built per call from this call's secrets; its requests end by the call's deadline (`signal`, `timeLeftMs`). */
export function apiFromSecrets(secrets: MonitoringSecrets, signal?: AbortSignal, timeLeftMs?: () => number): FivetranApi {
  return new FivetranApi({apiKey: secrets.fivetran_api_key, apiSecret: secrets.fivetran_api_secret, baseUrl: secrets.fivetran_api_url, signal, timeLeftMs});
}

// The `monitoring` connector: the health of every Fivetran connection in an account, read through the REST
// API with the list endpoints (one request per 1,000 connections), landed as tables per check, with the
// events since the previous check and an alert per open problem, per tenant. See README.md.
import {GroupSchema} from '../../sdk/fivetran-api.js';
import {createMain, defineConnector} from '../../sdk/index.js';
import {apiFromSecrets} from './client.js';
import {MonitoringSecrets, settingsFromSecrets} from './secrets.js';
import {MonitoringState} from './state.js';
import {monitoringSync} from './sync.js';
import {TABLES} from './tables.js';

export const connector = defineConnector({
  name: 'monitoring',
  description: 'The health of every Fivetran connection, with events and alerts, per tenant',
  secrets: MonitoringSecrets,
  state: MonitoringState,
  tables: TABLES,
  setupTests: [{name: 'connection', label: 'Check the Fivetran API credentials'}],
  async test({secrets, signal}) {
    settingsFromSecrets(secrets);
    // One cheap request: the first group of the account.
    const pages = apiFromSecrets(secrets, signal).pages('groups', GroupSchema, {searchParams: {limit: 1}, what: 'the list of groups'});
    await pages.next();
    await pages.return(undefined);
  },
  sync: monitoringSync,
});

export const main = createMain(connector);

// Every test runs with real network disabled: HTTP to outside services must be mocked with nock.
// Loopback stays open for the servers tests start themselves (functions-framework, the API simulator).
import nock from 'nock';
import {afterEach} from 'vitest';

nock.disableNetConnect();
nock.enableNetConnect((host) => /^(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$/.test(host));

afterEach(() => {
  nock.cleanAll();
});

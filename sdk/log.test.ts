import {describe, expect, it} from 'vitest';
import {Logger, redactText} from './log.js';

describe('Logger', () => {
  it('writes one JSON line per entry with severity, connector, sync_id and fields', () => {
    const lines: string[] = [];
    const log = new Logger({connector: 'c', syncId: 's1', sink: (line) => lines.push(line)});
    log.info('hello', {rows: 3, big: 10n});
    log.debug('hidden below INFO');
    expect(lines.map((l) => JSON.parse(l))).toEqual([{severity: 'INFO', message: 'hello', connector: 'c', sync_id: 's1', rows: 3, big: '10'}]);
  });

  it('redacts secret values in messages, fields and their JSON-escaped forms', () => {
    const lines: string[] = [];
    const secret = 'a"b\\c-secret';
    const log = new Logger({connector: 'c', redact: [secret], sink: (line) => lines.push(line)});
    log.error(`failed with ${secret}`, {detail: {nested: secret}});
    expect(lines[0]).not.toContain('secret');
    expect(JSON.parse(lines[0]!)).toMatchObject({message: 'failed with [REDACTED]', detail: {nested: '[REDACTED]'}});
  });

  it('leaves very short values alone so logs stay readable', () => {
    expect(redactText('a b c', ['b'])).toBe('a b c');
    expect(redactText('token=abcd', ['abcd'])).toBe('token=[REDACTED]');
  });
});

describe('URL credentials', () => {
  it('redacts the password of every URL in a log line, whatever the key, and keeps user, host and path', () => {
    const lines: string[] = [];
    const log = new Logger({connector: 'c', sink: (line) => lines.push(line)});
    log.error('cannot reach http://admin:pa55word@api.internal:8080/v1 (ECONNREFUSED)', {cause: 'RequestError: at https://svc:t0k3n@x.example/path?q=1', url: 'http://a', b: 'c@d'});
    expect(lines[0]).not.toMatch(/pa55word|t0k3n/);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      message: 'cannot reach http://admin:[REDACTED]@api.internal:8080/v1 (ECONNREFUSED)',
      cause: 'RequestError: at https://svc:[REDACTED]@x.example/path?q=1',
      url: 'http://a',
      b: 'c@d',
    });
    expect(redactText('postgres://postgres@localhost:5432/db and http://host:8080/x user@y', [])).toBe('postgres://postgres@localhost:5432/db and http://host:8080/x user@y');
  });
});

// HTTP for connectors that call a REST API: `createHttpClient` sends requests with got and `toConnectorError`
// turns what went wrong into the error class that says who must act, in one line naming the host and the
// endpoint and never a secret (no header, no query string, no user:password@).
//
// The client's rules, the ones sdk/fivetran-api.ts proved against the real API:
// - each request, its retries included, ends within the time the call has left (`timeLeftMs`) and when
//   `signal` aborts (a Function call's ctx.signal: its deadline);
// - 429, 5xx and connection errors are retried with backoff and jitter, honouring Retry-After (got's);
// - a request that changes something (POST, PATCH, DELETE) is sent once: it is repeated only when the
//   source certainly did not act on it (429, or the connection was never made).
// got (with its HTTP/2 and cache dependencies) is loaded by the first request, not at import: a function
// answers calls that never reach the source (invalid secrets) without paying for it at cold start.
// Make a client per call, from that call's secrets: one cached in a module would carry them into the next.
import type {Got, Method, Response} from 'got';
import {AuthError, ConfigError, ConnectorError, DeadlineError, SourceError} from './errors.js';
import {redactUrlCredentials} from './log.js';
import {backoffDelay} from './retry.js';

type GotModule = typeof import('got');
let gotLoading: Promise<GotModule> | undefined;

/** The got module, imported once on first use (in a bundle: evaluated then, not when the function loads). */
function loadGot(): Promise<GotModule> {
  gotLoading ??= import('got');
  return gotLoading;
}

export interface HttpRetryOptions {
  /** retries after the first attempt (default 4) */
  limit?: number;
  /** first backoff delay in ms (default 1000); Retry-After wins when present */
  baseDelayMs?: number;
  /** longest Retry-After honoured, in ms (default 5 minutes); a longer one is not waited for */
  maxRetryAfterMs?: number;
}

export interface HttpClientOptions {
  /** the API's base URL, e.g. https://api.example.com/v1; paths are relative to it */
  prefixUrl: string;
  /** sent with every request (Authorization, Accept, ...); never shown in a message */
  headers?: Record<string, string>;
  retry?: HttpRetryOptions;
  /** longest wait for one attempt's answer, in ms (default 30 s) */
  timeoutMs?: number;
  /** aborts every request in flight (a Function call's ctx.signal: its deadline) */
  signal?: AbortSignal;
  /** the time the caller has left, in ms (ctx.timeLeftMs): each request, its retries included, ends within it */
  timeLeftMs?: () => number;
}

export interface HttpRequestOptions {
  json?: unknown;
  /** undefined values are left out */
  searchParams?: Record<string, string | number | boolean | undefined>;
  headers?: Record<string, string>;
}

export interface HttpResponse<T = string> {
  status: number;
  headers: Response['headers'];
  body: T;
  /** attempts made, retries included */
  attempts: number;
}

export interface HttpClient {
  /** the API's host (and port), for messages */
  readonly host: string;
  /** the prefix URL, with a trailing slash */
  readonly prefixUrl: string;
  /** One request; its body as text. Throws an HttpFailure for a non-2xx answer or no answer. */
  request(method: Method, path: string, options?: HttpRequestOptions): Promise<HttpResponse>;
  /** One request whose body must be JSON; throws an HttpFailure (kind `invalid-json`) when it is not. */
  json<T = unknown>(method: Method, path: string, options?: HttpRequestOptions): Promise<HttpResponse<T>>;
}

/** What went wrong with one request, as facts; each client words them (toConnectorError, FivetranApi). */
export type HttpFailureKind =
  /** a non-2xx answer */
  | 'status'
  /** no answer within the attempt's timeout, the time left, or before `signal` aborted */
  | 'timeout'
  /** no connection, or it broke */
  | 'unreachable'
  /** a 2xx answer whose body is not JSON */
  | 'invalid-json'
  /** no time was left to send the request at all */
  | 'no-time';

/** The facts of a failed request: what a message may say about it. */
export type HttpFailureFacts = Omit<HttpFailure, keyof Error | 'outcomeUnknown'>;

export class HttpFailure extends Error {
  override name = 'HttpFailure';
  declare readonly kind: HttpFailureKind;
  declare readonly method: string;
  /** `GET /v1/items`: the method and the URL's path, never its query string (it may hold a key) */
  declare readonly endpoint: string;
  declare readonly host: string;
  /** the HTTP status (0 when there was no answer) */
  declare readonly status: number;
  /** the connection error's code (ECONNREFUSED, ETIMEDOUT), for `unreachable` and `timeout` */
  declare readonly code: string | undefined;
  /** the answer's body as text ('' without one) */
  declare readonly body: string;
  /** the answer's status text (`Bad Gateway`; '' without one) */
  declare readonly statusMessage: string;
  declare readonly attempts: number;
  /** the method is one whose repetition changes nothing (GET, HEAD, OPTIONS, PUT) */
  declare readonly idempotent: boolean;
  /** the request certainly never reached the source (refused, not resolved, no time left) */
  declare readonly notSent: boolean;
  /** the caller's signal aborted it (its deadline), rather than a timeout of the client's own */
  declare readonly atDeadline: boolean;
  declare readonly elapsedMs: number;
  constructor(facts: HttpFailureFacts, options?: {cause?: unknown}) {
    super(`${facts.endpoint} at ${facts.host} failed: ${facts.kind === 'status' ? `answered ${facts.status}` : facts.kind}${facts.code ? ` (${facts.code})` : ''}`, options);
    // declared fields: set here, and no class field initialiser resets them
    Object.assign(this, facts);
  }

  /** A request that changes something may have been carried out although the source did not say so. */
  get outcomeUnknown(): boolean {
    if (this.idempotent || this.notSent) return false;
    return this.kind === 'timeout' || this.kind === 'unreachable' || this.kind === 'invalid-json' || (this.kind === 'status' && this.status >= 500);
  }
}

/** Methods whose repetition changes nothing more than their first success did. */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT']);
/** Connection errors raised before a request could reach the server: safe to retry whatever the method. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'EADDRINUSE', 'ERR_SOCKET_CLOSED_BEFORE_CONNECTION']);
const RETRIED_CODES = [...NOT_SENT_CODES, 'ETIMEDOUT', 'ECONNRESET', 'EPIPE'];
const RETRIED_STATUSES = [429, 500, 502, 503, 504];

/** A URL as messages may show it: without user:password@. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#@]*@/i, '$1[REDACTED]@');
}

/** Text with every URL's query string cut (it may hold a key). */
function withoutQueries(text: string): string {
  return text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^\s?#"'<>]*)\?[^\s#"'<>]*/gi, '$1?…');
}

interface RequestContext {
  /** Date.now() by which the request, retries included, must be over */
  until: number;
  idempotent: boolean;
}

export function createHttpClient(options: HttpClientOptions): HttpClient {
  const prefixUrl = options.prefixUrl.replace(/\/*$/, '/');
  let parsed: URL;
  try {
    parsed = new URL(prefixUrl);
  } catch {
    throw new ConfigError(`"${redactUrl(options.prefixUrl)}" is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new ConfigError(`"${redactUrl(options.prefixUrl)}" must start with http:// or https://`);
  // got would send them as Basic auth, and they would show wherever the URL is printed
  if (parsed.username || parsed.password) throw new ConfigError(`"${redactUrl(options.prefixUrl)}" holds credentials (user:password@); pass them in a header instead`);
  const host = parsed.host;
  const basePath = parsed.pathname;
  /** `GET /v1/items`: never the query string, which may hold a key */
  const endpointOf = (method: string, path: string) => `${method} ${basePath}${path.replace(/^\/+/, '').split('?')[0]}`;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const limit = options.retry?.limit ?? 4;
  const baseDelayMs = options.retry?.baseDelayMs ?? 1000;
  const maxRetryAfterMs = options.retry?.maxRetryAfterMs ?? 5 * 60_000;
  let client: Got | undefined;

  const makeClient = (got: GotModule): Got =>
    got.default.extend({
      prefixUrl,
      headers: options.headers,
      // parsed by `json`, so that a body that is not JSON is reported as such rather than as a network failure
      responseType: 'text',
      retry: {
        limit,
        methods: ['GET', 'HEAD', 'OPTIONS', 'PUT', 'POST', 'PATCH', 'DELETE'],
        statusCodes: RETRIED_STATUSES,
        errorCodes: RETRIED_CODES,
        maxRetryAfter: maxRetryAfterMs,
        calculateDelay: ({attemptCount, retryOptions, error, retryAfter}) => {
          if (attemptCount > retryOptions.limit) return 0;
          const status = error.response?.statusCode;
          const retriable = status === undefined ? retryOptions.errorCodes.includes(error.code) : retryOptions.statusCodes.includes(status);
          if (!retriable) return 0;
          const context = error.options.context as Partial<RequestContext>;
          // A request that changes something is repeated only when the source certainly did not act on it.
          if (context.idempotent === false && status !== 429 && !(status === undefined && NOT_SENT_CODES.has(error.code))) return 0;
          // 0 would mean "do not retry" to got, so Retry-After: 0 waits 1 ms
          const delay = retryAfter !== undefined ? (retryAfter > maxRetryAfterMs ? 0 : Math.max(1, retryAfter)) : backoffDelay(attemptCount, baseDelayMs);
          // no retry that could not be answered before the caller's deadline
          if (delay > 0 && context.until !== undefined && Date.now() + delay >= context.until) return 0;
          return delay;
        },
      },
    });

  async function request(method: Method, path: string, request: HttpRequestOptions = {}): Promise<HttpResponse> {
    const relative = path.replace(/^\/+/, '');
    const endpoint = endpointOf(method, relative);
    const idempotent = IDEMPOTENT_METHODS.has(method);
    const startedAt = Date.now();
    const facts = {method, endpoint, host, idempotent, body: '', statusMessage: '', status: 0, code: undefined, attempts: 0, notSent: false, atDeadline: false};
    const leftMs = options.timeLeftMs ? options.timeLeftMs() : Infinity;
    if (options.signal?.aborted || leftMs <= 0) {
      throw new HttpFailure({...facts, kind: 'no-time', notSent: true, atDeadline: true, elapsedMs: 0});
    }
    const searchParams = Object.fromEntries(Object.entries(request.searchParams ?? {}).filter(([, v]) => v !== undefined)) as Record<string, string | number | boolean>;
    const signals = [options.signal, Number.isFinite(leftMs) ? AbortSignal.timeout(Math.ceil(leftMs)) : undefined].filter((x): x is AbortSignal => x !== undefined);
    const got = await loadGot();
    client ??= makeClient(got);
    try {
      const response = await client(relative, {
        method,
        json: request.json,
        headers: request.headers,
        searchParams: Object.keys(searchParams).length ? searchParams : undefined,
        timeout: {request: Math.max(1, Math.min(timeoutMs, leftMs))},
        context: {until: startedAt + leftMs, idempotent} satisfies RequestContext,
        ...(signals.length ? {signal: signals.length === 1 ? signals[0] : AbortSignal.any(signals)} : {}),
      });
      return {status: response.statusCode, headers: response.headers, body: response.body, attempts: response.retryCount + 1};
    } catch (error) {
      const elapsedMs = Date.now() - startedAt;
      const attempts = error instanceof got.RequestError && error.request?.retryCount !== undefined ? error.request.retryCount + 1 : 1;
      if (error instanceof got.HTTPError) {
        throw new HttpFailure({...facts, kind: 'status', status: error.response.statusCode, body: String(error.response.body ?? ''), statusMessage: error.response.statusMessage ?? '', attempts, elapsedMs}, {cause: error});
      }
      const code = (error as {code?: unknown} | null)?.code;
      // no answer in time: got's own timeout, the time the caller had left, or the caller's deadline
      if (code === 'ETIMEDOUT' || code === 'ERR_ABORTED' || (error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError'))) {
        throw new HttpFailure({...facts, kind: 'timeout', code: 'ETIMEDOUT', attempts, atDeadline: options.signal?.aborted ?? false, elapsedMs}, {cause: error});
      }
      if (error instanceof got.RequestError || typeof code === 'string') {
        // got's own message can hold the URL: shown without its query string or user:password@
        const reason = typeof code === 'string' ? code : withoutQueries(redactUrlCredentials(error instanceof Error ? error.message : String(error)));
        throw new HttpFailure({...facts, kind: 'unreachable', code: reason, attempts, notSent: NOT_SENT_CODES.has(reason), elapsedMs}, {cause: error});
      }
      throw error;
    }
  }

  async function json<T>(method: Method, path: string, options?: HttpRequestOptions): Promise<HttpResponse<T>> {
    const startedAt = Date.now();
    const response = await request(method, path, options);
    try {
      return {...response, body: JSON.parse(response.body) as T};
    } catch (error) {
      throw new HttpFailure(
        {
          kind: 'invalid-json', method, endpoint: endpointOf(method, path), host, status: response.status, code: undefined, body: response.body, statusMessage: '',
          attempts: response.attempts, idempotent: IDEMPOTENT_METHODS.has(method), notSent: false, atDeadline: false, elapsedMs: Date.now() - startedAt,
        },
        {cause: error},
      );
    }
  }

  return {host, prefixUrl, request, json};
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
const seconds = (ms: number) => `${Number((ms / 1000).toFixed(1))} s`;
/** `a, b and c` */
const listOf = (names: readonly string[]) => (names.length <= 1 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`);

/** The message an error body gives ({message}, {error: {message}}, {error}, {detail}); '' without one. */
export function bodyMessage(body: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return ''; // an error page that is not JSON: the status says enough
  }
  if (typeof parsed !== 'object' || parsed === null) return '';
  const {message, error, detail, error_description: description} = parsed as Record<string, unknown>;
  const nested = typeof error === 'object' && error !== null ? (error as {message?: unknown}).message : undefined;
  const text = [message, nested, description, error, detail].find((value): value is string => typeof value === 'string' && value.trim() !== '') ?? '';
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

export interface ConnectorErrorOptions {
  /** what the request was about, for the message (`the list of invoices`); the endpoint is named anyway */
  what?: string;
  /** the secret keys that hold the credentials, named by a 401 and a 403 (`['api_key']`); never their values */
  credentialKeys?: readonly string[];
  /** the secret key that holds the API's URL, named when it cannot be reached */
  urlKey?: string;
}

/**
 * The ConnectorError for a failed request, in the spirit of faros-ai's wrapApiError: 401 → AuthError naming
 * the credential keys to check, 403 → AuthError (permission), 404 → ConfigError, 429, 5xx, timeouts and an
 * unreachable host → a retriable SourceError (a DeadlineError when the call's deadline cut it short), other
 * statuses and a body that is not JSON → SourceError.
 * A ConnectorError passes through; anything else that is not an HttpFailure is returned as it is.
 */
export function toConnectorError(error: unknown, options: ConnectorErrorOptions = {}): Error {
  if (error instanceof ConnectorError || !(error instanceof HttpFailure)) return error instanceof Error ? error : new Error(String(error));
  const subject = options.what ? `${options.what} (${error.endpoint})` : error.endpoint;
  const at = error.host;
  const keys = options.credentialKeys?.length ? listOf(options.credentialKeys) : 'the credentials';
  const mayHave = error.outcomeUnknown ? '; it may have been carried out' : '';
  const after = error.attempts > 1 ? ` after ${plural(error.attempts, 'attempt')}` : '';
  const cause = {cause: error};
  switch (error.kind) {
    case 'no-time':
      return new DeadlineError(`no time was left before the call's deadline to send ${subject} to ${at}`, cause);
    case 'timeout': {
      const message = `${at} did not answer ${subject} within ${seconds(error.elapsedMs)}${error.atDeadline ? " (the call's deadline)" : ''}${after}${mayHave}`;
      return error.atDeadline ? new DeadlineError(message, cause) : new SourceError(message, {...cause, retriable: true});
    }
    case 'unreachable':
      return new SourceError(`cannot reach ${at} for ${subject} (${error.code})${after}; check ${options.urlKey ?? 'the URL'} and the network${mayHave}`, {...cause, retriable: true});
    case 'invalid-json': {
      const start = JSON.stringify(error.body.slice(0, 80));
      return new SourceError(`${at} answered ${subject} with ${error.status} and a body that is not JSON (${start})${mayHave}`, cause);
    }
    case 'status': {
      const {status} = error;
      const says = bodyMessage(error.body) || error.statusMessage;
      const detail = says ? `${status}: ${says}` : String(status);
      if (status === 401) return new AuthError(`${at} rejected the credentials (401) for ${subject}; check ${keys}`, cause);
      if (status === 403) return new AuthError(`${at} denied ${subject} (${detail}); give the user of ${keys} permission for it`, cause);
      if (status === 404) return new ConfigError(`${at} found nothing for ${subject} (${detail}); check the ids and names in the configuration`, cause);
      if (status === 429) return new SourceError(`${at} rate limit hit on ${subject}${after} (429); try again later or lower the request rate`, {...cause, retriable: true});
      if (status >= 500) {
        const notRetried = error.outcomeUnknown ? '; not retried' : '';
        return new SourceError(`${at} answered ${status} for ${subject}${after} (${detail})${notRetried}${mayHave}`, {...cause, retriable: true});
      }
      return new SourceError(`${at} answered ${status} for ${subject} (${detail})`, cause);
    }
  }
}

// The API client. Every request carries the token in the Authorization header (never in a
// URL), and is recorded so that the developer drawer can show it as a curl command.

let token = null;
const log = [];
const LOG_SIZE = 200;
const logListeners = new Set();

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || (status ? `The server answered ${status}.` : 'The server cannot be reached.'));
    this.status = status;
    this.param = body?.param;
  }
}

export function setToken(value) {
  token = value;
}

/** The requests the app made, newest last, for the developer drawer. */
export function requestLog() {
  return log;
}

export function onRequestLogged(listener) {
  logListeners.add(listener);
  return () => logListeners.delete(listener);
}

let logged = 0;
function record(entry) {
  logged += 1;
  entry.seq = logged;
  log.push(entry);
  if (log.length > LOG_SIZE) log.shift();
  logListeners.forEach((f) => f(entry));
  return entry;
}

function withQuery(path, query) {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null) params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

function authHeaders() {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/**
 * `api('GET', '/v1/conversations', { query: { limit: 20 } })`; `json` is sent as the body;
 * `idempotencyKey` becomes the Idempotency-Key header. Resolves to the parsed body (null for
 * 204) or rejects with an ApiError.
 */
export async function api(method, path, { query, json, idempotencyKey, signal } = {}) {
  const url = withQuery(path, query);
  const headers = authHeaders();
  if (json !== undefined) headers['Content-Type'] = 'application/json';
  if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
  const body = json !== undefined ? JSON.stringify(json) : undefined;
  const entry = record({ at: Date.now(), method, url, headers, body, status: null });
  let response;
  try {
    response = await fetch(url, { method, headers, body, signal, cache: 'no-store' });
  } catch (error) {
    entry.status = 'failed';
    if (error.name === 'AbortError') throw error;
    throw new ApiError(0, null);
  }
  entry.status = response.status;
  if (response.status === 204) return null;
  const parsed = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

/** A fresh Idempotency-Key: a retry of the same send reuses it. */
export function newKey() {
  return crypto.randomUUID();
}

/**
 * Uploads a file as multipart (fetch reports no upload progress, XMLHttpRequest does);
 * `onProgress(fraction)`. Resolves to the attachment.
 */
export function upload(file, onProgress, idempotencyKey = newKey()) {
  const form = new FormData();
  form.append('file', file, file.name || 'pasted-image.png');
  const headers = { ...authHeaders(), 'Idempotency-Key': idempotencyKey };
  const entry = record({
    at: Date.now(), method: 'POST', url: '/v1/attachments', headers, upload: file.name || 'pasted-image.png', status: null,
  });
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/v1/attachments');
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      entry.status = xhr.status;
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new ApiError(xhr.status, body));
    };
    xhr.onerror = () => { entry.status = 'failed'; reject(new ApiError(0, null)); };
    xhr.send(form);
  });
}

/**
 * An attachment's bytes as a Blob: images need the Authorization header, which an <img src>
 * cannot send. `type` overrides the blob's type (downloads use application/octet-stream so
 * that the browser never renders them at this origin).
 */
export async function fetchBlob(url, type) {
  const headers = authHeaders();
  record({ at: Date.now(), method: 'GET', url, headers, status: null, download: true });
  const response = await fetch(url, { headers, cache: 'no-store' });
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  const bytes = await response.blob();
  return type ? new Blob([bytes], { type }) : bytes;
}

function shellQuote(text) {
  return `'${String(text).replace(/'/g, "'\\''")}'`;
}

/** A logged request as a curl command; the token shows only when `reveal`. */
export function curlCommand(entry, reveal) {
  const parts = ['curl'];
  if (entry.method !== 'GET' && !(entry.method === 'POST' && (entry.body || entry.upload))) {
    parts.push('-X', entry.method);
  }
  parts.push(shellQuote(new URL(entry.url, location.origin).href));
  for (const [name, value] of Object.entries(entry.headers)) {
    const shown = name === 'Authorization' && !reveal ? 'Bearer ••••••••' : value;
    parts.push('-H', shellQuote(`${name}: ${shown}`));
  }
  if (entry.body) parts.push('-d', shellQuote(entry.body));
  if (entry.upload) parts.push('-F', shellQuote(`file=@${entry.upload}`));
  if (entry.download) parts.push('-o', 'file');
  return parts.join(' ');
}

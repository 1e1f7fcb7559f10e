import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** The URL namespace of the server extension. */
export const NAMESPACE = 'jupyter-deploy';

/** An error answered by the server extension: its status and its `{message, error, ...}` body. */
export class DeployRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: Record<string, unknown> = {}
  ) {
    super(message);
    this.name = 'DeployRequestError';
  }
}

/** The server answered 404 without a jupyter-deploy body: the server extension is not running. */
export class ExtensionMissingError extends DeployRequestError {
  constructor() {
    super(
      404,
      'The jupyter-deploy server extension is not running on this Jupyter server.'
    );
    this.name = 'ExtensionMissingError';
  }
}

/**
 * The only place that speaks HTTP: call `/jupyter-deploy/<endPoint>` and return the parsed JSON body.
 * Throws `DeployRequestError` with the server's message, or `ExtensionMissingError`.
 */
export async function requestAPI<T>(
  endPoint: string,
  init: RequestInit = {},
  query: Record<string, string> = {}
): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const search = new URLSearchParams(query).toString();
  const url =
    URLExt.join(settings.baseUrl, NAMESPACE, endPoint) +
    (search ? `?${search}` : '');
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new DeployRequestError(
      0,
      `Cannot reach the Jupyter server: ${String(error)}`
    );
  }
  const text = await response.text();
  let body: unknown = undefined;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
  }
  if (response.ok) {
    return body as T;
  }
  const fields =
    body && typeof body === 'object' ? (body as Record<string, unknown>) : {};
  if (response.status === 404 && typeof fields.error !== 'string') {
    throw new ExtensionMissingError();
  }
  const message =
    typeof fields.message === 'string' && fields.message
      ? fields.message
      : `${response.status} ${response.statusText}`;
  throw new DeployRequestError(response.status, message, fields);
}

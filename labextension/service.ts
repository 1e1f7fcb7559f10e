import {
  IExportRequest,
  IExportResult,
  INotebookDeployments,
  IServerInfo,
  IVersionDiff,
  IVersionList
} from './models';
import { requestAPI } from './request';

/** Typed calls to the server extension; one method per endpoint. */
export class DeployService {
  /** What the server offers: roles and available actions. */
  info(): Promise<IServerInfo> {
    return requestAPI<IServerInfo>('info');
  }

  /** Annotated cells and versions of the saved notebook at `path` (relative to the server root). */
  deployments(path: string): Promise<INotebookDeployments> {
    return requestAPI<INotebookDeployments>('deployments', {}, { path });
  }

  versions(name: string): Promise<IVersionList> {
    return requestAPI<IVersionList>(`versions/${encodeURIComponent(name)}`);
  }

  diff(name: string, a: string, b: string): Promise<IVersionDiff> {
    return requestAPI<IVersionDiff>(
      `diff/${encodeURIComponent(name)}`,
      {},
      { a, b }
    );
  }

  /** Export the saved notebook: a new version, or the existing one when nothing changed. */
  export(request: IExportRequest): Promise<IExportResult> {
    return requestAPI<IExportResult>('export', {
      method: 'POST',
      body: JSON.stringify(request)
    });
  }
}

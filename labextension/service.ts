import {
  IActionAnswer,
  IApplyRequest,
  IClusterResult,
  IExportRequest,
  IExportResult,
  IManifestPreview,
  IParameterList,
  IManifestsWritten,
  INotebookDeployments,
  IOutcome,
  IRetrainJob,
  IRetrainRequest,
  IRunList,
  IServeStatus,
  IServerInfo,
  ITagRequest,
  ITagResult,
  IVersionDiff,
  IVersionList
} from './models';
import { requestAPI } from './request';

const post = (body: unknown = {}): RequestInit => ({
  method: 'POST',
  body: JSON.stringify(body)
});

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
    return requestAPI<IExportResult>('export', post(request));
  }

  /** The manifests the current version would get, rendered without writing. */
  manifests(name: string): Promise<IManifestPreview> {
    return requestAPI<IManifestPreview>(
      `manifests/${encodeURIComponent(name)}`
    );
  }

  /** Write (validated) `deploy/NAME/` for the current version. */
  writeManifests(name: string): Promise<IManifestsWritten> {
    return requestAPI<IManifestsWritten>(
      `manifests/${encodeURIComponent(name)}`,
      post()
    );
  }

  /** Start (or restart) a local model server for the current version, on 127.0.0.1. */
  serve(name: string): Promise<IServeStatus> {
    return requestAPI<IServeStatus>(
      `serve/${encodeURIComponent(name)}`,
      post()
    );
  }

  serveStatus(name: string): Promise<IServeStatus> {
    return requestAPI<IServeStatus>(`serve/${encodeURIComponent(name)}`);
  }

  stopServing(name: string): Promise<IServeStatus> {
    return requestAPI<IServeStatus>(`serve/${encodeURIComponent(name)}`, {
      method: 'DELETE'
    });
  }

  /** Start a retraining job; poll it with `retrainJob`. */
  retrain(request: IRetrainRequest): Promise<IRetrainJob> {
    return requestAPI<IRetrainJob>('retrain', post(request));
  }

  /** Cancel a running retraining job; answers once it has stopped. */
  cancelRetrain(id: string): Promise<IRetrainJob> {
    return requestAPI<IRetrainJob>(`retrain/${encodeURIComponent(id)}`, {
      method: 'DELETE'
    });
  }

  /** The parameters the notebook declares (what retraining accepts). */
  parameters(path: string): Promise<IParameterList> {
    return requestAPI<IParameterList>('parameters', {}, { path });
  }

  /** The tags a cell should carry to take `role` (the server owns the tag grammar). */
  tag(request: ITagRequest): Promise<ITagResult> {
    return requestAPI<ITagResult>('tag', post(request));
  }

  retrainJob(id: string): Promise<IRetrainJob> {
    return requestAPI<IRetrainJob>(`retrain/${encodeURIComponent(id)}`);
  }

  runs(name: string): Promise<IRunList> {
    return requestAPI<IRunList>(`runs/${encodeURIComponent(name)}`);
  }

  apply(name: string, request: IApplyRequest): Promise<IClusterResult> {
    return requestAPI<IClusterResult>(
      `apply/${encodeURIComponent(name)}`,
      post(request)
    );
  }

  clusterStatus(name: string): Promise<IClusterResult> {
    return requestAPI<IClusterResult>(`status/${encodeURIComponent(name)}`);
  }

  /** What an action's answer means (busy, done, failed) and the words to show: the server decides. */
  outcome(answer: IActionAnswer): Promise<IOutcome> {
    return requestAPI<IOutcome>('outcome', post(answer));
  }
}

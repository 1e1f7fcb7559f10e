/**
 * Data on the wire, mirroring the pydantic models of `jupyter_deploy/records.py`
 * (Annotation, VersionInfo, ...) and the wire models of `jupyter_deploy/jupyter/server/` (handlers, actions, panel, outcomes).
 * Keep the two in step: these interfaces describe, they do not decide.
 */

/** A role name; the server's list (`GET /jupyter-deploy/info` `roles`) is the only one. */
export type Role = string;

/** One annotated cell (`records.Annotation`). */
export interface IAnnotation {
  role: Role;
  name: string;
  cell_id: string;
  index: number;
  options: Record<string, unknown>;
  source: string;
  via: 'magic' | 'tag';
}

/** `records.ColumnSpec`: one column of a DataFrame example_input. */
export interface IColumnSpec {
  name: string;
  dtype: string;
  categories?: unknown[];
  ordered?: boolean;
}

/** `records.TensorSpec`. */
export interface ITensorSpec {
  kind: 'torch' | 'numpy' | 'list' | 'json' | 'dataframe';
  dtype: string | null;
  shape: number[] | null;
  columns?: IColumnSpec[];
}

/** `records.Parity`. */
export interface IParity {
  status: 'passed' | 'failed' | 'skipped';
  detail: string;
  max_abs_diff: number | null;
  seconds: number | null;
}

/** `records.VersionInfo`: `deployments/NAME/vN/version.json`. */
export interface IVersionInfo {
  name: string;
  version: string;
  content_hash: string;
  parent: string | null;
  created: string;
  notebook: string | null;
  cell_ids: string[];
  options: Record<string, unknown>;
  input_spec: ITensorSpec | null;
  artifacts: Record<string, string>;
  allow_pickle: boolean;
  requirements: string[];
  mlflow_run_id: string | null;
  parity: IParity | null;
  files: string[];
  /** relative path -> size and sha256 of each file (`records.FileChecksum`); null: exported before these records */
  checksums: Record<string, { size: number; sha256: string }> | null;
}

/** `records.ExportResult`; `path` is relative to the server root. */
export interface IExportResult {
  info: IVersionInfo;
  path: string;
  created: boolean;
  changed_files: string[];
}

/** `handlers.ServerInfo`: `GET /jupyter-deploy/info`. */
export interface IServerInfo {
  version: string;
  roles: Role[];
  /** Actions this server offers; the panel shows a button for each. */
  actions: string[];
}

/** `handlers.DeploymentView`. */
export interface IDeploymentView {
  name: string;
  cells: IAnnotation[];
  versions: IVersionInfo[];
  current: string | null;
}

/** `handlers.NotebookDeployments`: `GET /jupyter-deploy/deployments?path=NB`. */
export interface INotebookDeployments {
  path: string;
  default_name: string;
  deployments: IDeploymentView[];
}

/** `handlers.VersionList`: `GET /jupyter-deploy/versions/NAME`. */
export interface IVersionList {
  name: string;
  current: string | null;
  versions: IVersionInfo[];
}

/** `handlers.VersionDiff`: `GET /jupyter-deploy/diff/NAME?a=..&b=..`. */
export interface IVersionDiff {
  name: string;
  a: string;
  b: string;
  diff: string;
}

/** `handlers.ExportRequest`: `POST /jupyter-deploy/export`. */
export interface IExportRequest {
  path: string;
  name?: string | null;
  /** Run the notebook in a fresh kernel first and export its live objects (CLI: `--execute`). */
  execute?: boolean;
}

/** `panel.TagRequest`: `POST /jupyter-deploy/tag`. */
export interface ITagRequest {
  path: string;
  /** A role from `IServerInfo.roles`, or '' to remove the cell's role. */
  role: string;
  tags: string[];
  name?: string | null;
}

/** `panel.TagResult`: the tags the cell should carry. */
export interface ITagResult {
  tags: string[];
  role: string | null;
  name: string | null;
}

/** `panel.DeclaredParameter`. */
export interface IDeclaredParameter {
  name: string;
  type: string | null;
  default: string;
}

/** `panel.ParameterList`: `GET /jupyter-deploy/parameters?path=NB`. */
export interface IParameterList {
  path: string;
  parameters: IDeclaredParameter[];
}

/** `actions.ManifestFile`; `path` is relative to the project root (`deploy/NAME/...`). */
export interface IManifestFile {
  path: string;
  text: string;
}

/** `actions.ManifestPreview`: `GET /jupyter-deploy/manifests/NAME` (nothing written). */
export interface IManifestPreview {
  name: string;
  version: string;
  files: IManifestFile[];
}

/** `actions.ManifestsWritten`: `POST /jupyter-deploy/manifests/NAME`. */
export interface IManifestsWritten {
  name: string;
  version: string;
  files: string[];
  changed: boolean;
}

/** `actions.ServeStatus`: `GET|POST|DELETE /jupyter-deploy/serve/NAME`. */
export interface IServeStatus {
  name: string;
  running: boolean;
  version: string | null;
  url: string | null;
  v1: string | null;
  v2: string | null;
  /** A ready-to-paste request built from `example_input`. */
  curl: string | null;
  example: string | null;
}

/** `actions.RetrainRequest`: `POST /jupyter-deploy/retrain`. */
export interface IRetrainRequest {
  path: string;
  name?: string | null;
  parameters?: Record<string, string | number | boolean>;
  promote_if?: string | null;
}

/** `retrain.run.RetrainResult`. */
export interface IRetrainResult {
  name: string;
  run_id: string;
  tracking_uri: string;
  version: string;
  created: boolean;
  previous: string | null;
  /** promoted | rejected | unchanged */
  outcome: string;
  reason: string;
  promoted: boolean;
  parameters: Record<string, unknown>;
  metrics: Record<string, number>;
  notebook: string;
  manifests: Record<string, unknown> | null;
  registered_version: string | null;
  seconds: number;
}

/** `retrain.jobs.RetrainJob`: `GET /jupyter-deploy/retrain/JOB`. */
export interface IRetrainJob {
  id: string;
  name: string | null;
  notebook: string;
  status: 'running' | 'succeeded' | 'failed';
  /** The cell being run: 'cell N: first line'. */
  cell: string | null;
  result: IRetrainResult | null;
  message: string | null;
  cancelled: boolean;
}

/** `actions.RunList`: `GET /jupyter-deploy/runs/NAME`. */
export interface IRunList {
  name: string;
  runs: Record<string, unknown>[];
}

/** `actions.ApplyRequest`: `POST /jupyter-deploy/apply/NAME`. */
export interface IApplyRequest {
  dry_run: boolean;
  validate_first?: boolean;
}

/** `actions.ClusterResult`: apply and status, as `kube.apply` / `kube.status` return them. */
export interface IClusterResult {
  name: string;
  result: Record<string, unknown>;
}

/** `outcomes.ActionAnswer`: `POST /jupyter-deploy/outcome`, an action's id and what its route answered. */
export interface IActionAnswer {
  action: string;
  result: unknown;
}

/** `outcomes.Outcome`: what the answer means (busy: ask again later) and the words to show. */
export interface IOutcome {
  state: 'busy' | 'ok' | 'error';
  text: string;
  /** A monospace block: the objects applied, the files written, a request to try. */
  detail?: string | null;
}

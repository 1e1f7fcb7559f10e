import { NotebookPanel } from '@jupyterlab/notebook';

import {
  IDeploymentView,
  IExportResult,
  IRetrainJob,
  IRetrainRequest
} from './models';
import { DeployService } from './service';

/** What an action may use: the service, the notebook the panel describes, and a progress line. */
export interface IActionContext {
  service: DeployService;
  notebook: NotebookPanel;
  /** Replace the busy line while the action runs (the cell being retrained, the apply step). */
  progress(text: string): void;
  /** The retraining parameters and promotion gate entered in the panel for this deployment. */
  retrainOptions(): Pick<IRetrainRequest, 'parameters' | 'promote_if'>;
  /** The running retraining job (the panel offers to cancel it), or null once it has ended. */
  onJob(job: IRetrainJob | null): void;
}

/** What an action shows when it succeeds: a line, and optionally a monospace block (URL, request). */
export interface IActionOutcome {
  text: string;
  detail?: string;
}

/**
 * A button the panel shows for each deployment, when the server lists `requires` in
 * `GET /jupyter-deploy/info` `actions`. `run` calls the service and returns what to show; a failure
 * throws, and the panel shows the server's message.
 */
export interface IPanelAction {
  id: string;
  requires: string;
  label: string;
  busyLabel: string;
  run(
    context: IActionContext,
    deployment: IDeploymentView
  ): Promise<string | IActionOutcome>;
}

const RETRAIN_POLL_MS = 1000;

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

async function saved(notebook: NotebookPanel): Promise<void> {
  // export and retrain read the saved notebook
  if (notebook.context.model.dirty) {
    await notebook.context.save();
  }
}

function describeExport(result: IExportResult): string {
  const version = `${result.info.name} ${result.info.version}`;
  if (!result.created) {
    return `Unchanged: ${version} already holds this code (${result.path}).`;
  }
  const changed = result.changed_files.length
    ? `; changed: ${result.changed_files.join(', ')}`
    : '';
  return `Created ${version} in ${result.path}${changed}.`;
}

const exportAction: IPanelAction = {
  id: 'export',
  requires: 'export',
  label: 'Export',
  busyLabel: 'Exporting (running the parity check)…',
  async run({ service, notebook }, deployment) {
    await saved(notebook);
    return describeExport(
      await service.export({
        path: notebook.context.path,
        name: deployment.name
      })
    );
  }
};

/** The live export (CLI `export --execute`): the server runs the notebook in a fresh kernel first. */
const executeExportAction: IPanelAction = {
  id: 'export-execute',
  requires: 'export',
  label: 'Run & Export',
  busyLabel:
    'Running the notebook in a fresh kernel, then exporting its live objects…',
  async run({ service, notebook }, deployment) {
    await saved(notebook);
    return describeExport(
      await service.export({
        path: notebook.context.path,
        name: deployment.name,
        execute: true
      })
    );
  }
};

const serveAction: IPanelAction = {
  id: 'serve',
  requires: 'serve',
  label: 'Serve',
  busyLabel: 'Starting a local model server…',
  async run({ service }, deployment) {
    const server = await service.serve(deployment.name);
    return {
      text: `Serving ${server.name} ${server.version} at ${server.url}`,
      detail: `POST ${server.v1}\n\nTry it:\n${server.curl}`
    };
  }
};

const stopAction: IPanelAction = {
  id: 'stop',
  requires: 'serve',
  label: 'Stop',
  busyLabel: 'Stopping the local model server…',
  async run({ service }, deployment) {
    await service.stopServing(deployment.name);
    return `Stopped the local ${deployment.name} server.`;
  }
};

const manifestsAction: IPanelAction = {
  id: 'manifests',
  requires: 'manifests',
  label: 'Manifests',
  busyLabel: 'Writing and validating deploy/…',
  async run({ service }, deployment) {
    const written = await service.writeManifests(deployment.name);
    const what = written.changed ? 'Wrote' : 'Unchanged:';
    return {
      text: `${what} the manifests of ${written.name} ${written.version}.`,
      detail: written.files.join('\n')
    };
  }
};

function describeRetrain(job: IRetrainJob): string {
  const result = job.result;
  if (!result) {
    return `Retraining finished (job ${job.id}).`;
  }
  if (result.promoted) {
    return `Promoted ${result.name} ${result.version}: ${result.reason}`;
  }
  return `Not promoted (${result.outcome}; ${result.version} kept aside): ${result.reason}`;
}

const retrainAction: IPanelAction = {
  id: 'retrain',
  requires: 'retrain',
  label: 'Retrain',
  busyLabel: 'Starting the retraining job…',
  async run(
    { service, notebook, progress, retrainOptions, onJob },
    deployment
  ) {
    await saved(notebook);
    let job = await service.retrain({
      path: notebook.context.path,
      name: deployment.name,
      ...retrainOptions()
    });
    onJob(job);
    while (job.status === 'running') {
      progress(
        job.cell
          ? `Retraining: running ${job.cell}`
          : 'Retraining: starting the kernel…'
      );
      await sleep(RETRAIN_POLL_MS);
      job = await service.retrainJob(job.id);
    }
    onJob(null);
    if (job.status === 'failed') {
      throw new Error(`Retraining failed: ${job.message ?? 'no message'}`);
    }
    return describeRetrain(job);
  }
};

/** A failure that still has something to show (the objects applied, the fields dropped). */
export class ApplyDroppedError extends Error {
  constructor(
    message: string,
    readonly detail: string
  ) {
    super(message);
    this.name = 'ApplyDroppedError';
  }
}

/**
 * Apply is one server call, `kube.apply` as the CLI runs it: validate, server-side apply, and the
 * fields the cluster dropped. Dropped fields make it a failure, as they make the CLI exit 1.
 */
const applyAction: IPanelAction = {
  id: 'apply',
  requires: 'apply',
  label: 'Apply',
  busyLabel: 'Validating and applying deploy/ to the cluster…',
  async run({ service }, deployment) {
    const { result } = await service.apply(deployment.name, {
      dry_run: false
    });
    const objects = (result.objects ?? []) as Record<string, unknown>[];
    const dropped = (result.dropped ?? []) as string[];
    const lines = objects.map(
      item => `${item.kind}/${item.name} in ${item.namespace}: ${item.action}`
    );
    const detail = [
      ...lines,
      ...dropped.map(field => `dropped by the server: ${field}`)
    ].join('\n');
    if (dropped.length) {
      throw new ApplyDroppedError(
        `Applied ${deployment.name} to namespace ${result.namespace}, but the server dropped ` +
          `${dropped.length} field(s) (unknown field?): ${dropped.join(', ')}`,
        detail
      );
    }
    return {
      text: `Applied ${deployment.name} to namespace ${result.namespace}.`,
      detail
    };
  }
};

/** What the cluster says about the InferenceService (`kube.status`, as `jupyter-deploy status`). */
const statusAction: IPanelAction = {
  id: 'status',
  requires: 'apply',
  label: 'Status',
  busyLabel: 'Reading the status from the cluster…',
  async run({ service }, deployment) {
    const { result } = await service.clusterStatus(deployment.name);
    const conditions = (result.conditions ?? []) as Record<string, unknown>[];
    return {
      text: `${deployment.name} in ${result.namespace}: ${result.ready ? 'ready' : 'not ready'}`,
      detail: [
        `url: ${result.url ?? 'none yet'}`,
        ...conditions.map(
          item =>
            `${item.type}: ${item.status}${item.message ? ` (${item.message})` : ''}`
        )
      ].join('\n')
    };
  }
};

export const ACTIONS: IPanelAction[] = [
  exportAction,
  executeExportAction,
  manifestsAction,
  serveAction,
  stopAction,
  retrainAction,
  applyAction,
  statusAction
];

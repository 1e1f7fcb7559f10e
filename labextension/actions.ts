import { NotebookPanel } from '@jupyterlab/notebook';

import { IDeploymentView, IRetrainJob } from './models';
import { DeployService } from './service';

/** What an action may use: the service, the notebook the panel describes, and a progress line. */
export interface IActionContext {
  service: DeployService;
  notebook: NotebookPanel;
  /** Replace the busy line while the action runs (the cell being retrained, the apply step). */
  progress(text: string): void;
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

const exportAction: IPanelAction = {
  id: 'export',
  requires: 'export',
  label: 'Export',
  busyLabel: 'Exporting (running the parity check)…',
  async run({ service, notebook }, deployment) {
    await saved(notebook);
    const result = await service.export({
      path: notebook.context.path,
      name: deployment.name
    });
    const version = `${result.info.name} ${result.info.version}`;
    if (!result.created) {
      return `Unchanged: ${version} already holds this code (${result.path}).`;
    }
    const changed = result.changed_files.length
      ? `; changed: ${result.changed_files.join(', ')}`
      : '';
    return `Created ${version} in ${result.path}${changed}.`;
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
  async run({ service, notebook, progress }, deployment) {
    await saved(notebook);
    let job = await service.retrain({
      path: notebook.context.path,
      name: deployment.name
    });
    while (job.status === 'running') {
      progress(
        job.cell
          ? `Retraining: running ${job.cell}`
          : 'Retraining: starting the kernel…'
      );
      await sleep(RETRAIN_POLL_MS);
      job = await service.retrainJob(job.id);
    }
    if (job.status === 'failed') {
      throw new Error(`Retraining failed: ${job.message ?? 'no message'}`);
    }
    return describeRetrain(job);
  }
};

function describeStatus(result: Record<string, unknown>): string {
  const conditions = (result.conditions ?? []) as Record<string, unknown>[];
  const lines = conditions.map(
    item =>
      `${item.type}: ${item.status}${item.message ? ` (${item.message})` : ''}`
  );
  return [
    `ready: ${result.ready ? 'yes' : 'no'}`,
    `url: ${result.url ?? 'none yet'}`,
    ...lines
  ].join('\n');
}

const applyAction: IPanelAction = {
  id: 'apply',
  requires: 'apply',
  label: 'Apply',
  busyLabel: 'Applying: dry run first…',
  async run({ service, progress }, deployment) {
    const dry = await service.apply(deployment.name, { dry_run: true });
    const objects = (dry.result.objects ?? []) as unknown[];
    progress(
      `Dry run accepted ${objects.length} object(s) in ${dry.result.namespace}; applying…`
    );
    await service.apply(deployment.name, { dry_run: false });
    progress('Applied; reading the status…');
    const status = await service.clusterStatus(deployment.name);
    return {
      text: `Applied ${deployment.name} to namespace ${status.result.namespace}.`,
      detail: describeStatus(status.result)
    };
  }
};

export const ACTIONS: IPanelAction[] = [
  exportAction,
  manifestsAction,
  serveAction,
  stopAction,
  retrainAction,
  applyAction
];

/**
 * The buttons each deployment gets, and the one way they run: call the action's route, hand its answer
 * to `POST /jupyter-deploy/outcome`, show what the server makes of it. While the outcome is busy (a
 * retraining job), ask the route again. Nothing here decides whether an action succeeded or how it reads.
 */
import { NotebookPanel } from '@jupyterlab/notebook';

import {
  IDeploymentView,
  IOutcome,
  IRetrainJob,
  IRetrainRequest
} from './models';
import { DeployService } from './service';

/** What an action may use: the service, the notebook the panel describes, the panel's form. */
export interface IActionContext {
  service: DeployService;
  notebook: NotebookPanel;
  /** The retraining parameters and promotion gate entered in the panel for this deployment. */
  retrainOptions(): Pick<IRetrainRequest, 'parameters' | 'promote_if'>;
}

/**
 * A button the panel shows for each deployment, when the server lists `requires` in
 * `GET /jupyter-deploy/info` `actions`; `id` names it to the outcome route and in `data-action`.
 */
export interface IPanelAction {
  id: string;
  requires: string;
  label: string;
  busyLabel: string;
  /** The server reads the saved notebook: save it first. */
  readsNotebook?: boolean;
  /** Call the action's route; its answer goes to the outcome route. */
  start(context: IActionContext, deployment: IDeploymentView): Promise<unknown>;
  /** A background job: its answer again, asked while the outcome is busy. */
  poll?(service: DeployService, answer: unknown): Promise<unknown>;
  /** Stop the background job of `answer`. */
  cancel?(service: DeployService, answer: unknown): Promise<unknown>;
}

/** How the panel follows a running action: its busy line, and how to cancel it (null: it cannot be). */
export interface IActionProgress {
  show(outcome: IOutcome): void;
  cancellable(cancel: (() => Promise<unknown>) | null): void;
}

const POLL_MS = 1000;

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

/** Run `action` to its end and return the server's outcome; a failed call throws the server's message. */
export async function runAction(
  action: IPanelAction,
  context: IActionContext,
  deployment: IDeploymentView,
  progress: IActionProgress
): Promise<IOutcome> {
  const { service, notebook } = context;
  if (action.readsNotebook && notebook.context.model.dirty) {
    await notebook.context.save();
  }
  let answer = await action.start(context, deployment);
  let outcome = await service.outcome({ action: action.id, result: answer });
  try {
    while (outcome.state === 'busy' && action.poll) {
      const running = answer;
      progress.cancellable(
        action.cancel ? () => action.cancel!(service, running) : null
      );
      progress.show(outcome);
      await sleep(POLL_MS);
      answer = await action.poll(service, answer);
      outcome = await service.outcome({ action: action.id, result: answer });
    }
  } finally {
    progress.cancellable(null);
  }
  return outcome;
}

const jobId = (answer: unknown) => (answer as IRetrainJob).id;

export const ACTIONS: IPanelAction[] = [
  {
    id: 'export',
    requires: 'export',
    label: 'Export',
    busyLabel: 'Exporting (running the parity check)…',
    readsNotebook: true,
    start: ({ service, notebook }, { name }) =>
      service.export({ path: notebook.context.path, name })
  },
  {
    // the live export (CLI `export --execute`): the server runs the notebook in a fresh kernel first
    id: 'export-execute',
    requires: 'export',
    label: 'Run & Export',
    busyLabel:
      'Running the notebook in a fresh kernel, then exporting its live objects…',
    readsNotebook: true,
    start: ({ service, notebook }, { name }) =>
      service.export({ path: notebook.context.path, name, execute: true })
  },
  {
    id: 'manifests',
    requires: 'manifests',
    label: 'Manifests',
    busyLabel: 'Writing and validating deploy/…',
    start: ({ service }, { name }) => service.writeManifests(name)
  },
  {
    id: 'serve',
    requires: 'serve',
    label: 'Serve',
    busyLabel: 'Starting a local model server…',
    start: ({ service }, { name }) => service.serve(name)
  },
  {
    id: 'stop',
    requires: 'serve',
    label: 'Stop',
    busyLabel: 'Stopping the local model server…',
    start: ({ service }, { name }) => service.stopServing(name)
  },
  {
    id: 'retrain',
    requires: 'retrain',
    label: 'Retrain',
    busyLabel: 'Starting the retraining job…',
    readsNotebook: true,
    start: ({ service, notebook, retrainOptions }, { name }) =>
      service.retrain({
        path: notebook.context.path,
        name,
        ...retrainOptions()
      }),
    poll: (service, answer) => service.retrainJob(jobId(answer)),
    cancel: (service, answer) => service.cancelRetrain(jobId(answer))
  },
  {
    // `kube.apply` as the CLI runs it, in one call: validate, server-side apply, the fields dropped
    id: 'apply',
    requires: 'apply',
    label: 'Apply',
    busyLabel: 'Validating and applying deploy/ to the cluster…',
    start: ({ service }, { name }) => service.apply(name, { dry_run: false })
  },
  {
    // what the cluster says about the InferenceService (`kube.status`, as `jupyter-deploy status`)
    id: 'status',
    requires: 'apply',
    label: 'Status',
    busyLabel: 'Reading the status from the cluster…',
    start: ({ service }, { name }) => service.clusterStatus(name)
  }
];

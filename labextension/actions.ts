import { NotebookPanel } from '@jupyterlab/notebook';

import { IDeploymentView } from './models';
import { DeployService } from './service';

/** What an action may use: the service and the notebook the panel describes. */
export interface IActionContext {
  service: DeployService;
  notebook: NotebookPanel;
}

/**
 * A button the panel shows for each deployment, when the server lists the action's `id` in
 * `GET /jupyter-deploy/info` `actions`. Serving, manifests, retraining and apply each add one entry to
 * `ACTIONS` when their endpoint lands; `run` calls the service and returns the line to show.
 */
export interface IPanelAction {
  id: string;
  label: string;
  busyLabel: string;
  run(context: IActionContext, deployment: IDeploymentView): Promise<string>;
}

const exportAction: IPanelAction = {
  id: 'export',
  label: 'Export',
  busyLabel: 'Exporting (running the parity check)…',
  async run({ service, notebook }, deployment) {
    // export reads the saved notebook
    if (notebook.context.model.dirty) {
      await notebook.context.save();
    }
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

export const ACTIONS: IPanelAction[] = [exportAction];

/**
 * One deployment's section of the panel: its name and current version, the action buttons with the
 * status line under them, the retraining form, the manifest preview, its annotated cells (click to
 * jump) and its versions. Drawing only: what happens on a click is the host's.
 */
import { IPanelAction } from './actions';
import { Disclosures } from './disclosure';
import { el } from './dom';
import {
  IAnnotation,
  IDeploymentView,
  IManifestPreview,
  IOutcome,
  IVersionDiff
} from './models';
import { RetrainForm } from './retrainForm';
import { DeployService } from './service';
import { versionsView } from './versionsView';

/** What a deployment's section reads from the panel, and what its clicks call. */
export interface IDeploymentHost {
  readonly service: DeployService;
  /** The actions this server offers, in button order. */
  readonly actions: IPanelAction[];
  /** null when the server does not offer retraining. */
  readonly retrain: RetrainForm | null;
  /** null when the server does not offer manifests. */
  readonly manifests: Disclosures<IManifestPreview> | null;
  readonly diffs: Disclosures<IVersionDiff>;
  /** The status line: the running action's, or the last one's outcome. */
  status(name: string): IOutcome | undefined;
  /** Whether the running action can be cancelled (a retraining job). */
  canCancel(name: string): boolean;
  run(action: IPanelAction, deployment: IDeploymentView): void;
  cancel(name: string): void;
  jumpTo(cellId: string): void;
}

export function deploymentView(
  host: IDeploymentHost,
  deployment: IDeploymentView
): HTMLElement {
  const name = deployment.name;
  const section = el('section', 'jp-DeployPanel-deployment');
  section.dataset.deployment = name;
  const title = el('h3', 'jp-DeployPanel-name', name);
  if (deployment.current) {
    title.appendChild(
      el('span', 'jp-DeployPanel-current', `current ${deployment.current}`)
    );
  }
  section.appendChild(title);
  section.append(...actionsBar(host, deployment));
  if (host.retrain) {
    section.appendChild(host.retrain.render(name));
  }
  if (host.manifests && deployment.versions.length) {
    const box = el('div', 'jp-DeployPanel-manifests');
    box.append(
      ...host.manifests.render(name, () => host.service.manifests(name))
    );
    section.appendChild(box);
  }
  section.appendChild(el('h4', '', 'Cells'));
  const cells = el('ul', 'jp-DeployPanel-cells');
  for (const cell of deployment.cells) {
    cells.appendChild(cellItem(cell, host));
  }
  section.appendChild(cells);
  section.append(...versionsView(deployment, host.diffs, host.service));
  return section;
}

/** The buttons (disabled while an action runs), the status line, Cancel, and the outcome's detail. */
function actionsBar(
  host: IDeploymentHost,
  deployment: IDeploymentView
): HTMLElement[] {
  const status = host.status(deployment.name);
  const buttons = el('div', 'jp-DeployPanel-actions');
  for (const action of host.actions) {
    const button = el(
      'button',
      'jp-Button jp-mod-styled jp-mod-accept',
      action.label
    ) as HTMLButtonElement;
    button.dataset.action = action.id;
    button.disabled = status?.state === 'busy';
    button.addEventListener('click', () => host.run(action, deployment));
    buttons.appendChild(button);
  }
  if (!status) {
    return [buttons];
  }
  const parts = [
    buttons,
    el('div', `jp-DeployPanel-status jp-mod-${status.state}`, status.text)
  ];
  if (status.state === 'busy' && host.canCancel(deployment.name)) {
    const cancel = el('button', 'jp-Button jp-mod-styled', 'Cancel');
    cancel.dataset.action = 'cancel-retrain';
    cancel.addEventListener('click', () => host.cancel(deployment.name));
    parts.push(cancel);
  }
  if (status.detail) {
    parts.push(el('pre', 'jp-DeployPanel-detail', status.detail));
  }
  return parts;
}

function cellItem(cell: IAnnotation, host: IDeploymentHost): HTMLElement {
  const item = el('li', 'jp-DeployPanel-cell');
  item.dataset.cellId = cell.cell_id;
  item.dataset.role = cell.role;
  item.title = `Go to cell ${cell.index + 1} (id ${cell.cell_id}), annotated by ${cell.via}`;
  item.appendChild(el('span', 'jp-DeployPanel-role', cell.role));
  item.appendChild(
    el('span', 'jp-DeployPanel-where', `cell ${cell.index + 1}`)
  );
  const firstLine = cell.source.split('\n').find(line => line.trim()) ?? '';
  item.appendChild(el('code', 'jp-DeployPanel-source', firstLine));
  item.addEventListener('click', () => host.jumpTo(cell.cell_id));
  return item;
}

/**
 * The side panel for the active notebook: follows the notebook tracker, loads what the server read from
 * the saved notebook (deployments, retraining parameters), runs actions and keeps their status lines.
 * Each deployment's section is drawn by `deploymentView`.
 */
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import {
  refreshIcon,
  SidePanel,
  ToolbarButton
} from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { ACTIONS, IPanelAction, runAction } from './actions';
import { IDeploymentHost, deploymentView } from './deploymentView';
import { Disclosures } from './disclosure';
import { el, manifestView, messageOf, missingExtension } from './dom';
import {
  IDeploymentView,
  IManifestPreview,
  INotebookDeployments,
  IOutcome,
  IServerInfo,
  IVersionDiff
} from './models';
import { ExtensionMissingError } from './request';
import { RetrainForm } from './retrainForm';
import { DeployService } from './service';
import { DIFFS } from './versionsView';

/** The widget id; the sidebar tab is `[data-id="jupyter-deploy-panel"]`. */
export const PANEL_ID = 'jupyter-deploy-panel';

export class DeployPanel extends SidePanel implements IDeploymentHost {
  constructor(
    readonly service: DeployService,
    private readonly _tracker: INotebookTracker
  ) {
    super();
    this.id = PANEL_ID;
    this.addClass('jp-DeployPanel');
    this.title.caption = 'Deploy';
    const heading = new Widget();
    heading.addClass('jp-DeployPanel-title');
    heading.node.textContent = 'Deploy';
    this.header.addWidget(heading);
    this.toolbar.addItem(
      'refresh',
      new ToolbarButton({
        icon: refreshIcon,
        tooltip: 'Reload the annotations and versions of the saved notebook',
        onClick: () => void this.refresh()
      })
    );
    this._body = new Widget();
    this._body.addClass('jp-DeployPanel-body');
    this._body.title.label = 'No notebook';
    this.content.addWidget(this._body);

    const redraw = () => this._render();
    this._retrainForm = new RetrainForm(service, redraw);
    this._manifests = new Disclosures(
      {
        loading: 'Rendering the manifests…',
        label: 'manifest preview',
        toggle: 'manifests',
        view: manifestView
      },
      redraw
    );
    this.diffs = new Disclosures(DIFFS, redraw);

    _tracker.currentChanged.connect(this._onNotebookChanged, this);
    this._onNotebookChanged();
  }

  readonly diffs: Disclosures<IVersionDiff>;

  /** The notebook the panel describes: the active (or last active) one. */
  get notebook(): NotebookPanel | null {
    return this._notebook;
  }

  get actions(): IPanelAction[] {
    const offered = this._info?.actions ?? [];
    return ACTIONS.filter(action => offered.includes(action.requires));
  }

  get retrain(): RetrainForm | null {
    return this._offers('retrain') ? this._retrainForm : null;
  }

  get manifests(): Disclosures<IManifestPreview> | null {
    return this._offers('manifests') ? this._manifests : null;
  }

  /** The role the server read for the cell in the saved notebook (null: none); a look-up, no parsing. */
  roleOfCell(cellId: string | undefined): string | null {
    for (const deployment of this._data?.deployments ?? []) {
      const cell = deployment.cells.find(item => item.cell_id === cellId);
      if (cell) {
        return cell.role;
      }
    }
    return null;
  }

  /** What the server offers (roles, actions); null when the server extension does not answer. */
  async serverInfo(): Promise<IServerInfo | null> {
    try {
      return await this._serverInfo();
    } catch {
      return null;
    }
  }

  /** Show an error from outside the panel (the context menu's role command). */
  showError(error: unknown): void {
    this._error = error;
    this._render();
  }

  /** Fetch the saved notebook's annotations, versions and parameters again and redraw. */
  async refresh(): Promise<void> {
    const request = ++this._request;
    const notebook = this._notebook;
    this._error = null;
    if (!notebook) {
      this._data = null;
      this._render();
      return;
    }
    this._loading = true;
    this._render();
    try {
      const info = await this._serverInfo();
      const data = await this.service.deployments(notebook.context.path);
      // a parameters cell the server cannot read must not hide the deployments: say it in the form
      let parameters: RetrainForm['parameters'] = [];
      if (info.actions.includes('retrain')) {
        parameters = await this.service
          .parameters(notebook.context.path)
          .then(list => list.parameters, messageOf);
      }
      if (request === this._request) {
        this._data = data;
        this._retrainForm.parameters = parameters;
      }
    } catch (error) {
      if (request === this._request) {
        this._data = null;
        this._error = error;
      }
    } finally {
      if (request === this._request) {
        this._loading = false;
        this._render();
      }
    }
  }

  status(name: string): IOutcome | undefined {
    return this._status.get(name);
  }

  canCancel(name: string): boolean {
    return this._cancels.has(name);
  }

  /** Run `action` on the deployment; its status line follows it, then the panel reloads. */
  run(action: IPanelAction, deployment: IDeploymentView): void {
    void this._run(action, deployment);
  }

  cancel(name: string): void {
    const cancel = this._cancels.get(name);
    if (!cancel) {
      return;
    }
    this._setStatus(name, { state: 'busy', text: 'Cancelling…' });
    cancel().catch(error =>
      this._setStatus(name, { state: 'error', text: messageOf(error) })
    );
  }

  jumpTo(cellId: string): void {
    const notebook = this._notebook;
    if (!notebook) {
      return;
    }
    const cells = notebook.content.widgets;
    const index = cells.findIndex(cell => cell.model.id === cellId);
    if (index < 0) {
      return;
    }
    notebook.content.activeCellIndex = index;
    notebook.content.deselectAll();
    void notebook.content.scrollToCell(cells[index], 'center');
    notebook.content.activate();
  }

  private async _run(
    action: IPanelAction,
    deployment: IDeploymentView
  ): Promise<void> {
    const name = deployment.name;
    this._setStatus(name, { state: 'busy', text: action.busyLabel });
    try {
      const notebook = this._notebook;
      if (!notebook) {
        throw new Error('No notebook is open.');
      }
      const context = {
        service: this.service,
        notebook,
        retrainOptions: () => this._retrainForm.options(name)
      };
      const outcome = await runAction(action, context, deployment, {
        show: outcome => this._setStatus(name, outcome),
        cancellable: cancel => {
          if (cancel) {
            this._cancels.set(name, cancel);
          } else {
            this._cancels.delete(name);
          }
        }
      });
      this._status.set(name, outcome);
    } catch (error) {
      this._status.set(name, { state: 'error', text: messageOf(error) });
    }
    this._manifests.close(name);
    void this._retrainForm.runs.reload(name);
    await this.refresh();
  }

  private _setStatus(name: string, outcome: IOutcome): void {
    this._status.set(name, outcome);
    this._render();
  }

  private _offers(action: string): boolean {
    return !!this._info?.actions.includes(action);
  }

  private async _serverInfo(): Promise<IServerInfo> {
    if (!this._info) {
      this._info = await this.service.info();
    }
    return this._info;
  }

  private _onNotebookChanged(): void {
    const notebook = this._tracker.currentWidget;
    if (notebook === this._notebook) {
      return;
    }
    this._notebook?.context.saveState.disconnect(this._onSaveState, this);
    this._notebook = notebook;
    this._status.clear();
    this.diffs.clear();
    this._manifests.clear();
    this._retrainForm.clear();
    if (notebook) {
      notebook.context.saveState.connect(this._onSaveState, this);
      void notebook.context.ready.then(() => this.refresh());
    } else {
      void this.refresh();
    }
  }

  private _onSaveState(_: unknown, state: string): void {
    if (state === 'completed') {
      void this.refresh();
    }
  }

  private _render(): void {
    const node = this._body.node;
    node.replaceChildren();
    this._body.title.label = this._notebook?.context.path ?? 'No notebook';
    if (this._error instanceof ExtensionMissingError) {
      node.appendChild(missingExtension());
      return;
    }
    if (!this._notebook) {
      node.appendChild(
        el(
          'p',
          'jp-DeployPanel-hint',
          'Open a notebook to see its deployments.'
        )
      );
      return;
    }
    if (this._loading && !this._data) {
      node.appendChild(el('p', 'jp-DeployPanel-hint', 'Loading…'));
    }
    if (this._error) {
      node.appendChild(
        el('div', 'jp-DeployPanel-error', messageOf(this._error))
      );
    }
    const data = this._data;
    if (!data) {
      return;
    }
    if (!data.deployments.length) {
      node.appendChild(
        el(
          'p',
          'jp-DeployPanel-hint',
          'No annotated cells in the saved notebook. Right-click the cell that defines predict() and ' +
            'choose Deploy Role → predict, or start it with "%%deploy predict".'
        )
      );
    }
    for (const deployment of data.deployments) {
      node.appendChild(deploymentView(this, deployment));
    }
  }

  private _body: Widget;
  private _notebook: NotebookPanel | null = null;
  private _info: IServerInfo | null = null;
  private _data: INotebookDeployments | null = null;
  private _error: unknown = null;
  private _loading = false;
  /** Only the latest refresh may write what it fetched. */
  private _request = 0;
  /** deployment -> its status line */
  private _status = new Map<string, IOutcome>();
  /** deployment -> how to cancel its running action */
  private _cancels = new Map<string, () => Promise<unknown>>();
  private _retrainForm: RetrainForm;
  private _manifests: Disclosures<IManifestPreview>;
}

import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import {
  refreshIcon,
  SidePanel,
  ToolbarButton
} from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import {
  IAnnotation,
  IDeclaredParameter,
  IDeploymentView,
  IManifestPreview,
  INotebookDeployments,
  IRetrainJob,
  IRunList,
  IServerInfo,
  IVersionInfo
} from './models';
import { ACTIONS, ApplyDroppedError, IPanelAction } from './actions';
import {
  diffView,
  el,
  runsView,
  formatTime,
  manifestView,
  messageOf,
  missingExtension
} from './dom';
import { ExtensionMissingError } from './request';
import { DeployService } from './service';

/** The widget id; the sidebar tab is `[data-id="jupyter-deploy-panel"]`. */
export const PANEL_ID = 'jupyter-deploy-panel';

type Status = { kind: 'busy' | 'ok' | 'error'; text: string; detail?: string };

/** The side panel for the active notebook: its annotated cells, versions and actions. */
export class DeployPanel extends SidePanel {
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

    _tracker.currentChanged.connect(this._onNotebookChanged, this);
    this._onNotebookChanged();
  }

  /** The notebook the panel describes: the active (or last active) one. */
  get notebook(): NotebookPanel | null {
    return this._notebook;
  }

  /** The role the server read for the cell in the saved notebook (null: none). */
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
    if (!this._info) {
      try {
        this._info = await this.service.info();
      } catch {
        return null;
      }
    }
    return this._info;
  }

  /** Show an error from outside the panel (the context menu's role command). */
  showError(error: unknown): void {
    this._error = error;
    this._render();
  }

  /** Fetch the saved notebook's annotations and versions again and redraw. */
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
      if (!this._info) {
        this._info = await this.service.info();
      }
      const data = await this.service.deployments(notebook.context.path);
      // a parameters cell the server cannot read must not hide the deployments: say it in the form
      let parameters: IDeclaredParameter[] | string = [];
      if (this._info.actions.includes('retrain')) {
        try {
          parameters = (await this.service.parameters(notebook.context.path))
            .parameters;
        } catch (error) {
          parameters = messageOf(error);
        }
      }
      if (request === this._request) {
        this._data = data;
        this._parameters = parameters;
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

  private _onNotebookChanged(): void {
    const notebook = this._tracker.currentWidget;
    if (notebook === this._notebook) {
      return;
    }
    this._notebook?.context.saveState.disconnect(this._onSaveState, this);
    this._notebook = notebook;
    this._status.clear();
    this._diffs.clear();
    this._manifests.clear();
    this._runs.clear();
    this._values.clear();
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

  private async _runAction(
    action: IPanelAction,
    deployment: IDeploymentView
  ): Promise<void> {
    const key = deployment.name;
    this._status.set(key, { kind: 'busy', text: action.busyLabel });
    this._render();
    try {
      const notebook = this._notebook;
      if (!notebook) {
        throw new Error('No notebook is open.');
      }
      const progress = (text: string) => {
        this._status.set(key, { kind: 'busy', text });
        this._render();
      };
      const outcome = await action.run(
        {
          service: this.service,
          notebook,
          progress,
          retrainOptions: () => this._retrainOptions(key),
          onJob: (job: IRetrainJob | null) => {
            if (job) {
              this._jobs.set(key, job.id);
            } else {
              this._jobs.delete(key);
            }
          }
        },
        deployment
      );
      this._status.set(
        key,
        typeof outcome === 'string'
          ? { kind: 'ok', text: outcome }
          : { kind: 'ok', ...outcome }
      );
    } catch (error) {
      const detail =
        error instanceof ApplyDroppedError ? error.detail : undefined;
      this._status.set(key, { kind: 'error', text: messageOf(error), detail });
    }
    this._jobs.delete(key);
    this._manifests.delete(key);
    if (this._runs.has(key)) {
      this._runs.delete(key);
      void this._toggleRuns(key);
    }
    await this.refresh();
  }

  /** The parameters and gate typed in the panel; empty fields keep the notebook's defaults. */
  private _retrainOptions(name: string): {
    parameters: Record<string, string>;
    promote_if: string | null;
  } {
    const parameters: Record<string, string> = {};
    for (const item of this._declared()) {
      const value = this._values.get(`${name}:${item.name}`)?.trim();
      if (value) {
        parameters[item.name] = value;
      }
    }
    const gate = this._values.get(`${name}:promote_if`)?.trim();
    return { parameters, promote_if: gate || null };
  }

  private _declared(): IDeclaredParameter[] {
    return typeof this._parameters === 'string' ? [] : this._parameters;
  }

  private async _cancel(name: string): Promise<void> {
    const job = this._jobs.get(name);
    if (!job) {
      return;
    }
    this._status.set(name, { kind: 'busy', text: 'Cancelling the retrain…' });
    this._render();
    try {
      await this.service.cancelRetrain(job);
    } catch (error) {
      this._status.set(name, { kind: 'error', text: messageOf(error) });
      this._render();
    }
  }

  private async _toggleRuns(name: string): Promise<void> {
    if (this._runs.has(name)) {
      this._runs.delete(name);
      this._render();
      return;
    }
    this._runs.set(name, 'Loading the runs…');
    this._render();
    try {
      this._runs.set(name, await this.service.runs(name));
    } catch (error) {
      this._runs.set(name, messageOf(error));
    }
    this._render();
  }

  private async _toggleManifests(name: string): Promise<void> {
    if (this._manifests.has(name)) {
      this._manifests.delete(name);
      this._render();
      return;
    }
    this._manifests.set(name, 'Rendering the manifests…');
    this._render();
    try {
      this._manifests.set(name, await this.service.manifests(name));
    } catch (error) {
      this._manifests.set(name, messageOf(error));
    }
    this._render();
  }

  private async _toggleDiff(name: string, info: IVersionInfo): Promise<void> {
    const key = `${name}@${info.version}`;
    if (this._diffs.has(key)) {
      this._diffs.delete(key);
      this._render();
      return;
    }
    this._diffs.set(key, 'Loading the diff…');
    this._render();
    try {
      const diff = await this.service.diff(
        name,
        info.parent ?? '',
        info.version
      );
      this._diffs.set(key, diff.diff || 'No differences in the text files.');
    } catch (error) {
      this._diffs.set(key, messageOf(error));
    }
    this._render();
  }

  private _jumpTo(cellId: string): void {
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
      node.appendChild(this._renderDeployment(deployment));
    }
  }

  private _renderDeployment(deployment: IDeploymentView): HTMLElement {
    const section = el('section', 'jp-DeployPanel-deployment');
    section.dataset.deployment = deployment.name;
    const title = el('h3', 'jp-DeployPanel-name', deployment.name);
    if (deployment.current) {
      title.appendChild(
        el('span', 'jp-DeployPanel-current', `current ${deployment.current}`)
      );
    }
    section.appendChild(title);

    const status = this._status.get(deployment.name);
    const actions = el('div', 'jp-DeployPanel-actions');
    for (const action of ACTIONS) {
      if (!this._info?.actions.includes(action.requires)) {
        continue;
      }
      const button = el(
        'button',
        'jp-Button jp-mod-styled jp-mod-accept',
        action.label
      );
      button.dataset.action = action.id;
      (button as HTMLButtonElement).disabled = status?.kind === 'busy';
      button.addEventListener(
        'click',
        () => void this._runAction(action, deployment)
      );
      actions.appendChild(button);
    }
    section.appendChild(actions);
    if (status) {
      const line = el(
        'div',
        `jp-DeployPanel-status jp-mod-${status.kind}`,
        status.text
      );
      section.appendChild(line);
      if (status.kind === 'busy' && this._jobs.has(deployment.name)) {
        const cancel = el('button', 'jp-Button jp-mod-styled', 'Cancel');
        cancel.dataset.action = 'cancel-retrain';
        cancel.addEventListener(
          'click',
          () => void this._cancel(deployment.name)
        );
        section.appendChild(cancel);
      }
      if (status.detail) {
        section.appendChild(el('pre', 'jp-DeployPanel-detail', status.detail));
      }
    }
    if (this._info?.actions.includes('retrain')) {
      section.appendChild(this._renderRetrain(deployment.name));
    }
    if (
      this._info?.actions.includes('manifests') &&
      deployment.versions.length
    ) {
      section.appendChild(this._renderManifests(deployment.name));
    }

    section.appendChild(el('h4', '', 'Cells'));
    const cells = el('ul', 'jp-DeployPanel-cells');
    for (const cell of deployment.cells) {
      cells.appendChild(this._renderCell(cell));
    }
    section.appendChild(cells);

    section.appendChild(el('h4', '', 'Versions'));
    if (!deployment.versions.length) {
      section.appendChild(el('p', 'jp-DeployPanel-hint', 'Not exported yet.'));
    }
    const versions = el('ul', 'jp-DeployPanel-versions');
    for (const info of [...deployment.versions].reverse()) {
      versions.appendChild(this._renderVersion(deployment, info));
    }
    section.appendChild(versions);
    return section;
  }

  /** The retraining form (the notebook's declared parameters, the gate) and the runs list. */
  private _renderRetrain(name: string): HTMLElement {
    const box = el('details', 'jp-DeployPanel-retrain');
    (box as HTMLDetailsElement).open = this._retrainOpen.has(name);
    box.addEventListener('toggle', () => {
      if ((box as HTMLDetailsElement).open) {
        this._retrainOpen.add(name);
      } else {
        this._retrainOpen.delete(name);
      }
    });
    box.appendChild(el('summary', '', 'retrain options'));
    const field = (key: string, label: string, placeholder: string) => {
      const row = el('label', 'jp-DeployPanel-field');
      row.appendChild(el('span', '', label));
      const input = document.createElement('input');
      input.className = 'jp-mod-styled';
      input.dataset.field = key;
      input.placeholder = placeholder;
      input.value = this._values.get(`${name}:${key}`) ?? '';
      input.addEventListener('input', () =>
        this._values.set(`${name}:${key}`, input.value)
      );
      row.appendChild(input);
      return row;
    };
    if (typeof this._parameters === 'string') {
      box.appendChild(el('p', 'jp-DeployPanel-error', this._parameters));
    } else if (!this._parameters.length) {
      box.appendChild(
        el(
          'p',
          'jp-DeployPanel-hint',
          'No cell tagged "parameters": retraining re-runs the notebook as it is.'
        )
      );
    }
    for (const item of this._declared()) {
      box.appendChild(
        field(item.name, `${item.name}${typeOf(item)}`, item.default)
      );
    }
    box.appendChild(
      field('promote_if', 'promote if', 'e.g. accuracy >= current')
    );
    const runs = this._runs.get(name);
    const button = el(
      'button',
      'jp-DeployPanel-link',
      runs === undefined ? '▸ runs' : '▾ runs'
    );
    button.dataset.toggle = 'runs';
    button.addEventListener('click', () => void this._toggleRuns(name));
    box.appendChild(button);
    if (typeof runs === 'string') {
      box.appendChild(el('p', 'jp-DeployPanel-hint', runs));
    } else if (runs) {
      box.appendChild(runsView(runs));
    }
    return box;
  }

  private _renderManifests(name: string): HTMLElement {
    const box = el('div', 'jp-DeployPanel-manifests');
    const preview = this._manifests.get(name);
    const button = el(
      'button',
      'jp-DeployPanel-link',
      preview === undefined ? '▸ manifest preview' : '▾ manifest preview'
    );
    button.dataset.toggle = 'manifests';
    button.addEventListener('click', () => void this._toggleManifests(name));
    box.appendChild(button);
    if (typeof preview === 'string') {
      box.appendChild(el('p', 'jp-DeployPanel-hint', preview));
    } else if (preview) {
      box.appendChild(manifestView(preview));
    }
    return box;
  }

  private _renderCell(cell: IAnnotation): HTMLElement {
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
    item.addEventListener('click', () => this._jumpTo(cell.cell_id));
    return item;
  }

  private _renderVersion(
    deployment: IDeploymentView,
    info: IVersionInfo
  ): HTMLElement {
    const item = el('li', 'jp-DeployPanel-version');
    item.dataset.version = info.version;
    const line = el('div', 'jp-DeployPanel-versionLine');
    line.appendChild(el('strong', '', info.version));
    line.appendChild(
      el('span', 'jp-DeployPanel-created', formatTime(info.created))
    );
    const parity = info.parity?.status ?? 'not checked';
    const badge = el(
      'span',
      `jp-DeployPanel-parity jp-mod-${parity.replace(' ', '-')}`,
      `parity ${parity}`
    );
    badge.title = info.parity?.detail ?? '';
    line.appendChild(badge);
    if (info.parent) {
      const key = `${deployment.name}@${info.version}`;
      const open = this._diffs.has(key);
      const button = el(
        'button',
        'jp-DeployPanel-link',
        open ? 'hide diff' : `diff vs ${info.parent}`
      );
      button.addEventListener(
        'click',
        () => void this._toggleDiff(deployment.name, info)
      );
      line.appendChild(button);
    }
    item.appendChild(line);
    const diff = this._diffs.get(`${deployment.name}@${info.version}`);
    if (diff !== undefined) {
      item.appendChild(diffView(diff));
    }
    return item;
  }

  private _body: Widget;
  private _notebook: NotebookPanel | null = null;
  private _info: IServerInfo | null = null;
  private _data: INotebookDeployments | null = null;
  private _error: unknown = null;
  private _loading = false;
  private _request = 0;
  private _status = new Map<string, Status>();
  private _diffs = new Map<string, string>();
  private _manifests = new Map<string, IManifestPreview | string>();
  /** The notebook's declared parameters, or why the server could not read them. */
  private _parameters: IDeclaredParameter[] | string = [];
  /** Typed values, `NAME:FIELD` -> text, kept across redraws. */
  private _values = new Map<string, string>();
  private _retrainOpen = new Set<string>();
  private _runs = new Map<string, IRunList | string>();
  /** deployment -> its running retraining job's id */
  private _jobs = new Map<string, string>();
}

function typeOf(item: IDeclaredParameter): string {
  return item.type ? ` (${item.type})` : '';
}

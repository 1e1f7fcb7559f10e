/**
 * The retraining form of each deployment: one field per parameter the server read from the notebook's
 * `parameters` cell (with its default as the placeholder), the promotion gate, and the runs list.
 * Typed values are kept across redraws; the server checks them when retraining starts.
 */
import { Disclosures } from './disclosure';
import { el, runsView } from './dom';
import { IDeclaredParameter, IRetrainRequest, IRunList } from './models';
import { DeployService } from './service';

export class RetrainForm {
  /** `changed` redraws the panel. */
  constructor(
    private readonly _service: DeployService,
    changed: () => void
  ) {
    this.runs = new Disclosures<IRunList>(
      {
        loading: 'Loading the runs…',
        label: 'runs',
        toggle: 'runs',
        view: runsView
      },
      changed
    );
  }

  /** The retraining runs, by deployment. */
  readonly runs: Disclosures<IRunList>;

  /** The notebook's declared parameters, or why the server could not read them. */
  parameters: IDeclaredParameter[] | string = [];

  /** Another notebook: nothing typed for this one applies. */
  clear(): void {
    this._values.clear();
    this.runs.clear();
  }

  /** What was typed for `name`; an empty field keeps the notebook's default. */
  options(name: string): Pick<IRetrainRequest, 'parameters' | 'promote_if'> {
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

  render(name: string): HTMLElement {
    const box = el('details', 'jp-DeployPanel-retrain') as HTMLDetailsElement;
    box.open = this._expanded.has(name);
    box.addEventListener('toggle', () => {
      if (box.open) {
        this._expanded.add(name);
      } else {
        this._expanded.delete(name);
      }
    });
    box.appendChild(el('summary', '', 'retrain options'));
    if (typeof this.parameters === 'string') {
      box.appendChild(el('p', 'jp-DeployPanel-error', this.parameters));
    } else if (!this.parameters.length) {
      box.appendChild(
        el(
          'p',
          'jp-DeployPanel-hint',
          'No cell tagged "parameters": retraining re-runs the notebook as it is.'
        )
      );
    }
    for (const item of this._declared()) {
      const type = item.type ? ` (${item.type})` : '';
      box.appendChild(
        this._field(name, item.name, `${item.name}${type}`, item.default)
      );
    }
    box.appendChild(
      this._field(name, 'promote_if', 'promote if', 'e.g. accuracy >= current')
    );
    box.append(...this.runs.render(name, () => this._service.runs(name)));
    return box;
  }

  private _field(
    name: string,
    key: string,
    label: string,
    placeholder: string
  ): HTMLElement {
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
  }

  private _declared(): IDeclaredParameter[] {
    return typeof this.parameters === 'string' ? [] : this.parameters;
  }

  /** Typed values, `NAME:FIELD` -> text. */
  private _values = new Map<string, string>();
  /** Deployments whose form is open. */
  private _expanded = new Set<string>();
}

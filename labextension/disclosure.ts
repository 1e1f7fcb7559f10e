/**
 * The parts of the panel a user opens and closes (the runs list, the manifest preview, a version's
 * diff): each is loaded from the server when opened, shows a hint while loading or when the server
 * refused, and stays open across redraws. One implementation for all of them.
 */
import { el, messageOf } from './dom';

/** What an open part holds: the server's answer, or a hint (loading, or why it failed). */
type Shown<T> = { value: T } | { hint: string };

interface IOpen<T> {
  shown: Shown<T>;
  load: () => Promise<T>;
}

/** How one kind of part looks: its hint while loading, its link's label and `data-toggle`, its view. */
export interface IDisclosureKind<T> {
  loading: string;
  label: string;
  toggle: string;
  view(value: T): HTMLElement;
}

/** The open parts of one kind, by key (a deployment, `NAME@vN`). */
export class Disclosures<T> {
  /** `changed` redraws the panel. */
  constructor(
    private readonly _kind: IDisclosureKind<T>,
    private readonly _changed: () => void
  ) {}

  isOpen(key: string): boolean {
    return this._open.has(key);
  }

  /** Close `key` if open, else open it and load it with `load`. */
  async toggle(key: string, load: () => Promise<T>): Promise<void> {
    if (this._open.delete(key)) {
      this._changed();
      return;
    }
    await this._load(key, load);
  }

  /** Load an open part again (its content changed on the server); a closed one stays closed. */
  async reload(key: string): Promise<void> {
    const open = this._open.get(key);
    if (open) {
      await this._load(key, open.load);
    }
  }

  close(key: string): void {
    this._open.delete(key);
  }

  clear(): void {
    this._open.clear();
  }

  /** The link that opens and closes `key`, then what it holds when open. */
  render(key: string, load: () => Promise<T>): HTMLElement[] {
    const button = el(
      'button',
      'jp-DeployPanel-link',
      `${this.isOpen(key) ? '▾' : '▸'} ${this._kind.label}`
    );
    button.dataset.toggle = this._kind.toggle;
    button.addEventListener('click', () => void this.toggle(key, load));
    const content = this.content(key);
    return content ? [button, content] : [button];
  }

  /** What `key` holds: a hint (loading, or why the server refused), the value's view; null when closed. */
  content(key: string): HTMLElement | null {
    const shown = this._open.get(key)?.shown;
    if (!shown) {
      return null;
    }
    return 'hint' in shown
      ? el('p', 'jp-DeployPanel-hint', shown.hint)
      : this._kind.view(shown.value);
  }

  private async _load(key: string, load: () => Promise<T>): Promise<void> {
    const open: IOpen<T> = { shown: { hint: this._kind.loading }, load };
    this._open.set(key, open);
    this._changed();
    try {
      open.shown = { value: await load() };
    } catch (error) {
      open.shown = { hint: messageOf(error) };
    }
    this._changed();
  }

  private _open = new Map<string, IOpen<T>>();
}

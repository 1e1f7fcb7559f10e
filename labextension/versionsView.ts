/**
 * A deployment's versions, newest first: created, the parity badge, and the diff against the parent
 * version (loaded from the server when opened).
 */
import { Disclosures, IDisclosureKind } from './disclosure';
import { diffView, el, formatTime } from './dom';
import { IDeploymentView, IVersionDiff, IVersionInfo } from './models';
import { DeployService } from './service';

/** A version's diff against its parent, as the panel shows it. */
export const DIFFS: IDisclosureKind<IVersionDiff> = {
  loading: 'Loading the diff…',
  label: 'diff',
  toggle: 'diff',
  view: diff => diffView(diff.diff || 'No differences in the text files.')
};

/** The versions list; `diffs` holds the open diffs by `NAME@vN`. */
export function versionsView(
  deployment: IDeploymentView,
  diffs: Disclosures<IVersionDiff>,
  service: DeployService
): HTMLElement[] {
  const heading = el('h4', '', 'Versions');
  if (!deployment.versions.length) {
    return [heading, el('p', 'jp-DeployPanel-hint', 'Not exported yet.')];
  }
  const list = el('ul', 'jp-DeployPanel-versions');
  for (const info of [...deployment.versions].reverse()) {
    list.appendChild(versionItem(info, diffs, service));
  }
  return [heading, list];
}

function versionItem(
  info: IVersionInfo,
  diffs: Disclosures<IVersionDiff>,
  service: DeployService
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
  item.appendChild(line);
  const parent = info.parent;
  if (!parent) {
    return item;
  }
  const key = `${info.name}@${info.version}`;
  const button = el(
    'button',
    'jp-DeployPanel-link',
    diffs.isOpen(key) ? 'hide diff' : `diff vs ${parent}`
  );
  button.addEventListener(
    'click',
    () =>
      void diffs.toggle(key, () =>
        service.diff(info.name, parent, info.version)
      )
  );
  line.appendChild(button);
  const diff = diffs.content(key);
  if (diff) {
    item.appendChild(diff);
  }
  return item;
}

import { IManifestPreview, IRunList } from './models';
import { DeployRequestError } from './request';

export function el(tag: string, className: string, text?: string): HTMLElement {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

export function messageOf(error: unknown): string {
  if (error instanceof DeployRequestError || error instanceof Error) {
    return error.message;
  }
  return String(error);
}

export function formatTime(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

/** A unified diff with added and removed lines marked for styling. */
export function diffView(diff: string): HTMLElement {
  const pre = el('pre', 'jp-DeployPanel-diff');
  for (const line of diff.split('\n')) {
    const kind =
      line.startsWith('+++') || line.startsWith('---')
        ? 'file'
        : line.startsWith('+')
          ? 'added'
          : line.startsWith('-')
            ? 'removed'
            : line.startsWith('@@')
              ? 'hunk'
              : 'context';
    pre.appendChild(el('div', `jp-DeployPanel-diffLine jp-mod-${kind}`, line));
  }
  return pre;
}

/** What the panel shows instead of an empty list when the server extension does not answer. */
export function missingExtension(): HTMLElement {
  const box = el('div', 'jp-DeployPanel-error jp-DeployPanel-missing');
  box.appendChild(
    el(
      'p',
      '',
      'The jupyter-deploy server extension is not enabled on this server.'
    )
  );
  box.appendChild(
    el(
      'p',
      '',
      'Install it into the environment that runs JupyterLab and enable it:'
    )
  );
  box.appendChild(
    el(
      'pre',
      '',
      'pip install jupyter-deploy-kserve\njupyter server extension enable jupyter_deploy'
    )
  );
  box.appendChild(el('p', '', 'Then restart JupyterLab.'));
  return box;
}

/** The rendered manifest files, one collapsible monospace block per file (the InferenceService open). */
export function manifestView(preview: IManifestPreview): HTMLElement {
  const box = el('div', 'jp-DeployPanel-manifestFiles');
  box.appendChild(
    el(
      'p',
      'jp-DeployPanel-hint',
      `${preview.name} ${preview.version}: preview, not written`
    )
  );
  for (const file of preview.files) {
    const details = document.createElement('details');
    details.className = 'jp-DeployPanel-manifestFile';
    details.dataset.path = file.path;
    details.open = file.path.endsWith('inferenceservice.yaml');
    details.appendChild(el('summary', '', file.path));
    details.appendChild(el('pre', 'jp-DeployPanel-manifest', file.text));
    box.appendChild(details);
  }
  return box;
}

/** The retraining runs, newest first: status, outcome, version, parameters and why. */
export function runsView(list: IRunList): HTMLElement {
  const box = el('ul', 'jp-DeployPanel-runs');
  if (!list.runs.length) {
    box.appendChild(el('li', 'jp-DeployPanel-hint', 'No runs yet.'));
  }
  for (const run of list.runs) {
    const item = el('li', 'jp-DeployPanel-run');
    item.dataset.runId = String(run.run_id ?? '');
    item.dataset.status = String(run.status ?? '');
    const params = Object.entries((run.params ?? {}) as Record<string, unknown>)
      .map(([key, value]) => `${key}=${value}`)
      .join(' ');
    const parts = [
      formatTime(String(run.started ?? '')),
      String(run.status ?? ''),
      String(run.outcome ?? ''),
      run.version ? String(run.version) : '',
      params,
      run.reason ? `: ${run.reason}` : ''
    ];
    item.textContent = parts.filter(part => part).join(' ');
    box.appendChild(item);
  }
  return box;
}

import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ICellModel } from '@jupyterlab/cells';
import { INotebookTracker } from '@jupyterlab/notebook';
import { LabIcon } from '@jupyterlab/ui-components';
import { Menu } from '@lumino/widgets';

import { ROLES } from './models';
import { DeployPanel } from './panel';
import { DeployService } from './service';

namespace CommandIDs {
  export const setRole = 'jupyter-deploy:set-role';
  export const openPanel = 'jupyter-deploy:open-panel';
}

const TAG_PREFIX = 'deploy:';

const deployIcon = new LabIcon({
  name: 'jupyter-deploy:rocket',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16">' +
    '<path class="jp-icon3" fill="#616161" d="M12 2c3.5 2 5.5 5.6 5.5 9.6 0 1.4-.3 2.8-.8 4.1l2.3 ' +
    '2.8-3 1.5-1.6-2H9.6l-1.6 2-3-1.5 2.3-2.8c-.5-1.3-.8-2.7-.8-4.1C6.5 7.6 8.5 4 12 2zm0 6.5a2 2 0 1 0 ' +
    '0 4 2 2 0 0 0 0-4zM10 20h4l-2 2.5z"/></svg>'
});

/**
 * Give a cell one deploy role: replace any `deploy:` tag with `deploy:ROLE` (or `deploy:ROLE:NAME`);
 * an empty role removes it. The server reads the tag; nothing here decides what a role means.
 */
function setRoleTag(
  model: ICellModel,
  role: string,
  name: string | null
): void {
  const current = model.getMetadata('tags');
  const tags = (Array.isArray(current) ? (current as string[]) : []).filter(
    tag => !tag.startsWith(TAG_PREFIX)
  );
  if (role) {
    tags.push(name ? `${TAG_PREFIX}${role}:${name}` : `${TAG_PREFIX}${role}`);
  }
  if (tags.length) {
    model.setMetadata('tags', tags);
  } else {
    model.deleteMetadata('tags');
  }
}

function roleOf(model: ICellModel | undefined): string | null {
  const tags = model?.getMetadata('tags');
  if (!Array.isArray(tags)) {
    return null;
  }
  const tag = (tags as string[]).find(tag => tag.startsWith(TAG_PREFIX));
  return tag ? tag.slice(TAG_PREFIX.length).split(':')[0] : null;
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-deploy:plugin',
  description:
    'Side panel for jupyter-deploy: annotated cells, versions and export of the active notebook.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    palette: ICommandPalette | null
  ) => {
    const panel = new DeployPanel(new DeployService(), tracker);
    panel.title.icon = deployIcon;
    app.shell.add(panel, 'right', { rank: 900 });

    app.commands.addCommand(CommandIDs.openPanel, {
      label: 'Show the Deploy Panel',
      execute: () => app.shell.activateById(panel.id)
    });

    app.commands.addCommand(CommandIDs.setRole, {
      label: args =>
        args.role ? `Deploy Role: ${args.role}` : 'Deploy Role: none (remove)',
      caption:
        'Tag the active cell with deploy:ROLE (and save the notebook so the Deploy panel sees it)',
      isEnabled: () =>
        !!tracker.currentWidget?.content.activeCell &&
        tracker.currentWidget.content.activeCell.model.type === 'code',
      isToggled: args =>
        !!args.role &&
        roleOf(tracker.currentWidget?.content.activeCell?.model) === args.role,
      execute: async args => {
        const notebook = tracker.currentWidget;
        const cell = notebook?.content.activeCell;
        if (!notebook || !cell) {
          return;
        }
        const role = typeof args.role === 'string' ? args.role : '';
        const name =
          typeof args.name === 'string' && args.name
            ? args.name
            : panel.nameForNewRole();
        setRoleTag(cell.model, role, name);
        await notebook.context.save();
      }
    });

    const submenu = new Menu({ commands: app.commands });
    submenu.title.label = 'Deploy Role';
    submenu.title.icon = deployIcon;
    for (const role of ROLES) {
      submenu.addItem({ command: CommandIDs.setRole, args: { role } });
      palette?.addItem({
        command: CommandIDs.setRole,
        args: { role },
        category: 'Deploy'
      });
    }
    submenu.addItem({ command: CommandIDs.setRole, args: { role: '' } });
    app.contextMenu.addItem({
      type: 'submenu',
      submenu,
      selector: '.jp-Notebook .jp-CodeCell',
      rank: 30
    });
    palette?.addItem({ command: CommandIDs.openPanel, category: 'Deploy' });
  }
};

export default plugin;

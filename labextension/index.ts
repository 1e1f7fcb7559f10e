import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { ICellModel } from '@jupyterlab/cells';
import { INotebookTracker } from '@jupyterlab/notebook';
import { LabIcon } from '@jupyterlab/ui-components';
import { Menu } from '@lumino/widgets';

import { DeployPanel } from './panel';
import { DeployService } from './service';

namespace CommandIDs {
  export const setRole = 'jupyter-deploy:set-role';
  export const openPanel = 'jupyter-deploy:open-panel';
}

const deployIcon = new LabIcon({
  name: 'jupyter-deploy:rocket',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16">' +
    '<path class="jp-icon3" fill="#616161" d="M12 2c3.5 2 5.5 5.6 5.5 9.6 0 1.4-.3 2.8-.8 4.1l2.3 ' +
    '2.8-3 1.5-1.6-2H9.6l-1.6 2-3-1.5 2.3-2.8c-.5-1.3-.8-2.7-.8-4.1C6.5 7.6 8.5 4 12 2zm0 6.5a2 2 0 1 0 ' +
    '0 4 2 2 0 0 0 0-4zM10 20h4l-2 2.5z"/></svg>'
});

/**
 * Give a cell one deploy role: the server answers the tags to write (its tag grammar, and which
 * deployment the cell joins); an empty role removes it. Nothing here decides what a tag looks like.
 */
async function setRoleTag(
  service: DeployService,
  path: string,
  model: ICellModel,
  role: string,
  name: string | null
): Promise<void> {
  const current = model.getMetadata('tags');
  const tags = Array.isArray(current) ? (current as string[]) : [];
  const result = await service.tag({ path, role, tags, name });
  if (result.tags.length) {
    model.setMetadata('tags', result.tags);
  } else {
    model.deleteMetadata('tags');
  }
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
    const service = new DeployService();
    const panel = new DeployPanel(service, tracker);
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
        panel.roleOfCell(
          tracker.currentWidget?.content.activeCell?.model.id
        ) === args.role,
      execute: async args => {
        const notebook = tracker.currentWidget;
        const cell = notebook?.content.activeCell;
        if (!notebook || !cell) {
          return;
        }
        const role = typeof args.role === 'string' ? args.role : '';
        const name =
          typeof args.name === 'string' && args.name ? args.name : null;
        if (notebook.context.model.dirty) {
          await notebook.context.save(); // the server reads the saved notebook's deployments
        }
        try {
          await setRoleTag(
            service,
            notebook.context.path,
            cell.model,
            role,
            name
          );
        } catch (error) {
          panel.showError(error);
          return;
        }
        await notebook.context.save();
      }
    });

    const submenu = new Menu({ commands: app.commands });
    submenu.title.label = 'Deploy Role';
    submenu.title.icon = deployIcon;
    // the roles are the server's (GET /jupyter-deploy/info); without the server extension, none
    void panel.serverInfo().then(info => {
      for (const role of info?.roles ?? []) {
        submenu.insertItem(submenu.items.length - 1, {
          command: CommandIDs.setRole,
          args: { role }
        });
        palette?.addItem({
          command: CommandIDs.setRole,
          args: { role },
          category: 'Deploy'
        });
      }
    });
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

"""The Deploy side panel in a real JupyterLab, driven in headless Chromium.

A user opens a notebook, opens the panel, sees the annotated cells, jumps to one, gives another cell a role
from the cell's context menu, exports, sees the new version appear, previews its manifests, serves it locally
and stops it.
Tests ask for ``lab`` before ``page`` so the browser closes before JupyterLab stops (else shutdown waits
on the open websockets).
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

PANEL = "#jupyter-deploy-panel"
TAB = '.lm-TabBar-tab[data-id="jupyter-deploy-panel"]'

pytestmark = [pytest.mark.ui, pytest.mark.slow]


def open_notebook_and_panel(page: Page, lab) -> None:
    page.goto(lab.page_url("doubler.ipynb"))
    expect(page.locator(".jp-Notebook .jp-Cell").first).to_be_visible(timeout=60_000)
    tab = page.locator(TAB)
    expect(tab).to_be_visible()
    tab.click()
    expect(page.locator(PANEL)).to_be_visible()


def code_cell(page: Page, text: str):
    return page.locator(".jp-Notebook .jp-CodeCell").filter(has_text=text)


def set_role_from_context_menu(page: Page, cell, role: str) -> None:
    """Right-click the cell, open the Deploy Role submenu, pick the role ("none" removes it)."""
    editor = cell.locator(".jp-InputArea-editor")
    editor.click()
    editor.click(button="right")
    page.locator(".lm-Menu-item", has_text="Deploy Role").first.hover()
    page.locator(".lm-Menu-item", has_text=f"Deploy Role: {role}").click()


def test_panel_shows_cells_sets_a_role_and_exports(lab, page: Page, screenshots):
    open_notebook_and_panel(page, lab)
    panel = page.locator(PANEL)
    cells = panel.locator(".jp-DeployPanel-cell")

    # the saved notebook's annotations, grouped under their deployment
    expect(panel.locator('[data-deployment="doubler"] .jp-DeployPanel-name')).to_contain_text("doubler")
    expect(cells).to_have_count(2)
    expect(cells.nth(0)).to_contain_text("predict")
    expect(cells.nth(0)).to_contain_text("def predict(inputs):")
    expect(cells.nth(1)).to_contain_text("example")
    expect(panel).to_contain_text("Not exported yet.")

    # clicking an annotated cell makes it the notebook's active cell
    panel.locator('.jp-DeployPanel-cell[data-role="example"]').click()
    expect(page.locator(".jp-Notebook .jp-Cell.jp-mod-active")).to_contain_text("example_input = [1.0, 2.5]")

    # set a role through the cell's context menu: the tag is written and saved, the panel shows the cell
    rounding = code_cell(page, "def postprocess(outputs):")
    set_role_from_context_menu(page, rounding, "postprocess")
    expect(panel.locator('.jp-DeployPanel-cell[data-role="postprocess"]')).to_be_visible()
    expect(cells).to_have_count(3)
    saved = json.loads((lab.root / "doubler.ipynb").read_text())
    [tagged] = [cell for cell in saved["cells"] if cell["id"] == "rounding"]
    assert tagged["metadata"]["tags"] == ["deploy:postprocess:doubler"]

    # export: progress while it runs, then the new version with its parity result
    panel.locator('button[data-action="export"]').click()
    status = panel.locator(".jp-DeployPanel-status")
    expect(status).to_contain_text("Exporting")
    version = panel.locator('.jp-DeployPanel-version[data-version="v1"]')
    expect(version).to_be_visible(timeout=120_000)
    expect(version).to_contain_text("parity skipped")  # no kernel, no independent reference: only a live export checks
    expect(status).to_contain_text("Created doubler v1 in deployments/doubler/v1")
    expect(panel.locator(".jp-DeployPanel-current")).to_have_text("current v1")
    info = json.loads((lab.root / "deployments" / "doubler" / "v1" / "version.json").read_text())
    assert "rounding" in info["cell_ids"]

    page.screenshot(path=str(screenshots / "panel-after-export.png"))

    # the manifest preview: rendered for the current version, nothing written
    section = panel.locator('[data-deployment="doubler"]')
    section.locator('button[data-toggle="manifests"]').click()
    isvc = section.locator('.jp-DeployPanel-manifestFile[data-path="deploy/doubler/base/inferenceservice.yaml"]')
    expect(isvc.locator(".jp-DeployPanel-manifest")).to_contain_text("kind: InferenceService")
    assert not (lab.root / "deploy").exists()

    # serve locally: the URL and a ready-to-paste request appear; stop takes the server down
    panel.locator('button[data-action="serve"]').click()
    expect(status).to_contain_text("Serving doubler v1 at http://127.0.0.1:", timeout=120_000)
    detail = panel.locator(".jp-DeployPanel-detail")
    expect(detail).to_contain_text("curl -H 'Content-Type: application/json'")
    expect(detail).to_contain_text("/v1/models/doubler:predict")
    page.screenshot(path=str(screenshots / "panel-serving.png"))
    panel.locator('button[data-action="stop"]').click()
    expect(status).to_contain_text("Stopped the local doubler server.")

    # take the role away again, export v2, and read the diff against v1 in the panel
    set_role_from_context_menu(page, rounding, "none")
    expect(cells).to_have_count(2)
    panel.locator('button[data-action="export"]').click()
    second = panel.locator('.jp-DeployPanel-version[data-version="v2"]')
    expect(second).to_be_visible(timeout=120_000)
    expect(status).to_contain_text("Created doubler v2")
    second.get_by_role("button", name="diff vs v1").click()
    diff = second.locator(".jp-DeployPanel-diff")
    expect(diff).to_contain_text("--- doubler/v1/predictor.py")
    expect(diff).to_contain_text("-def postprocess(outputs):")
    page.screenshot(path=str(screenshots / "panel-diff.png"))


def test_panel_shows_the_server_error_for_a_bad_annotation(lab, page: Page, screenshots):
    notebook = json.loads((lab.root / "doubler.ipynb").read_text())
    [check] = [cell for cell in notebook["cells"] if cell["id"] == "check"]
    check["metadata"]["tags"] = ["deploy:predcit"]
    (lab.root / "doubler.ipynb").write_text(json.dumps(notebook))

    open_notebook_and_panel(page, lab)
    error = page.locator(f"{PANEL} .jp-DeployPanel-error")
    expect(error).to_contain_text("unknown role 'predcit'")
    expect(error).to_contain_text("id check")

    # fixing it through the context menu clears the error
    set_role_from_context_menu(page, code_cell(page, "postprocess(predict(example_input))"), "none")
    expect(error).to_have_count(0)
    expect(page.locator(f"{PANEL} .jp-DeployPanel-cell")).to_have_count(2)
    page.screenshot(path=str(screenshots / "panel-error-fixed.png"))


def test_panel_says_how_to_enable_a_missing_server_extension(lab_without_server_extension, page: Page, screenshots):
    open_notebook_and_panel(page, lab_without_server_extension)
    missing = page.locator(f"{PANEL} .jp-DeployPanel-missing")
    expect(missing).to_contain_text("server extension is not enabled")
    expect(missing).to_contain_text("jupyter server extension enable jupyter_deploy")
    page.screenshot(path=str(screenshots / "panel-missing-server-extension.png"))


@pytest.mark.kernel
def test_panel_runs_and_exports_then_retrains_with_parameters_and_lists_runs(lab, page: Page, screenshots):
    """A trained model (tiny's `weights` come from a cell): the live export, then a retrain with a
    parameter and a gate typed in the panel, and the run it made."""
    import shutil

    from conftest import DATA

    shutil.copy(DATA / "retrain" / "tiny.ipynb", lab.root / "tiny.ipynb")
    page.goto(lab.page_url("tiny.ipynb"))
    expect(page.locator(".jp-Notebook .jp-Cell").first).to_be_visible(timeout=60_000)
    page.locator(TAB).click()
    panel = page.locator(PANEL)
    section = panel.locator('[data-deployment="tiny"]')
    status = section.locator(".jp-DeployPanel-status")

    section.locator('button[data-action="export-execute"]').click()
    expect(status).to_contain_text("Running the notebook in a fresh kernel")
    expect(status).to_contain_text("Created tiny v1 in deployments/tiny/v1", timeout=180_000)
    expect(section.locator('.jp-DeployPanel-version[data-version="v1"]')).to_contain_text("parity passed")

    # the parameters the server read from the notebook's parameters cell, with their defaults
    section.locator(".jp-DeployPanel-retrain summary").click()
    scale = section.locator('input[data-field="scale"]')
    expect(scale).to_have_attribute("placeholder", "2.0")
    scale.fill("3")
    section.locator('input[data-field="promote_if"]').fill("score >= 0.5")
    section.locator('button[data-action="retrain"]').click()
    expect(status).to_contain_text("Promoted tiny v2", timeout=240_000)
    info = json.loads((lab.root / "deployments" / "tiny" / "v2" / "version.json").read_text())
    assert info["version"] == "v2"

    section.locator('button[data-toggle="runs"]').click()
    run = section.locator(".jp-DeployPanel-run")
    expect(run).to_have_count(1)
    expect(run).to_contain_text("promoted")
    expect(run).to_contain_text("scale=3.0")
    page.screenshot(path=str(screenshots / "panel-retrained.png"))


@pytest.mark.kernel
@pytest.mark.k8s
def test_panel_applies_in_one_call_and_cancels_a_running_retrain(lab_with_cluster, page: Page, kubeconfig):
    from jupyter_deploy.cluster import kube

    lab = lab_with_cluster
    notebook = json.loads((lab.root / "doubler.ipynb").read_text())
    slow = {"cell_type": "code", "id": "slow", "metadata": {}, "execution_count": None, "outputs": []}
    notebook["cells"].append({**slow, "source": "import time\ntime.sleep(600)"})
    (lab.root / "doubler.ipynb").write_text(json.dumps(notebook))
    open_notebook_and_panel(page, lab)
    section = page.locator(f'{PANEL} [data-deployment="doubler"]')
    status = section.locator(".jp-DeployPanel-status")
    section.locator('button[data-action="export"]').click()
    expect(status).to_contain_text("Created doubler v1", timeout=120_000)
    section.locator('button[data-action="manifests"]').click()
    expect(status).to_contain_text("the manifests of doubler v1")

    try:
        section.locator('button[data-action="apply"]').click()
        expect(status).to_contain_text("Applied doubler to namespace default.", timeout=60_000)
        expect(section.locator(".jp-DeployPanel-detail")).to_contain_text(
            "InferenceService/doubler in default: created"
        )
        section.locator('button[data-action="status"]').click()  # no KServe controller runs: never ready
        expect(status).to_contain_text("doubler in default: not ready", timeout=60_000)
    finally:
        kube.delete(lab.root, "doubler", kubeconfig=kubeconfig)

    section.locator('button[data-action="retrain"]').click()
    expect(status).to_contain_text("import time", timeout=120_000)
    section.locator('button[data-action="cancel-retrain"]').click()
    expect(status).to_contain_text("Retraining failed: cancelled from the side panel", timeout=60_000)
    section.locator(".jp-DeployPanel-retrain summary").click()
    section.locator('button[data-toggle="runs"]').click()
    run = section.locator(".jp-DeployPanel-run")
    expect(run).to_have_count(1)
    expect(run).to_contain_text("FAILED")
    expect(run).to_contain_text("cancelled from the side panel")

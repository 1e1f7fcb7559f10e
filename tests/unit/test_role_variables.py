"""The kernel's binding hook watches exactly the variables the roles bind."""

from jupyter_deploy.jupyter.bindings import VARIABLES
from jupyter_deploy.records import ROLE_VARIABLES


def test_the_hook_watches_every_role_variable() -> None:
    assert sorted(VARIABLES) == sorted(ROLE_VARIABLES.values())

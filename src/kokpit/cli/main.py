"""The `kokpit` command: one typer app, with one module per topic under `kokpit.cli`.

Every command reports failure as a single line on stderr and a non-zero exit (`fail`), because
people and scripts read that first; tracebacks are for bugs, not for bad input.
"""

from __future__ import annotations

import typer

from kokpit.cli import (
    agent,
    binaries,
    components,
    etcd,
    fleet,
    hosted,
    hub,
    images,
    install,
    interpreter,
    machines,
    migrate,
    plan,
    register,
    sandbox,
    token,
)
from kokpit.cli.errors import run_app

app = typer.Typer(
    name="kokpit",
    help="kokpit: Kubernetes managing fleets of Kubernetes clusters.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(binaries.app, name="binaries")
app.add_typer(images.app, name="images")
app.add_typer(sandbox.app, name="sandbox")
app.add_typer(hub.app, name="hub")
app.add_typer(agent.app, name="agent")
app.add_typer(etcd.app, name="etcd")
app.add_typer(machines.app, name="machines")
app.add_typer(machines.hosts_app, name="hosts")
app.add_typer(fleet.get_app, name="get")
app.add_typer(hosted.create_app, name="create")
app.add_typer(hosted.delete_app, name="delete")
app.add_typer(hosted.upgrade_app, name="upgrade")
app.add_typer(hosted.addons_app, name="addons")
fleet.get_app.command("kubeconfig")(hosted.get_kubeconfig)
fleet.get_app.command("components")(components.get_components)
components.describe_app.command("component")(components.describe_component_command)
app.add_typer(components.describe_app, name="describe")
app.command("install")(install.install)
app.command("join")(fleet.join_command)
app.command("unjoin")(fleet.unjoin_command)
app.command("plan")(plan.plan)
app.add_typer(token.app, name="token")
app.add_typer(interpreter.app, name="interpreter")
app.add_typer(migrate.app, name="migrate")
app.command("register")(register.register_command)


def main() -> None:
    """Entry point of the `kokpit` console script."""
    run_app(app)


if __name__ == "__main__":
    main()

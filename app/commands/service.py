"""`edgeae service install|status|logs|remove`: `edgeae run` as a systemd service."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
from pathlib import Path

from edgeae.app.commands.args import Parser, examples, output_dir, ranged

log = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """`service ACTION NAME ...`, one sub-parser per action."""
    p = subparsers.add_parser(
        "service", help="run `edgeae run` as a systemd service (restarts, watchdog, reload)",
        description=(
            "Install `edgeae run ARGS` as the systemd service edgeae-NAME: started at boot,\n"
            "restarted whatever stopped it, restarted by systemd's watchdog when no frame is\n"
            "processed for --watchdog seconds (a hung camera or model), run as an unprivileged\n"
            "user in a sandbox from the folder it was installed from. `systemctl reload\n"
            "edgeae-NAME` re-reads the threshold (SIGHUP) without reopening the camera."),
        epilog=examples(
            "sudo edgeae service install line1 --now -- run --model det/model_int8.tflite "
            "--source 0 --task score --mqtt mqtt://broker.local/line1",
            "edgeae service install cam2 --unit-dir ~/units --user pi -- run --pretrained live "
            "--source 0 --serve 8080",
            "edgeae service status line1",
            "edgeae service logs line1 -f",
            "sudo edgeae service remove line1"))
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    _add_install(actions)
    for action, text, example in (
            ("status", "systemctl status edgeae-NAME", "edgeae service status line1"),
            ("logs", "journalctl -u edgeae-NAME (more journalctl options after)",
             "edgeae service logs line1 -f --since today")):
        a = actions.add_parser(action, help=text, description=text, epilog=examples(example))
        a.add_argument("name")
        a.add_argument("more", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        a.set_defaults(func=_systemd_tool)
    remove = actions.add_parser("remove", help="stop, disable and delete the service's unit",
                                epilog=examples("sudo edgeae service remove line1",
                                                "edgeae service remove cam2 --unit-dir ~/units"))
    remove.add_argument("name")
    _add_unit_dir(remove)
    remove.set_defaults(func=_remove)


def _add_unit_dir(p: argparse.ArgumentParser) -> None:
    from edgeae.app.service import SYSTEM_UNIT_DIR

    p.add_argument("--unit-dir", type=output_dir, default=SYSTEM_UNIT_DIR, metavar="DIR",
                   help="where the unit file lives (default %(default)s)")


def _add_install(actions: argparse._SubParsersAction) -> None:
    from edgeae.app.service import ServiceSpec

    p = actions.add_parser(
        "install", help="write the unit edgeae-NAME.service for `run ARGS`",
        epilog=examples("sudo edgeae service install line1 --now -- run --model "
                        "det/model_int8.tflite --source 0 --task score",
                        "edgeae service install cam2 --unit-dir ~/units --user pi -- run "
                        "--pretrained live --source picamera2 --serve 0.0.0.0:8080 --token SECRET"))
    p.add_argument("name", help="the service is edgeae-NAME")
    _add_unit_dir(p)
    p.add_argument("--user", help="the account it runs as (default: whoever ran sudo, else you; "
                                  "never root)")
    p.add_argument("--watchdog", type=ranged(int, 1), default=ServiceSpec.watchdog, metavar="S",
                   help="restart when no frame was processed for S seconds (default %(default)s)")
    p.add_argument("--workdir", type=Path, metavar="DIR",
                   help="the folder it runs in: relative paths in ARGS start there (default: "
                        "the current folder)")
    p.add_argument("--now", action="store_true", help="enable and start it at once")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing unit of that name")
    p.usage = "edgeae service install NAME [OPTIONS] -- run ARGS..."
    p.set_defaults(func=_install, passthrough=[])  # `run ARGS`, the words after -- (app/cli.py)


def _install(args: argparse.Namespace) -> int:
    """Check the run command line as `edgeae run` would, then write the unit."""
    from edgeae.app.commands import run as run_command
    from edgeae.app.service import (
        ServiceSpec,
        check_name,
        install,
        service_user,
        without_secrets,
    )
    from edgeae.core.errors import UserError

    command = args.passthrough
    if command[:1] != ["run"]:
        raise UserError("give the command after --: edgeae service install NAME -- run ARGS")
    parser = Parser(prog="edgeae")  # `edgeae run` alone: a bad option fails now, not at boot
    run_command.add_parser(parser.add_subparsers(dest="command"))
    workdir = (args.workdir or Path(os.getcwd())).resolve()
    parsed = parser.parse_args(command)
    _check_service_paths(workdir, parsed.model)
    _check_run_there(parsed, workdir)
    run_args, secrets = without_secrets(tuple(command[1:]))
    spec = ServiceSpec(check_name(args.name), run_args, service_user(args.user), workdir,
                       args.watchdog, secrets=tuple({**_from_environment(parsed),
                                                     **secrets}.items()))
    # systemd ignores a relative EnvironmentFile=, so the unit names the secrets' full path
    path = install(spec, args.unit_dir.absolute(), args.overwrite, args.now)
    print(f"wrote {path}")
    if not args.now:
        print(f"start it: sudo systemctl enable --now {spec.unit}")
    return 0


def _check_run_there(parsed: argparse.Namespace, workdir: Path) -> None:
    """The run's options checked as `edgeae run` checks them, in the folder it will start in.

    A source that is not there, --loop with a camera, --events for a denoiser or --serve
    beyond this machine without a token had been found only by the service, at every start. A
    webhook's credentials in its URL are refused: they would stay in the unit.
    """
    from urllib.parse import urlsplit

    from edgeae.app.commands.args import model_path
    from edgeae.app.commands.run import checked_run
    from edgeae.app.service import PRIVATE
    from edgeae.core.errors import UserError
    from edgeae.runtime.capture import parse_source

    if any(urlsplit(url).username is not None for url in parsed.webhook):  # kept in the unit
        raise UserError("--webhook with user:password@ would keep them in the unit, which every "
                        "user can read: set EDGEAE_WEBHOOK_AUTHORIZATION='Basic ...' (or "
                        "'Bearer TOKEN') for this command instead; it goes to the secrets file")
    with contextlib.chdir(workdir):
        if parsed.backend == "auto":  # chosen by timing on the device, at the service's start
            parsed.backend = None
        checked_run(parsed, parse_source(parsed.source), model_path(parsed))
        for option in ("output", "events", "queue_dir"):  # the queue: sent at the next start
            path = getattr(parsed, option)
            if path is not None and any(path.absolute().is_relative_to(t) for t in PRIVATE):
                log.warning("--%s %s: the service gets a private /tmp and /var/tmp "
                            "(PrivateTmp=yes), which go when it stops; write it elsewhere",
                            option.replace("_", "-"), path)


def _from_environment(parsed: argparse.Namespace) -> dict[str, str]:
    """The secrets the run took from this shell's environment, which the service will not have.

    `EDGEAE_TOKEN=... edgeae service install ... --serve HOST:PORT` passed its checks, and the
    service, without the token, refused to start every time.
    """
    names = [*(["EDGEAE_TOKEN"] if parsed.serve else []),
             *([f"EDGEAE_MQTT_{n}" for n in ("USERNAME", "PASSWORD", "CAFILE")]
               if parsed.mqtt else []),
             *(["EDGEAE_WEBHOOK_AUTHORIZATION"] if parsed.webhook else [])]
    return {name: os.environ[name] for name in names if os.environ.get(name)}


def _check_service_paths(workdir: Path, model: Path | None) -> None:
    """The folder the service starts in and its --model are there: else it fails at every boot."""
    from edgeae.core.errors import UserError

    if not workdir.is_dir():
        raise UserError(f"--workdir {workdir} is not a folder; the service starts there")
    if model is not None and not (workdir / model).exists():
        where = "" if model.is_absolute() else f" in {workdir}, where the service starts"
        raise UserError(f"no --model {model}{where}: the service would fail at every start")


def _systemd_tool(args: argparse.Namespace) -> int:
    """`status` and `logs`: systemctl's or journalctl's own output and exit code."""
    import subprocess

    from edgeae.app.service import check_name, systemd_running
    from edgeae.core.errors import UserError

    unit = f"edgeae-{check_name(args.name)}.service"
    if not systemd_running():
        raise UserError("systemd is not running on this machine (no /run/systemd/system)")
    tool = ["systemctl", "status", unit] if args.action == "status" else ["journalctl", "-u", unit]
    return subprocess.call([*tool, *args.more])


def _remove(args: argparse.Namespace) -> int:
    from edgeae.app.service import remove

    print(f"removed {remove(args.name, args.unit_dir)}")
    return 0

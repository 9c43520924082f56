"""`edgeae run` as a systemd service: the unit file, written, checked and removed.

The unit runs `python -m edgeae run ARGS` from the folder it was installed from (so relative
paths keep their meaning) as an unprivileged user, restarts it whatever ended it, and holds it
to systemd's watchdog: the loop notifies systemd after its first frame (Type=notify) and keeps
notifying while frames are processed (runtime/systemd.py), so a camera that stops delivering or
a model that hangs restarts the service. `systemctl reload` sends SIGHUP, which re-reads the
threshold. The sandbox: no new privileges, a read-only system and home but for the working
folder and the unit's state and cache folders (the sinks' queues, OpenVINO's compiled models).
"""

from __future__ import annotations

import getpass
import logging
import os
import pwd
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from edgeae.core.errors import UserError
from edgeae.core.files import check_writable, write_text

log = logging.getLogger(__name__)

SYSTEM_UNIT_DIR = Path("/etc/systemd/system")
PRIVATE = (Path("/tmp"), Path("/var/tmp"))  # what PrivateTmp=yes replaces for the service
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
SANDBOX = (  # systemd.exec(5): what the service may not do; cameras stay reachable (/dev)
    "NoNewPrivileges=yes", "PrivateTmp=yes", "ProtectSystem=strict", "ProtectHome=read-only",
    "ProtectKernelTunables=yes", "ProtectKernelModules=yes", "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes", "ProtectClock=yes", "ProtectHostname=yes",
    "RestrictSUIDSGID=yes", "RestrictRealtime=yes", "RestrictNamespaces=yes",
    "LockPersonality=yes", "SystemCallArchitectures=native",
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK")


@dataclass(frozen=True)
class ServiceSpec:
    """What `service install` writes: a name, the `run` arguments, who runs them, where.

    `secrets`: environment variables the run reads its token and broker credentials from,
    kept out of the unit (readable by every user, as its command line is in `ps`) in a file
    only root reads.
    """

    name: str
    run_args: tuple[str, ...]
    user: str
    workdir: Path
    watchdog: int = 60  # seconds without a processed frame before systemd restarts the service
    restart_after: int = 5  # seconds between a stop and the restart
    secrets: tuple[tuple[str, str], ...] = ()

    @property
    def unit(self) -> str:
        """The unit's name: edgeae-NAME.service."""
        return f"edgeae-{self.name}.service"

    @property
    def secrets_file(self) -> str:
        """The name of the file beside the unit holding `secrets`."""
        return f"edgeae-{self.name}.env"


SECRET_OPTIONS = ("--token", "--mqtt")  # the run options whose values hold secrets


def without_secrets(run_args: tuple[str, ...]) -> tuple[tuple[str, ...], dict[str, str]]:
    """`run_args` with --token and MQTT URL credentials moved into environment variables.

    The run reads $EDGEAE_TOKEN and $EDGEAE_MQTT_USERNAME / _PASSWORD (runtime/serve.py,
    runtime/sinks.py); brokers with different credentials cannot share those, and are refused.
    An option is found as argparse takes it, abbreviated too (--tok): those had stayed in the
    unit, which every user can read.
    """
    args, env, words = [], {}, iter(run_args)
    for word in words:
        option, equals, value = word.partition("=")
        option = _secret_option(option) or option
        if option in SECRET_OPTIONS:
            value = value if equals else next(words, "")
            if option == "--token":
                env["EDGEAE_TOKEN"] = value
                continue
            value = _mqtt_without_credentials(value, env)
            word = f"{option}={value}" if equals else option
            args += [word] if equals else [word, value]
            continue
        args.append(word)
    return tuple(args), env


def _secret_option(word: str) -> str | None:
    """The secret-holding option `word` names, whole or abbreviated; None for any other word.

    The command line was parsed first, so an abbreviation argparse took is not ambiguous.
    """
    if len(word) > 2 and word.startswith("--"):
        return next((o for o in SECRET_OPTIONS if o.startswith(word)), None)
    return None


def _mqtt_without_credentials(url: str, env: dict[str, str]) -> str:
    """The URL without user:password@, which go into `env` (one broker's credentials at most)."""
    parts = urlsplit(url)
    if parts.username is None:
        return url
    given = {"EDGEAE_MQTT_USERNAME": unquote(parts.username),
             **({"EDGEAE_MQTT_PASSWORD": unquote(parts.password)} if parts.password else {})}
    if any(env.get(k, v) != v for k, v in given.items()):
        raise UserError("the --mqtt brokers have different credentials, which the service keeps "
                        "in one pair of variables; use one account for them all")
    env.update(given)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def check_name(name: str) -> str:
    """A service name usable in a unit name and a folder name."""
    if not NAME.fullmatch(name):
        raise UserError(f"service name {name!r}: use letters, digits, '_', '.', '-' "
                        "(at most 64, starting with a letter or digit)")
    return name


def service_user(user: str | None) -> str:
    """The account the service runs as: `user`, else whoever ran sudo, else the caller.

    Never root: the loop needs no privilege beyond the camera (the `video` group).
    """
    user = user or os.environ.get("SUDO_USER") or getpass.getuser()
    try:
        pwd.getpwnam(user)
    except KeyError:
        raise UserError(f"no user {user!r} on this machine; pass --user NAME") from None
    if user == "root":
        raise UserError("the service would run as root; pass --user NAME (an unprivileged "
                        "account; add it to the video group for a camera)")
    return user


def exec_word(arg: str) -> str:
    """One word of ExecStart= as systemd.service(5) reads it.

    Specifiers (%) and variables ($) escaped; quoted when it holds spaces, quotes, backslashes
    or ';'.
    """
    escaped = arg.replace("%", "%%").replace("$", "$$")
    if escaped and not re.search(r"[\s\"'\\;]", escaped):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unit_text(spec: ServiceSpec, unit_dir: Path = SYSTEM_UNIT_DIR) -> str:
    """The unit file (its secrets, if any, in `secrets_text`'s file beside it in `unit_dir`)."""
    command = [sys.executable, "-m", "edgeae", "run", *spec.run_args]
    state = f"edgeae/{spec.name}"
    lines = [
        f"# Written by `edgeae service install {spec.name}` on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; `edgeae service remove {spec.name}` "
        "removes it.",
        "[Unit]",
        f"Description=edgeae {spec.name}: edgeae run {shlex.join(spec.run_args)}"
        .replace("%", "%%"),
        "Wants=network-online.target", "After=network-online.target", "",
        "[Service]", "Type=notify", "NotifyAccess=main",
        "ExecStart=" + " ".join(exec_word(a) for a in command),
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=always", f"RestartSec={spec.restart_after}", f"WatchdogSec={spec.watchdog}",
        "TimeoutStartSec=300",  # the first frame: a model compiling, a camera coming up
        "SuccessExitStatus=143",  # stopped before its loop began (SIGTERM while loading): a stop
        f"User={spec.user}", "SupplementaryGroups=video",
        f"WorkingDirectory={exec_word(str(spec.workdir))}",
        f"ReadWritePaths={exec_word(str(spec.workdir))}",
        f"StateDirectory={state}", f"CacheDirectory={state}",
        "Environment=PYTHONUNBUFFERED=1", f"Environment=EDGEAE_CACHE=%C/{state}",
        *([f"EnvironmentFile={exec_word(str(unit_dir / spec.secrets_file))}"]
          if spec.secrets else []),
        *SANDBOX, "",
        "[Install]", "WantedBy=multi-user.target", ""]
    return "\n".join(lines)


def secrets_text(spec: ServiceSpec) -> str:
    """The EnvironmentFile of the unit's secrets (systemd.exec(5): KEY="value" lines)."""
    quoted = (v.replace("\\", "\\\\").replace('"', '\\"') for _, v in spec.secrets)
    return "".join(f'{k}="{v}"\n' for (k, _), v in zip(spec.secrets, quoted))


def systemd_running() -> bool:
    """Whether systemd is the init system here (sd_booted(3))."""
    return Path("/run/systemd/system").is_dir()


def systemctl(*args: str, check: bool = True) -> int:
    """Run systemctl; UserError when systemd is not running or it fails (with `check`)."""
    if not systemd_running():
        raise UserError("systemd is not running on this machine (no /run/systemd/system)")
    code = subprocess.call(["systemctl", *args])
    if check and code:
        raise UserError(f"systemctl {' '.join(args)} failed (exit {code})")
    return code


def install(spec: ServiceSpec, unit_dir: Path, overwrite: bool, start: bool) -> Path:
    """Write the unit into `unit_dir`; for the system's folder, reload systemd (and start it)."""
    if start and not systemd_running():
        raise UserError("--now needs systemd running on this machine")
    if any(spec.workdir.is_relative_to(t) for t in PRIVATE):
        log.warning("the service gets a private /tmp and /var/tmp (PrivateTmp=yes), so its "
                    "working folder %s will be empty for it and it cannot start; choose a "
                    "--workdir outside /tmp and /var/tmp", spec.workdir)
    check_writable(unit_dir / spec.unit, overwrite)  # before the secrets: a refusal leaves none
    if spec.secrets:  # only root (systemd) reads it; it is in place before the unit names it
        write_text(unit_dir / spec.secrets_file, secrets_text(spec), overwrite, mode=0o600)
    path = write_text(unit_dir / spec.unit, unit_text(spec, unit_dir), overwrite)
    if unit_dir == SYSTEM_UNIT_DIR and systemd_running():
        systemctl("daemon-reload")
        if start:
            systemctl("enable", "--now", spec.unit)
    return path


def remove(name: str, unit_dir: Path) -> Path:
    """Stop and disable the service (system folder), delete its unit."""
    path = unit_dir / f"edgeae-{check_name(name)}.service"
    if not path.is_file():
        raise UserError(f"{path} does not exist: no service {name!r} installed there")
    system = unit_dir == SYSTEM_UNIT_DIR and systemd_running()
    if system:
        systemctl("disable", "--now", path.name, check=False)
    path.unlink()
    (unit_dir / f"edgeae-{name}.env").unlink(missing_ok=True)
    if system:
        systemctl("daemon-reload")
    return path

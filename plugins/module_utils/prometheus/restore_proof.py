# -*- coding: utf-8 -*-
# Copyright: (c) 2026, fleetops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The restore proof of BACKUP: a throwaway agent started from an exported configuration and flags.

``prove`` writes the exported ``config.yml`` into a scratch directory, starts the controller's
``prometheus`` in the agent's mode (``--agent`` on 3.x, ``--enable-feature=agent`` on 2.x) with the
exported flags, waits until it answers ``/-/ready`` on a free localhost port, stops it and removes
the directory. Only a process that got that far proves the backup can be restored.

What belongs to the pod is rewritten for the scratch run, and said in the result:
- the configuration file, the storage path and the listen address are the scratch directory's and
  a free ``127.0.0.1`` port; the web flags that name the pod's files or URLs are left out;
- every remote write goes to a localhost port that is bound and never listened on (connection
  refused): the throwaway agent sends nothing anywhere; ``--storage.remote.flush-deadline`` is 1s
  so it stops at once;
- TLS files the configuration names that are not on the controller are left out (Prometheus reads
  them at start-up), credential files that are not are replaced by a placeholder;
- flags the controller's ``prometheus`` does not know, flags of the other mode ("Use with server
  mode only") and absolute paths that do not exist here are left out.

Pure Python, no Ansible imports. ``prove`` is bounded by its ``timeout`` (plus a few seconds to
stop the process); it never raises for what the agent does, only returns ``ok: False`` and why.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from urllib.request import ProxyHandler, build_opener

try:
    import yaml
    HAS_YAML = True
except ImportError:  # pragma: no cover - ansible-core requires PyYAML; the import sanity test runs without it
    HAS_YAML = False

NO_PROMETHEUS = "no prometheus binary on the controller: the restore is not proven"

# flags the scratch run sets itself, or leaves out because they name the pod's files and URLs
OWN_FLAGS = ("config.file", "storage.agent.path", "storage.tsdb.path", "web.listen-address", "storage.remote.flush-deadline", "agent")
POD_FLAGS = ("web.external-url", "web.route-prefix", "web.config.file", "web.user-assets", "web.local-assets",
             "web.console.templates", "web.console.libraries")
TLS_FILE_KEYS = ("ca_file", "cert_file", "key_file")
CREDENTIAL_FILE_KEYS = ("bearer_token_file", "password_file", "credentials_file", "client_secret_file", "sigv4_secret_file")

_FLAG_LINE = re.compile(r"^\s+(?:-\w, )?--(\[no-\])?([a-z][a-z0-9.\-]*)(=\S*)?\s*(.*)$")


def parse_help(text):
    """{flag: {'bool': bool, 'default': str or None, 'help': str}} of ``prometheus --help``."""
    flags, current = {}, None
    for line in (text or "").splitlines():
        match = _FLAG_LINE.match(line)
        if match:
            name, value = match.group(2), match.group(3)
            default = None
            if value and value.startswith('="') and value.endswith('"'):
                default = value[2:-1]
            elif value and not value[1:].startswith("<") and not value[1:].isupper():
                default = value[1:]
            current = flags[name] = {"bool": value is None, "default": default, "help": match.group(4)}
        elif current is not None and line.strip():
            current["help"] = (current["help"] + " " + line.strip()).strip()
    return flags


def _other_mode(entry, agent_mode):
    words = " ".join(entry["help"].split()).lower()
    return ("use with server mode only" in words) if agent_mode else ("use with agent mode only" in words)


def scratch_flags(flags, known, agent_mode):
    """(the exported flags the scratch run passes as ``--name=value``, {flag: why left out})."""
    argv, skipped = [], {}
    for name in sorted(flags or {}):
        value = "" if flags[name] is None else str(flags[name])
        if name in OWN_FLAGS:
            continue
        if name in POD_FLAGS:
            if value not in ("", "/"):
                skipped[name] = "names the pod's files or URLs"
            continue
        entry = known.get(name)
        if entry is None:
            if value not in ("", "0s", "0B", "0"):
                skipped[name] = "not in the controller's prometheus --help (unknown or hidden)"
            continue
        if _other_mode(entry, agent_mode):
            continue
        if name == "enable-feature":
            features = [f for f in value.split(",") if f.strip() and f.strip() != "agent"]
            if features:
                argv.append("--enable-feature=%s" % ",".join(features))
            continue
        if entry["bool"]:
            if value.lower() in ("true", "false"):
                argv.append("--%s%s" % ("" if value.lower() == "true" else "no-", name))
            continue
        if value == "" or value == entry["default"]:
            continue
        if value.startswith("/") and not os.path.exists(value):
            skipped[name] = "a path of the pod (%s)" % value
            continue
        argv.append("--%s=%s" % (name, value))
    return argv, skipped


def scratch_config(config_yaml, blackhole_url, placeholder):
    """(the configuration for the scratch run, [what was rewritten]); raises ValueError if it is not YAML."""
    if not HAS_YAML:
        raise ValueError("PyYAML is not installed: the exported configuration cannot be read")
    try:
        config = yaml.safe_load(config_yaml)
    except yaml.YAMLError as exc:
        raise ValueError("the exported configuration is not YAML: %s" % str(exc).splitlines()[0])
    if not isinstance(config, dict):
        raise ValueError("the exported configuration is not a YAML mapping")
    notes = []
    for entry in config.get("remote_write") or []:
        if isinstance(entry, dict) and entry.get("url"):
            entry["url"] = blackhole_url
    if config.get("remote_write"):
        notes.append("%d remote write(s) pointed at a closed local port" % len(config["remote_write"]))
    files = {"tls": 0, "credentials": 0}

    def walk(node):
        if isinstance(node, dict):
            for key in list(node):
                value = node[key]
                if key in TLS_FILE_KEYS and isinstance(value, str) and value and not os.path.exists(value):
                    del node[key]
                    files["tls"] += 1
                elif key in CREDENTIAL_FILE_KEYS and isinstance(value, str) and value and not os.path.exists(value):
                    node[key] = placeholder
                    files["credentials"] += 1
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(config)
    if files["tls"]:
        notes.append("%d TLS file(s) of the pod left out" % files["tls"])
    if files["credentials"]:
        notes.append("%d credential file(s) of the pod replaced by a placeholder" % files["credentials"])
    return yaml.safe_dump(config, default_flow_style=False, sort_keys=False), notes


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ready(port, timeout):
    opener = build_opener(ProxyHandler({}))     # never through the environment's proxy
    try:
        with opener.open("http://127.0.0.1:%d/-/ready" % port, timeout=timeout) as response:
            return response.status == 200
    except Exception:   # pylint: disable=broad-except  # any failure is "not ready yet"
        return False


def _read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read().strip()
    except OSError:
        return ""


_LOGFMT_FIELD = re.compile(r'\b(msg|err)=("(?:\\.|[^"\\])*"|\S+)')


def first_error(log):
    """The first error of a Prometheus log (the cause; later ones repeat it), as ``msg: err``."""
    for line in log.splitlines():
        if "level=error" in line:
            fields = dict((k, (v[1:-1] if v.startswith('"') else v).replace('\\"', '"')) for k, v in _LOGFMT_FIELD.findall(line))
            return ": ".join(v for v in (fields.get("msg"), fields.get("err")) if v) or line
    return ""


def _stop(proc):
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.wait(timeout=10)


def prove(prometheus, config_yaml, flags, agent_mode, timeout):
    """Start a throwaway agent from an exported configuration and flags.

    Returns a dict: ``ok`` (True: it answered /-/ready; False: it did not; None: no prometheus
    here), ``message``, ``argv``, ``seconds``, ``output`` (the end of its log), ``skipped_flags``,
    ``rewritten``.
    """
    result = {"ok": None, "message": NO_PROMETHEUS, "argv": [], "seconds": None, "output": "", "skipped_flags": {}, "rewritten": []}
    binary = shutil.which(prometheus) if prometheus else None
    if not binary:
        return result
    try:
        help_run = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return dict(result, ok=False, message="%s --help failed: %s" % (binary, exc))
    known = parse_help(help_run.stdout + help_run.stderr)
    scratch = tempfile.mkdtemp(prefix="fleetops-restore-")
    blackhole = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    proc = None
    try:
        blackhole.bind(("127.0.0.1", 0))    # bound, never listening: every send is refused
        placeholder = os.path.join(scratch, "placeholder-credential")
        with open(placeholder, "w", encoding="utf-8") as handle:
            handle.write("placeholder\n")
        try:
            text, notes = scratch_config(config_yaml, "http://127.0.0.1:%d/api/v1/write" % blackhole.getsockname()[1], placeholder)
        except ValueError as exc:
            return dict(result, ok=False, message=str(exc))
        config_path = os.path.join(scratch, "config.yml")
        with open(config_path, "w", encoding="utf-8") as handle:
            handle.write(text)
        port = _free_port()
        argv = [binary, "--config.file=" + config_path, "--web.listen-address=127.0.0.1:%d" % port,
                "--storage.remote.flush-deadline=1s"]
        if agent_mode:
            argv += ["--agent"] if "agent" in known else ["--enable-feature=agent"]
            argv.append("--storage.agent.path=" + os.path.join(scratch, "data"))
        else:
            argv.append("--storage.tsdb.path=" + os.path.join(scratch, "data"))
        extra, skipped = scratch_flags(flags, known, agent_mode)
        argv += extra
        result.update(argv=argv, skipped_flags=skipped, rewritten=notes)
        log_path = os.path.join(scratch, "prometheus.log")
        started = time.monotonic()
        with open(log_path, "w", encoding="utf-8") as log:
            proc = subprocess.Popen(argv, cwd=scratch, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        ready = False
        while time.monotonic() - started < timeout:
            if proc.poll() is not None:
                break
            if _ready(port, min(2.0, timeout)):
                ready = True
                break
            time.sleep(0.2)
        seconds = round(time.monotonic() - started, 2)
        exited = proc.poll()
        _stop(proc)
        log = _read(log_path).replace(scratch + os.sep, "")
        output = "\n".join(log.splitlines()[-8:])
        result.update(seconds=seconds, output=output)
        if ready:
            return dict(result, ok=True, message="a throwaway agent from the backup answered /-/ready in %.1f s" % seconds)
        last = first_error(log) or (output.splitlines() or [""])[-1]
        if exited is not None:
            return dict(result, ok=False, message="a throwaway agent from the backup exited with %s before it was ready: %s" % (exited, last))
        return dict(result, ok=False, message="a throwaway agent from the backup was not ready within %s s: %s" % (timeout, last))
    finally:
        if proc is not None:
            _stop(proc)
        blackhole.close()
        shutil.rmtree(scratch, ignore_errors=True)

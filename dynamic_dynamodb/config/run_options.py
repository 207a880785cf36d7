"""How this process was asked to run: built once by the CLI, frozen, passed down.

Nothing below the CLI sees argparse: the service layer (runner, daemon) and the simulator
take this value, and a ``reload_config`` callable where they need to read the configuration
again (SIGHUP), so no lower module imports the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class RunOptions:
    config_path: str | None = None  # --config, absolute once the CLI has resolved it
    dry_run: bool = False
    run_once: bool = False
    daemon: str | None = None  # start, stop, restart, status, foreground
    instance: str = "default"
    pid_file_dir: str | None = None  # --pid-file-dir; None: the default (paths.runtime_dir)

    def as_real_run(self) -> RunOptions:
        """The same run without --dry-run: whose state a dry run previews."""
        return replace(self, dry_run=False)

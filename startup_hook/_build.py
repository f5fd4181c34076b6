"""The build step that puts the startup hook into site-packages (wheel and editable install).

Named in pyproject's ``[tool.setuptools] cmdclass``; imported by setuptools at build time
only, never installed. It copies two files from this folder to the root of site-packages:
``_tracker_hook.py`` (a top-level module, outside ``tracker`` so that interpreter start
never imports the package) and ``tracker-hook.pth`` (one line that runs it). ``site``
reads a ``.pth`` file only in a site directory, so:

* a wheel: both go to the root of ``build_lib``, which is the root of the wheel;
* an editable install (``pip install -e .``, strict or lenient): setuptools packs the
  editable wheel from ``install``'s ``install_lib`` folder, so both go there, as copies.
  (Under ``build_lib`` they would be linked into the strict mode's link tree, where
  ``site`` never looks.) An edit to ``_tracker_hook.py`` therefore needs a reinstall,
  as a new module does; ``tests/unit/test_pth_hook.py`` says so when the copy is stale.
"""

from __future__ import annotations

from pathlib import Path

from setuptools.command.build_py import build_py as _build_py

HERE = Path(__file__).resolve().parent
FILES = ("_tracker_hook.py", "tracker-hook.pth")


class build_py(_build_py):  # noqa: N801 - setuptools' command name
    """``build_py`` plus the startup hook's two files (module docstring)."""

    def _hook_target(self) -> Path:
        if self.editable_mode:
            return Path(self.get_finalized_command("install").install_lib)
        return Path(self.build_lib)

    def run(self) -> None:
        """Build as usual, then copy the hook's files where they land in site-packages."""
        super().run()
        target = self._hook_target()
        target.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            self.copy_file(str(HERE / name), str(target / name))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        """The usual outputs, plus the hook's files in a regular build."""
        outputs = list(super().get_outputs(include_bytecode))
        if not self.editable_mode:
            outputs.extend(str(Path(self.build_lib) / name) for name in FILES)
        return outputs

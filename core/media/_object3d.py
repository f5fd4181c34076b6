"""``tracker.Object3D`` and ``tracker.Molecule``: 3-D scenes and molecules, stored as files.

Both are kept as W&B keeps them, so that a download opens in the viewer of choice: a point
cloud from numpy as ``media/object3D/<sha256>.pts.json`` (a JSON list of ``[x, y, z]``,
``[x, y, z, category]`` or ``[x, y, z, r, g, b]`` points), a scene of
:meth:`Object3D.from_point_cloud` as a JSON object (``{"type": "lidar/beta", "points",
"boxes", "vectors"}``), a mesh file (``obj``, ``gltf``, ``glb``, ``babylon``, ``stl``) as it
is; a molecule file (``pdb``, ``sdf``, ``mol2``, ...) as it is under ``media/molecule/``.
The dashboard lists them as files to download.
"""

from __future__ import annotations

import json
import os
from typing import Any, ClassVar, Final

from tracker.errors import UsageError
from tracker.media._base import Media, check_caption, read_file, require_module, torch_tensor

__all__ = ["Molecule", "Object3D"]

_MESH_TYPES: Final = ("obj", "gltf", "glb", "babylon", "stl", "json")
_MOLECULE_TYPES: Final = ("pdb", "pqr", "mmcif", "mcif", "cif", "sdf", "sd", "gro", "mol2", "mmtf")
_POINT_WIDTHS: Final = (3, 4, 6)


def _ext(data_or_path: Any, file_type: str | None, what: str, allowed: tuple[str, ...]) -> str:
    ext = (file_type or os.path.splitext(str(getattr(data_or_path, "name", "")))[1]).lower().lstrip(".")
    if ext not in allowed:
        raise UsageError(f"{what}(): a file object needs file_type, one of {list(allowed)} (got {ext!r}).")
    return ext


def _file(data_or_path: Any, what: str, allowed: tuple[str, ...], file_type: str | None) -> tuple[bytes, str]:
    if hasattr(data_or_path, "read"):
        raw = data_or_path.read()
        return (raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)), _ext(
            data_or_path, file_type, what, allowed
        )
    path = os.fspath(data_or_path)
    if path.lower().endswith(".pts.json"):
        data, _ = read_file(path, what)
        return data, "pts.json"
    return read_file(path, what, allowed)


class Object3D(Media):
    """A 3-D point cloud, scene or mesh (W&B's ``wandb.Object3D``).

    Args:
        data_or_path: A numpy array (or torch tensor) of points, shape ``(N, 3)``
            (x, y, z), ``(N, 4)`` (x, y, z, category) or ``(N, 6)`` (x, y, z, r, g, b); a
            scene dict (see :meth:`from_point_cloud`); a path to an ``obj``, ``gltf``,
            ``glb``, ``babylon``, ``stl`` or ``.pts.json`` file; or a file object with
            ``file_type``.
        caption: Shown with the object.
        file_type: The format of a file object (``obj``, ``glb``, ...).

    Raises:
        UsageError: Points of another shape, an unsupported file type, a missing file.

    Example:
        >>> cloud = tracker.Object3D(np.random.rand(100, 3))  # doctest: +SKIP
        >>> run.log({"cloud": cloud})  # doctest: +SKIP
    """

    _kind: ClassVar[str] = "object3D"

    def __init__(self, data_or_path: Any, caption: str | None = None, file_type: str | None = None) -> None:
        self.caption = check_caption(caption, "Object3D")
        data = data_or_path
        if torch_tensor(data):
            data = data.detach().cpu().numpy()
        if type(data).__module__ == "numpy":
            if data.ndim != 2 or data.shape[1] not in _POINT_WIDTHS:
                raise UsageError(
                    f"Object3D(): points must have shape (N, 3), (N, 4) or (N, 6); got {tuple(data.shape)}."
                )
            self._body = json.dumps(data.tolist(), separators=(",", ":")).encode("utf-8")
            self._ext = "pts.json"
        elif isinstance(data, dict):
            self._body = json.dumps(data, separators=(",", ":"), default=_plain).encode("utf-8")
            self._ext = "pts.json"
        elif isinstance(data, (str, os.PathLike)) or hasattr(data, "read"):
            self._body, self._ext = _file(data, "Object3D", _MESH_TYPES, file_type)
        else:
            raise UsageError(
                f"Object3D() takes a numpy array of points, a scene dict, a path or a file object, "
                f"not {type(data).__name__}."
            )

    @classmethod
    def from_numpy(cls, data: Any, caption: str | None = None) -> Object3D:
        """A point cloud from an ``(N, 3)``, ``(N, 4)`` or ``(N, 6)`` array."""
        if type(data).__module__ != "numpy" and not torch_tensor(data):
            raise UsageError(f"Object3D.from_numpy() takes a numpy array, not {type(data).__name__}.")
        return cls(data, caption=caption)

    @classmethod
    def from_file(
        cls, data_or_path: Any, file_type: str | None = None, caption: str | None = None
    ) -> Object3D:
        """A mesh or point cloud from a file (obj, gltf, glb, babylon, stl, pts.json)."""
        return cls(data_or_path, caption=caption, file_type=file_type)

    @classmethod
    def from_point_cloud(
        cls,
        points: Any,
        boxes: Any = (),
        vectors: Any = (),
        point_cloud_type: str = "lidar/beta",
        caption: str | None = None,
    ) -> Object3D:
        """A scene: points, boxes (``{"corners", "label", "color"}``), vectors (``{"start", "end"}``)."""
        if point_cloud_type != "lidar/beta":
            raise UsageError(
                f"Object3D.from_point_cloud(point_cloud_type={point_cloud_type!r}): use 'lidar/beta'."
            )
        scene = {"type": point_cloud_type, "points": _plain(points), "boxes": _plain(list(boxes)),
                 "vectors": _plain(list(vectors))}  # fmt: skip
        return cls(scene, caption=caption)

    def _nbytes(self) -> int:
        return len(self._body)

    def _encode(self, store: Any) -> dict[str, Any]:
        ref: dict[str, Any] = {"_type": "object3D-file", "format": self._ext}
        ref.update(store.write("object3D", self._body, self._ext))
        if self.caption is not None:
            ref["caption"] = self.caption
        return ref

    def __repr__(self) -> str:
        return f"<tracker.Object3D {self._ext} {len(self._body)} bytes>"


class Molecule(Media):
    """A molecule file (W&B's ``wandb.Molecule``): ``pdb``, ``pqr``, ``mmcif``, ``cif``, ``sdf``,
    ``gro``, ``mol2``, ``mmtf``...; stored as it is.

    Args:
        data_or_path: A path, or a file object with ``file_type``.
        caption: Shown with the molecule.
        file_type: The format of a file object.

    Raises:
        UsageError: An unsupported file type or a missing file.
    """

    _kind: ClassVar[str] = "molecule"

    def __init__(self, data_or_path: Any, caption: str | None = None, file_type: str | None = None) -> None:
        self.caption = check_caption(caption, "Molecule")
        if not (isinstance(data_or_path, (str, os.PathLike)) or hasattr(data_or_path, "read")):
            raise UsageError(f"Molecule() takes a path or a file object, not {type(data_or_path).__name__}.")
        self._body, self._ext = _file(data_or_path, "Molecule", _MOLECULE_TYPES, file_type)

    @classmethod
    def from_rdkit(
        cls,
        data_or_path: Any,
        caption: str | None = None,
        convert_to_3d_and_optimize: bool = True,
        mmff_optimize_molecule_max_iterations: int = 200,
    ) -> Molecule:
        """A molecule from an RDKit ``Mol`` or a file RDKit reads (stored as PDB; needs ``rdkit``).

        Raises:
            MissingExtraError: RDKit is not installed.
        """
        require_module("rdkit", "Molecule.from_rdkit()")
        from rdkit import Chem
        from rdkit.Chem import AllChem

        mol = data_or_path
        if isinstance(mol, (str, os.PathLike)):
            path = os.fspath(mol)
            ext = os.path.splitext(path)[1].lower()
            readers = {".mol": Chem.MolFromMolFile, ".sdf": lambda p: next(iter(Chem.SDMolSupplier(p)))}
            if ext not in readers:
                raise UsageError(f"Molecule.from_rdkit({path!r}): use a .mol or .sdf file, or an rdkit Mol.")
            mol = readers[ext](path)
        if convert_to_3d_and_optimize:
            mol = Chem.AddHs(mol)
            AllChem.EmbedMolecule(mol)
            AllChem.MMFFOptimizeMolecule(mol, maxIters=mmff_optimize_molecule_max_iterations)
        import io

        return cls(io.BytesIO(Chem.MolToPDBBlock(mol).encode("utf-8")), caption=caption, file_type="pdb")

    def _nbytes(self) -> int:
        return len(self._body)

    def _encode(self, store: Any) -> dict[str, Any]:
        ref: dict[str, Any] = {"_type": "molecule-file", "format": self._ext}
        ref.update(store.write("molecule", self._body, self._ext))
        if self.caption is not None:
            ref["caption"] = self.caption
        return ref

    def __repr__(self) -> str:
        return f"<tracker.Molecule {self._ext} {len(self._body)} bytes>"


def _plain(value: Any) -> Any:
    """Numpy arrays and tensors in a scene as lists."""
    if torch_tensor(value):
        value = value.detach().cpu().numpy()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value

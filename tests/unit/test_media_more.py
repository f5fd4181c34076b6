"""Object3D, Molecule and Plotly: stored as files W&B's way, offered for download (issue 19, point 9)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

import tracker
from tracker.errors import MissingExtraError, UsageError

PDB = """HETATM    1  O   HOH A   1       0.000   0.000   0.000  1.00  0.00           O
HETATM    2  H1  HOH A   1       0.957   0.000   0.000  1.00  0.00           H
END
"""


def _logged(root: Path, values: dict[str, object]) -> tuple[tracker.Run, dict[str, object]]:
    run = tracker.init(project="media3d")
    run.log(values)
    run.finish()
    return run, tracker.Api(root).run(f"media3d/{run.id}").summary


def test_object3d_from_numpy_is_a_pts_json_point_list(root: Path) -> None:
    rng = np.random.default_rng(0)
    points = rng.random((50, 6))
    run, summary = _logged(
        root, {"cloud": tracker.Object3D.from_numpy(points), "xyz": tracker.Object3D(points[:, :3])}
    )
    ref = summary["cloud"]
    assert ref["_type"] == "object3D-file"
    assert ref["path"].startswith("media/object3D/")
    assert ref["path"].endswith(".pts.json")
    stored = json.loads((Path(run.dir) / ref["path"]).read_text())
    np.testing.assert_allclose(np.array(stored), points)
    assert np.array(json.loads((Path(run.dir) / summary["xyz"]["path"]).read_text())).shape == (50, 3)


def test_object3d_scene_and_mesh_file(root: Path, tmp_path: Path) -> None:
    corners = [[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)]
    box = {"corners": corners, "label": "car", "color": [255, 0, 0]}
    scene = tracker.Object3D.from_point_cloud(
        np.zeros((4, 3)), boxes=[box], vectors=[{"start": [0, 0, 0], "end": [1, 1, 1]}]
    )
    mesh = tmp_path / "tri.obj"
    mesh.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    run, summary = _logged(root, {"scene": scene, "mesh": tracker.Object3D(str(mesh), caption="tri")})
    body = json.loads((Path(run.dir) / summary["scene"]["path"]).read_text())
    assert body["type"] == "lidar/beta"
    assert body["boxes"][0]["label"] == "car"
    assert body["points"] == [[0.0, 0.0, 0.0]] * 4
    assert summary["mesh"]["path"].endswith(".obj")
    assert summary["mesh"]["caption"] == "tri"
    assert (Path(run.dir) / summary["mesh"]["path"]).read_text() == mesh.read_text()


def test_object3d_and_molecule_refuse_bad_input_by_name(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"shape \(N, 3\)"):
        tracker.Object3D(np.zeros((3, 5)))
    with pytest.raises(UsageError, match="unsupported file type"):
        tracker.Object3D(str(tmp_path / "x.txt"))
    with pytest.raises(UsageError, match="needs file_type"):
        tracker.Molecule(io.StringIO(PDB))
    with pytest.raises(UsageError, match="no such file"):
        tracker.Molecule(str(tmp_path / "missing.pdb"))


def test_molecule_is_stored_as_its_file(root: Path, tmp_path: Path) -> None:
    pdb = tmp_path / "water.pdb"
    pdb.write_text(PDB)
    run, summary = _logged(
        root, {"mol": tracker.Molecule(str(pdb)), "mol2": tracker.Molecule(io.StringIO(PDB), file_type="pdb")}
    )
    ref = summary["mol"]
    assert ref["_type"] == "molecule-file"
    assert ref["path"].startswith("media/molecule/")
    assert ref["path"].endswith(".pdb")
    assert (Path(run.dir) / ref["path"]).read_text() == PDB
    assert summary["mol2"]["sha256"] == ref["sha256"]


def test_molecule_from_rdkit_names_the_missing_package() -> None:
    try:
        import rdkit  # noqa: F401
    except ImportError:
        with pytest.raises(MissingExtraError, match="pip install rdkit"):
            tracker.Molecule.from_rdkit("x.mol")


class _Figure:
    """What plotly's Figure offers tracker: to_plotly_json() (numpy arrays inside)."""

    def to_plotly_json(self) -> dict[str, object]:
        return {
            "data": [{"type": "scatter", "x": np.arange(3), "y": np.array([1.0, 4.0, 9.0])}],
            "layout": {"title": {"text": "sq"}},
        }


def test_plotly_is_stored_as_the_figure_json(root: Path) -> None:
    run, summary = _logged(
        root, {"fig": tracker.Plotly(_Figure()), "d": tracker.Plotly({"data": [], "layout": {}})}
    )
    ref = summary["fig"]
    assert ref["_type"] == "plotly-file"
    assert ref["path"].endswith(".plotly.json")
    body = json.loads((Path(run.dir) / ref["path"]).read_text())
    assert body["data"][0]["y"] == [1.0, 4.0, 9.0]
    assert body["layout"]["title"]["text"] == "sq"
    with pytest.raises(UsageError, match="plotly Figure"):
        tracker.Plotly([1, 2])


def test_new_media_are_listed_as_media_and_round_trip_through_artifacts(root: Path, tmp_path: Path) -> None:
    pdb = tmp_path / "w.pdb"
    pdb.write_text(PDB)
    run, _summary = _logged(
        root, {"cloud": tracker.Object3D(np.ones((2, 3))), "mol": tracker.Molecule(str(pdb))}
    )
    entries = tracker.media.media_entries(run.dir)
    assert set(entries) == {"cloud", "mol"}
    art = tracker.Artifact("things", type="dataset")
    art.add(tracker.Molecule(str(pdb)), "water")
    art.add(tracker.Plotly(_Figure()), "chart")
    with tracker.init(project="media3d") as r2:
        r2.log_artifact(art).wait()
    fetched = tracker.Api(root).artifact("media3d/things:latest")
    names = {e.path for e in fetched.files()}
    assert {"water.molecule-file.json", "chart.plotly-file.json"} <= names
    mol = fetched.get("water")
    assert isinstance(mol, tracker.Molecule)
    assert isinstance(fetched.get("chart"), tracker.Plotly)
    assert fetched.get("chart").figure["data"][0]["x"] == [0, 1, 2]


def test_the_dashboard_serves_them_for_download(root: Path, tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")  # TestClient
    from fastapi.testclient import TestClient

    from tracker.server import create_app

    pdb = tmp_path / "w.pdb"
    pdb.write_text(PDB)
    run, _summary = _logged(
        root, {"mol": tracker.Molecule(str(pdb)), "cloud": tracker.Object3D(np.ones((2, 3)))}
    )
    base = f"/api/projects/media3d/runs/{run.id}/media"
    with TestClient(create_app(root, token=None), base_url="http://127.0.0.1") as client:
        steps = client.get(f"{base}/mol/steps").json()
        assert steps["steps"][0]["items"][0]["type"] == "molecule-file"
        assert client.get(f"{base}/mol/at/0/0").text == PDB
        assert json.loads(client.get(f"{base}/cloud/at/0/0").text) == [[1.0, 1.0, 1.0]] * 2
    static = Path(tracker.__file__).parent / "server" / "static" / "js" / "components" / "media.js"
    assert '"object3D-file", "molecule-file", "plotly-file"' in static.read_text()

"""``tracker.artifacts``: versioned, deduplicated datasets and models, with lineage.

:class:`Artifact` (also ``tracker.Artifact``) collects files and references; a run
logs it (``run.log_artifact(art, aliases=["best"])``), which stores each distinct
content once in a content-addressed blob store under the data root and registers a
version ``v0``, ``v1``, ... per project and name in the state store. Other runs use it
(``run.use_artifact("name:latest")``), it can be linked into a model registry
collection (``run.link_artifact(art, "model-registry/<collection>")``), and the read
side (``tracker.Api().artifact(...)``) follows lineage both ways. Importing this
package loads only the standard library.
"""

from __future__ import annotations

from tracker.artifacts._artifact import Artifact, ArtifactEntry

__all__ = ["Artifact", "ArtifactEntry"]

"""The public SemP release (jtheiner/semantic_geo_partitioning, ``semp_100_125_250.zip``).

The archive holds a PyTorch Lightning checkpoint ``base.ckpt`` (state_dict keys ``model.*`` for
the EfficientNet-B4 backbone in the efficientnet_pytorch layout and ``classifier.N.*`` for the heads,
coarse -> fine), the ``hparams.yaml`` it was trained with (``arch``, ``image_size`` and
``partitionings: {files, h_dict, shortnames, base_part_kwargs}``) and the partitioning
(``m_<n>.csv``) and class-mapping (``h_dict.json``) files. ``hparams.yaml`` names the files by
paths of the authors' machine, so they are looked up by file name anywhere inside the release.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..weights import geoxai_home


@dataclass
class SemPRelease:
    directory: Path
    checkpoint: Path
    arch: str
    image_size: int
    partition_files: list[Path]  # coarse -> fine
    h_dict: Path | None
    shortnames: list[str] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)  # read_public_partitioning column options


def open_release(path: str | os.PathLike) -> SemPRelease:
    """Describe a release given as the ``.zip``, its unpacked folder or its ``hparams.yaml``."""
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{path}: SemP release does not exist")
    if path.is_file() and zipfile.is_zipfile(path):
        path = unpack(path)
    if path.is_file() and path.suffix in (".yaml", ".yml"):
        path = path.parent
    if not path.is_dir():
        raise ValueError(f"{path}: not a SemP release (expected the .zip, its folder or hparams.yaml)")
    hparams_files = sorted(path.rglob("hparams.yaml"))
    if not hparams_files:
        raise FileNotFoundError(f"{path}: no hparams.yaml in the SemP release")
    hp_path = hparams_files[0]
    hp = read_hparams(hp_path)
    root = hp_path.parent
    ckpts = [root / "base.ckpt"] if (root / "base.ckpt").exists() else sorted(path.rglob("*.ckpt"))
    if len(ckpts) != 1:
        raise FileNotFoundError(f"{path}: expected one checkpoint (base.ckpt), found {len(ckpts)}")
    parts = hp.get("partitionings") or {}
    files = parts.get("files") or []
    if not files:
        raise ValueError(f"{hp_path}: 'partitionings.files' is empty")
    if parts.get("ptype", "semp") != "semp":
        raise ValueError(f"{hp_path}: partitioning type {parts.get('ptype')!r} is not semp")
    kw = parts.get("base_part_kwargs") or {}
    columns = {"index_col": kw.get("index_col", "class_index"),
               "col_class_label": kw.get("col_class_label", "class_label"),
               # the authors' config spells it 'col_latitute'
               "col_latitude": kw.get("col_latitute", kw.get("col_latitude", "latitude_mean")),
               "col_longitude": kw.get("col_longitude", "longitude_mean")}
    h_dict = _find(path, parts["h_dict"], hp_path) if len(files) > 1 and parts.get("h_dict") else None
    return SemPRelease(
        directory=root, checkpoint=ckpts[0], arch=str(hp.get("arch", "efficientnet-b4")),
        image_size=int(hp.get("image_size") or 224),
        partition_files=[_find(path, f, hp_path) for f in files], h_dict=h_dict,
        shortnames=list(parts.get("shortnames") or []), columns=columns,
    )


def read_hparams(path: Path) -> dict:
    """Lightning's hparams.yaml; python-object tags (argparse Namespace ...) read as plain data."""
    class Loader(yaml.SafeLoader):
        pass

    def plain(loader, suffix, node):
        if isinstance(node, yaml.MappingNode):
            return loader.construct_mapping(node, deep=True)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node, deep=True)
        return loader.construct_scalar(node)

    Loader.add_multi_constructor("tag:yaml.org,2002:python/", plain)
    Loader.add_multi_constructor("!", plain)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=Loader)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not readable YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: hparams.yaml is not a mapping")
    return data


def unpack(archive: Path) -> Path:
    """Extract a release once into ``$GEOXAI_HOME/releases/<name>-<size>`` and return that folder."""
    st = archive.stat()
    dest = geoxai_home() / "releases" / f"{archive.stem}-{st.st_size}"
    if dest.is_dir():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{archive.stem}-", dir=dest.parent))
    try:
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                target = (tmp / member).resolve()
                if not str(target).startswith(str(tmp.resolve()) + os.sep) and target != tmp.resolve():
                    raise ValueError(f"{archive}: unsafe path {member!r} in the archive")
            zf.extractall(tmp)
        try:
            os.replace(tmp, dest)
        except OSError:
            if not dest.is_dir():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # unpacked meanwhile by another process
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _find(root: Path, name: str, hp_path: Path) -> Path:
    base = Path(str(name)).name
    hits = sorted(root.rglob(base))
    if not hits:
        raise FileNotFoundError(f"{hp_path}: {base} (listed in hparams.yaml) is not in the release {root}; "
                                "pass the partition files with partitions=DIR")
    return hits[0]

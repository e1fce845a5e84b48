"""Reading the authors' public release archives (jtheiner/semantic_geo_partitioning, WACV'22).

``s2.zip`` and ``semp_100_125_250.zip`` each hold a PyTorch Lightning checkpoint ``base.ckpt``, the
``hparams.yaml`` it was trained with (backbone ``arch``, ``image_size``, ``partitionings`` with
``files``/``shortnames``/``ptype``/``base_part_kwargs``) and the partition / class-mapping files that
``hparams.yaml`` names with paths of the authors' machine. ``open_release`` accepts the zip or its
unpacked folder and finds every named file by its path inside the archive or, failing that, by its
file name anywhere in it.

    with open_release("s2.zip") as release:
        release.hparams["arch"], release.checkpoint, release.partition_files()
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from ..views import ViewConfig

DEFAULT_IMAGE_SIZE = 224
CHECKPOINT_NAMES = ("base.ckpt",)

#: limits a zip's directory is checked against before anything is read or extracted (a release
#: holds a checkpoint of a few hundred MB, an hparams.yaml of a few KB and small CSV files)
MAX_MEMBER_BYTES = 4 << 30
MAX_TOTAL_BYTES = 8 << 30
MAX_MEMBERS = 10_000
MAX_HPARAMS_BYTES = 1 << 20
#: a member over 1 MiB that expands more than this many times is taken for a zip bomb
#: (checkpoints barely compress; CSV files about 5x)
MAX_RATIO = 200


#: the public evaluation code resizes the short side to 320, and for crops below 250 px to 256 after
RELEASE_RESIZE, RELEASE_SMALL_RESIZE, RELEASE_SMALL_CROP = 320, 256, 250


def release_view(input_size: int) -> ViewConfig:
    """The releases' view for a crop of ``input_size``: five test-time crops after resizing the
    short side to 320 (and then 256 for crops below 250 px); the single view resizes once, to
    the last of those sizes."""
    resizes = (RELEASE_RESIZE, RELEASE_SMALL_RESIZE) if input_size < RELEASE_SMALL_CROP else (RELEASE_RESIZE,)
    return ViewConfig(input_size=input_size, resize_size=resizes[-1], test_time_resizes=resizes,
                      test_time_crops="five")


def release_view_sizes(input_size: int) -> tuple[int, tuple[int, ...]]:
    """(resize, test-time resizes) of ``release_view`` (kept for callers of the old name)."""
    view = release_view(input_size)
    return view.resize_size, view.test_time_resizes


def release_image_size(source: str | os.PathLike) -> int:
    """The crop size (``image_size``) a release archive or folder was trained with, read from its
    hparams.yaml alone: nothing is unpacked and no checkpoint is read."""
    source = Path(source).expanduser()
    if source.is_file() and source.suffix in (".yaml", ".yml"):
        source = source.parent
    if source.is_dir():
        found = [p for p in source.rglob("hparams.yaml") if "__MACOSX" not in p.parts]
        if len(found) != 1:
            raise ValueError(f"{source}: expected one hparams.yaml in the release, found {len(found)}")
        hparams = read_hparams(found[0])
    else:
        try:
            with zipfile.ZipFile(source) as zf:
                infos = [i for i in zf.infolist() if PurePosixPath(i.filename).name == "hparams.yaml"
                         and "__MACOSX" not in PurePosixPath(i.filename).parts]
                if len(infos) != 1:
                    raise ValueError(f"{source}: expected one hparams.yaml in the archive, found {len(infos)}")
                check_zip_limits(source, infos)
                where = f"{source}:{infos[0].filename}"
                hparams = parse_hparams(_utf8(zf.read(infos[0]), where), where)
        except (zipfile.BadZipFile, OSError) as exc:
            raise ValueError(f"{source}: unreadable zip archive ({exc})") from None
    return int(hparams.get("image_size") or DEFAULT_IMAGE_SIZE)


class _LenientLoader(yaml.SafeLoader):
    """safe_load that reads unknown python tags (``!!python/object:argparse.Namespace`` ...) as the
    plain mapping / list / scalar they wrap, without constructing any object."""


def _construct_plain(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


_LenientLoader.add_multi_constructor("tag:yaml.org,2002:python/", _construct_plain)
_LenientLoader.add_multi_constructor("!", _construct_plain)


def check_zip_limits(source: str | os.PathLike, infos: list[zipfile.ZipInfo]) -> None:
    """Refuse, with one line naming the zip and the member, an archive whose directory declares
    too many members, a member too large (or an hparams.yaml over ``MAX_HPARAMS_BYTES``), a
    member that expands like a zip bomb, or too many bytes in all. Extraction never writes more
    than the declared sizes (zipfile stops there and checks the CRC)."""
    if len(infos) > MAX_MEMBERS:
        raise ValueError(f"{source}: {len(infos):,} members; a release has at most {MAX_MEMBERS:,}")
    total = 0
    for info in infos:
        size, name = info.file_size, info.filename
        if PurePosixPath(name).name == "hparams.yaml" and size > MAX_HPARAMS_BYTES:
            raise ValueError(f"{source}: member {name} is {size:,} bytes; an hparams.yaml is at most "
                             f"{MAX_HPARAMS_BYTES:,}")
        if size > MAX_MEMBER_BYTES:
            raise ValueError(f"{source}: member {name} is {size:,} bytes; the limit is {MAX_MEMBER_BYTES:,}")
        if size > 1 << 20 and size > MAX_RATIO * max(info.compress_size, 1):
            raise ValueError(f"{source}: member {name} expands {size / max(info.compress_size, 1):,.0f}x "
                             f"(to {size:,} bytes); refused as a zip bomb (limit {MAX_RATIO}x)")
        total += size
    if total > MAX_TOTAL_BYTES:
        raise ValueError(f"{source}: {total:,} bytes unpacked; the limit is {MAX_TOTAL_BYTES:,}")


def _utf8(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{where}: not a UTF-8 text file") from None


def read_hparams(path: str | os.PathLike, where: str | None = None) -> dict[str, Any]:
    """The hyper-parameters of the hparams.yaml at ``path`` (``where`` names it in errors)."""
    path = Path(path)
    where = where or str(path)
    if path.stat().st_size > MAX_HPARAMS_BYTES:
        raise ValueError(f"{where}: {path.stat().st_size:,} bytes; an hparams.yaml is at most {MAX_HPARAMS_BYTES:,}")
    return parse_hparams(_utf8(path.read_bytes(), where), where)


def parse_hparams(text: str, where: str) -> dict[str, Any]:
    """The hyper-parameters of an hparams.yaml text (``where`` names it in errors)."""
    try:
        data = yaml.load(text, Loader=_LenientLoader)
    except yaml.YAMLError as exc:
        raise ValueError(f"{where}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping of hyper-parameters")
    # Lightning may nest the module's hparams (e.g. under "hparams" or "model_params")
    for key in ("hparams", "model_params"):
        if "arch" not in data and isinstance(data.get(key), dict):
            data = data[key]
    return data


@dataclass
class Release:
    """An opened release: ``root`` is the unpacked folder (a temporary one for a zip)."""

    source: Path
    root: Path
    hparams: dict[str, Any]
    checkpoint: Path
    _index: dict[str, list[Path]] = field(default_factory=dict, repr=False)

    @property
    def arch(self) -> str:
        if "arch" not in self.hparams:
            raise ValueError(f"{self.source}: hparams.yaml names no backbone 'arch'")
        return str(self.hparams["arch"])

    @property
    def image_size(self) -> int:
        return int(self.hparams.get("image_size") or DEFAULT_IMAGE_SIZE)

    @property
    def partitioning(self) -> dict[str, Any]:
        part = self.hparams.get("partitionings")
        if not isinstance(part, dict) or not part.get("files"):
            raise ValueError(f"{self.source}: hparams.yaml has no partitionings.files")
        return part

    def shortnames(self) -> list[str]:
        files = self.partitioning["files"]
        names = self.partitioning.get("shortnames") or [Path(str(f)).stem for f in files]
        return [str(n) for n in names]

    def find(self, name: str) -> Path:
        """A file the hparams name: by its path relative to the archive, else by its file name."""
        rel = PurePosixPath(str(name).replace("\\", "/"))
        parts = [p for p in rel.parts if p not in ("..", ".", "/")]
        for start in range(len(parts)):
            candidate = self.root.joinpath(*parts[start:])
            if candidate.is_file():
                return candidate
        hits = self._index.get(rel.name, [])
        if len(hits) == 1:
            return hits[0]
        why = "no file" if not hits else f"{len(hits)} files"
        raise FileNotFoundError(f"{self.source}: {why} named {rel.name!r} in the archive (hparams.yaml names {name!r})")

    def partition_files(self) -> list[Path]:
        return [self.find(str(f)) for f in self.partitioning["files"]]


def _index_files(root: Path) -> dict[str, list[Path]]:
    index: dict[str, list[Path]] = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and "__MACOSX" not in p.parts:
            index.setdefault(p.name, []).append(p)
    return index


def is_release(path: str | os.PathLike) -> bool:
    """True for a zip file or a folder holding an ``hparams.yaml`` (a release archive). A torch
    checkpoint is a zip too, but never holds an hparams.yaml."""
    path = Path(path)
    if path.is_dir():
        return any(path.rglob("hparams.yaml"))
    if not (path.is_file() and zipfile.is_zipfile(path)):
        return False
    try:
        with zipfile.ZipFile(path) as zf:
            return any(PurePosixPath(n).name == "hparams.yaml" for n in zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


@contextlib.contextmanager
def open_release(source: str | os.PathLike) -> Iterator[Release]:
    """Open a release zip or folder; a zip is unpacked into a temporary folder for the duration."""
    source = Path(source).expanduser()
    if not source.exists():
        raise FileNotFoundError(f"{source}: release archive does not exist")
    with contextlib.ExitStack() as stack:
        if source.is_dir():
            root = source
        else:
            if not zipfile.is_zipfile(source):
                raise ValueError(f"{source}: not a zip archive or folder")
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="geoxai-release-")))
            _extract(source, root)
        index = _index_files(root)
        hparams_files = index.get("hparams.yaml", [])
        if len(hparams_files) != 1:
            raise ValueError(f"{source}: expected one hparams.yaml in the archive, found {len(hparams_files)}")
        ckpts = [p for n in CHECKPOINT_NAMES for p in index.get(n, [])] or \
            [p for name, ps in index.items() if name.endswith(".ckpt") for p in ps]
        if len(ckpts) != 1:
            raise ValueError(f"{source}: expected one checkpoint (base.ckpt) in the archive, found {len(ckpts)}")
        hparams_name = hparams_files[0].relative_to(root).as_posix()
        release = Release(source=source, root=root, hparams=read_hparams(hparams_files[0], f"{source}:{hparams_name}"),
                          checkpoint=ckpts[0], _index=index)
        if root == source:
            yield release
            return
        try:
            yield release
        except (ValueError, FileNotFoundError) as exc:
            # a member's error (a refused checkpoint, a bad partition file) names the zip and the
            # member, not the temporary folder that is about to be deleted
            text = str(exc.args[0]) if exc.args else str(exc)
            if str(root) in text:
                raise type(exc)(text.replace(f"{root}{os.sep}", f"{source}:").replace(str(root), str(source))) from None
            raise


def _extract(source: Path, root: Path) -> None:
    """Unpack the zip ``source`` into ``root`` after checking its directory against the limits;
    errors name the zip and the member, never the temporary folder."""
    try:
        with zipfile.ZipFile(source) as zf:
            infos = zf.infolist()
            check_zip_limits(source, infos)
            for info in infos:
                try:
                    zf.extract(info, root)  # ZipFile sanitises absolute and '..' member names
                except (zipfile.BadZipFile, OSError, EOFError) as exc:
                    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                    raise ValueError(f"{source}: member {info.filename}: cannot unpack ({reason})") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(f"{source}: unreadable zip archive ({exc})") from None

"""Checkpointing that survives a kill at any moment.

``AtomicCheckpointer`` is SpeechBrain's ``Checkpointer`` with one change of
order: SpeechBrain writes a checkpoint's ``CKPT.yaml`` first and the parameter
files after, so a job killed while saving leaves a folder that looks complete
and breaks the next resumption (``KeyError`` on the missing files). Here the
meta file is written under a temporary name and renamed last (an atomic
rename), and deletion removes it first; a torn folder is never taken for a
checkpoint, and is cleaned up at the next save.

``RNGState`` checkpoints the random generators, so that a resumed run draws
the same augmentations and dropout masks as an uninterrupted one.

Authors
 * dpda contributors 2026
"""

import logging
import os
import pathlib
import random
import shutil

import numpy as np
import torch
from speechbrain.utils.checkpoints import (
    CKPT_PREFIX,
    METAFNAME,
    Checkpointer,
    mark_as_loader,
    mark_as_saver,
    register_checkpoint_hooks,
)
from speechbrain.utils.distributed import if_main_process

logger = logging.getLogger(__name__)

PARTIAL_SUFFIX = ".partial"


class AtomicCheckpointer(Checkpointer):
    """A ``Checkpointer`` whose checkpoints appear whole or not at all.

    Takes the same arguments as
    :class:`speechbrain.utils.checkpoints.Checkpointer`.

    Example
    -------
    >>> import tempfile
    >>> model = torch.nn.Linear(2, 1)
    >>> ckpt = AtomicCheckpointer(tempfile.mkdtemp(), {"model": model})
    >>> saved = ckpt.save_checkpoint(meta={"loss": 1.0})
    >>> sorted(p.name for p in saved.path.iterdir())
    ['CKPT.yaml', 'model.ckpt']
    """

    def save_checkpoint(
        self, meta=None, end_of_epoch=True, name=None, verbosity=logging.INFO
    ):
        """Save a checkpoint; its meta file is renamed into place last."""
        meta = {} if meta is None else meta
        if if_main_process():
            self._remove_torn_checkpoints()
        checkpoint = super().save_checkpoint(
            meta=meta, end_of_epoch=end_of_epoch, name=name, verbosity=verbosity
        )
        if checkpoint is not None:
            partial = checkpoint.path / (METAFNAME + PARTIAL_SUFFIX)
            os.replace(partial, checkpoint.path / METAFNAME)
        return checkpoint

    def _save_checkpoint_metafile(self, fpath, meta_to_include={}, end_of_epoch=True):  # noqa: B006
        partial = pathlib.Path(str(fpath) + PARTIAL_SUFFIX)
        return super()._save_checkpoint_metafile(partial, meta_to_include, end_of_epoch)

    @staticmethod
    def _delete_checkpoint(checkpoint, verbosity=logging.INFO):
        # Unmark first: a kill during rmtree must not leave a folder that
        # still looks like a checkpoint.
        os.remove(pathlib.Path(checkpoint.path) / METAFNAME)
        shutil.rmtree(checkpoint.path)
        logger.log(verbosity, f"Deleted checkpoint in {checkpoint.path}")

    def _remove_torn_checkpoints(self):
        if not self.checkpoints_dir.is_dir():
            return
        for path in self.checkpoints_dir.iterdir():
            if (
                path.is_dir()
                and path.name.startswith(CKPT_PREFIX)
                and not (path / METAFNAME).exists()
            ):
                logger.warning("Removing an incomplete checkpoint: %s", path)
                shutil.rmtree(path, ignore_errors=True)


@register_checkpoint_hooks
class RNGState:
    """Checkpoints the random generators, for bitwise-identical resumption.

    Saves the torch (CPU and CUDA), NumPy and Python generators. An
    end-of-epoch state is restored at once; an intra-epoch state is restored
    just before the next training batch (``apply_pending``), because creating
    the resumed epoch's data-loader iterator draws from the generator, which
    the interrupted run did before saving.

    Example
    -------
    >>> import tempfile, pathlib
    >>> rng = RNGState()
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "rng.ckpt"
    >>> rng.save(path)
    >>> a = torch.rand(3)
    >>> rng.load(path, end_of_epoch=False)
    >>> rng.apply_pending()
    >>> bool((torch.rand(3) == a).all())
    True
    """

    def __init__(self):
        self.pending = None

    @staticmethod
    def _capture():
        state = {
            "torch": torch.get_rng_state(),
            "python": list(_listify(random.getstate())),
            "numpy": _listify(np.random.get_state()),
        }
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    @staticmethod
    def _restore(state):
        torch.set_rng_state(state["torch"])
        random.setstate(_tuplify(state["python"]))
        kind, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state(
            (kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached)
        )
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])

    @mark_as_saver
    def save(self, path):
        """Save the generators' states (tensors and lists only)."""
        torch.save(self._capture(), path)

    @mark_as_loader
    def load(self, path, end_of_epoch=True):
        """Load the states; restore now or before the next batch."""
        state = torch.load(path, weights_only=True)
        if end_of_epoch:
            self._restore(state)
        else:
            self.pending = state

    def apply_pending(self):
        """Restore an intra-epoch state loaded by ``load``, once."""
        if self.pending is not None:
            self._restore(self.pending)
            self.pending = None


def _listify(obj):
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (tuple, list)):
        return [_listify(o) for o in obj]
    return obj


def _tuplify(obj):
    if isinstance(obj, list):
        return tuple(_tuplify(o) for o in obj)
    return obj

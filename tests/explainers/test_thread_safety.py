"""One explainer instance serves several threads: nothing of a call is kept on the explainer
(``explain_with_info`` returns the per-image info instead of a ``last_info`` attribute)."""
import copy
import threading

import pytest
import torch

import geoxai
from geoxai.types import ImageBatch

FAST = {
    "ig-smoothgrad": {"n_steps": 3, "n_samples": 2},
    "gradcam": {},
    "combicam": {},
    "lrp": {},
}


@pytest.mark.parametrize("name", sorted(FAST))
def test_two_threads_on_one_explainer_give_the_sequential_results(name, tiny_model, tiny_batch):
    explainer = geoxai.load_explainer(name, **FAST[name])
    # float64, and one model per thread (a model holds hooks and flags while it is explained;
    # the explainer is what is shared)
    models = [copy.deepcopy(tiny_model).double() for _ in range(2)]
    batches = [ImageBatch(tiny_batch.pixels[:2], tiny_batch.ids[:2]),
               ImageBatch(tiny_batch.pixels[2:].flip(-1), tiny_batch.ids[2:])]
    targets = [None, "cell:1"]
    sequential = [explainer.explain_with_info(m, b, t) for m, b, t in zip(models, batches, targets)]

    start = threading.Barrier(2)
    results: list = [None, None]
    errors: list = []

    def work(i: int) -> None:
        try:
            start.wait()
            for _ in range(3):  # several calls each, so the two threads' calls overlap
                results[i] = explainer.explain_with_info(models[i], batches[i], targets[i])
        except Exception as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for alone, threaded in zip(sequential, results):
        assert alone.maps.dtype == torch.float64
        assert torch.equal(alone.maps, threaded.maps)
        assert alone.info == threaded.info
        assert (alone.logits is None) == (threaded.logits is None)
        if alone.logits is not None:
            assert torch.equal(alone.logits, threaded.logits)
    assert not hasattr(explainer, "last_info")
    if name == "ig-smoothgrad":
        assert sequential[0].info is not None and len(sequential[0].info) == 2
        assert sequential[0].logits is not None and sequential[0].logits.shape[0] == 2

"""IO binding for a session on a device: inputs staged once per chunk, outputs left there.

With the CUDA provider, ``session.run(feeds)`` copies every input to the GPU and every
output back on each call. :func:`bound_call` instead copies each chunk's inputs to the
device once as ``OrtValue`` s (``OrtValue.ortvalue_from_numpy(x, "cuda", id)``), binds
the output to device memory, and copies it to the host only when the caller reads it
(``OrtValue.numpy()``). The same code runs with ``device="cpu"`` (tests on machines
without a GPU exercise it that way).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import onnxruntime as ort

__all__ = ["bound_call"]


def bound_call(session: Any, feeds: Mapping[str, np.ndarray], output: str, *, device: str = "cuda",
               device_id: int = 0) -> Callable[[Any], np.ndarray]:
    """A ``call(run_options) -> output array`` running ``session`` through an IO binding.

    Parameters
    ----------
    session: an ``onnxruntime.InferenceSession``.
    feeds: input name -> host array (one chunk of rows, batch first).
    output: the output to return, ``(m, ...)``.
    device: ``"cuda"`` or ``"cpu"``: where inputs are staged and the output is kept.
    """
    binding = session.io_binding()
    staged = {name: ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(value), device, device_id)
              for name, value in feeds.items()}
    for name, value in staged.items():
        binding.bind_ortvalue_input(name, value)
    binding.bind_output(output, device, device_id)

    def call(options: Any) -> np.ndarray:
        session.run_with_iobinding(binding, options)
        _ = staged  # the device copies live as long as the call
        return binding.get_outputs()[0].numpy()  # the one copy to the host

    return call

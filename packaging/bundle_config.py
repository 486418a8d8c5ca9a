"""What goes into the standalone bundle, read by ``anatomark.spec`` and by the tests.

Kept apart from the spec so ``tests/core/test_packaging.py`` can check it without
PyInstaller: nothing the product imports may be excluded.
"""

from __future__ import annotations

#: Distributions whose ``dist-info`` must travel: pylibjpeg finds its JPEG, JPEG-LS and
#: JPEG 2000 decoders (native extensions ``libjpeg`` and ``openjpeg``) through their entry
#: points, and pydicom checks the plugins' versions before it uses them.
METADATA = ("pydicom", "pylibjpeg", "pylibjpeg-libjpeg", "pylibjpeg-openjpeg")

#: Imported only by name at run time (entry points, the pixel-decoder registry).
HIDDEN_IMPORTS = (
    "libjpeg",
    "openjpeg",
    "pylibjpeg",
    "pylibjpeg.utils",
    "pydicom.pixels.decoders.pylibjpeg",
)

#: Packages whose data files are needed: qtawesome's icon fonts and charmaps.
DATA_PACKAGES = ("qtawesome",)

#: Top-level packages left out: test tools, other Qt bindings, notebooks, plotting and
#: libraries installed alongside (declared dependencies included) that neither ``core``
#: nor ``app`` imports. The tests fail when the product starts importing one.
EXCLUDES = (
    "tkinter", "_tkinter", "turtle", "idlelib", "pydoc_data",
    "pytest", "_pytest", "pytestqt", "hypothesis",
    "PyQt5", "PyQt6", "PySide2",
    "IPython", "ipykernel", "jupyter_client", "notebook", "matplotlib",
    "skimage", "pandas", "sklearn", "numba", "cupy",
    "tensorboard", "triton", "onnx", "onnxruntime",
)

#: Submodules of needed packages left out (pyqtgraph's examples and OpenGL views,
#: PyTorch's TensorBoard writer). Not ``torch.testing._internal``: ``import torch`` needs
#: part of it (``torch.utils.checkpoint`` imports its logging tensor).
EXCLUDE_SUBMODULES = (
    "pyqtgraph.examples", "pyqtgraph.opengl", "pyqtgraph.jupyter",
    "torch.utils.tensorboard",
)

#: The Qt platform plugins a Linux bundle needs: a desktop (xcb, wayland) and headless runs.
QT_PLATFORMS = ("xcb", "wayland", "offscreen", "minimal")

#: Files collected by the packages' own hooks and dropped from the bundle (paths inside it):
#: PyTorch's C++ test programs and protoc (~130 MB), Qt's translations of its own dialogs
#: (the app is in English). ``KEEP`` overrides: ``import torch`` checks its shared-memory
#: manager exists.
DROP_PREFIXES = ("torch/test/", "torch/bin/", "PySide6/Qt/translations/")
KEEP = ("torch/bin/torch_shm_manager",)

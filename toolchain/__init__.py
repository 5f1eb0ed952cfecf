"""tlmc: the tiny-language-model compiler.

Library first: every CLI command is a thin wrapper over a function in this package, so the
same steps can be scripted (`from toolchain.core import project; p = project.Project.load(".")`).
TensorFlow is imported only inside the stages that train or convert.
"""

__version__ = "0.1.0"

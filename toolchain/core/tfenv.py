"""Import TensorFlow quietly and deterministically, only where a stage needs it."""

import os


def tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # oneDNN reorders float sums between runs; off, training is repeatable bit for bit.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    try:
        import tensorflow as tf_mod
    except ImportError:
        from .errors import UsageError

        raise UsageError("TensorFlow is not installed; install the training extra: pip install -e '.[train]'") from None
    tf_mod.get_logger().setLevel("ERROR")
    return tf_mod

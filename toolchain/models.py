"""Architecture registry.

An architecture knows how to (1) build a trainable Keras model over windows of token ids,
(2) pull its weights out as named numpy arrays, (3) write a single-step inference graph as a
plain tf.function over constant weights (the export the int8 converter and TFLM accept), and
(4) count its parameters and multiply-accumulates per token. New architectures (GRU, causal
conv, attention) register here and the rest of the pipeline follows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .tfenv import tf as _tf


@dataclass(frozen=True)
class Arch:
    name: str
    build: Callable[[dict, int], Any]  # (model cfg, vocab) -> keras.Model: [B, K] int32 -> [B, V] logits
    weights: Callable[[Any], dict[str, np.ndarray]]  # keras model -> named arrays
    step_fn: Callable[[dict[str, np.ndarray], dict], Any]  # (weights, model cfg) -> tf.function [1, K] -> [1, V]
    count: Callable[[dict[str, np.ndarray], dict], tuple[int, int]]  # -> (params, MACs per token)
    shapes: Callable[[dict, int], dict[str, tuple[int, ...]]]  # (model cfg, vocab) -> weight shapes

    def estimate(self, m: dict, vocab: int) -> tuple[int, int]:
        """(params, MACs per token) from the config alone, before training."""
        return self.count({k: np.empty(s, np.int8) for k, s in self.shapes(m, vocab).items()}, m)


# ---------------------------------------------------------------------------------------------
# mlp: last K tokens -> embedding -> flatten -> (Dense + ReLU) x n -> Dense(vocab)

def _mlp_build(m: dict, vocab: int):
    tf = _tf()
    keras = tf.keras
    k, e = m["context"], m["embed"]
    ids = keras.Input(shape=(k,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(vocab, e, name="embedding",
                               embeddings_initializer=keras.initializers.RandomNormal(stddev=0.5))(ids)
    x = keras.layers.Reshape((k * e,), name="flatten")(x)
    for i, h in enumerate(m["hidden"]):
        x = keras.layers.Dense(h, activation="relu", name=f"hidden{i}")(x)
    out = keras.layers.Dense(vocab, name="logits")(x)
    return keras.Model(ids, out, name="mlp")


def _mlp_weights(model) -> dict[str, np.ndarray]:
    w = {"embedding": model.get_layer("embedding").get_weights()[0]}
    i = 0
    while True:
        try:
            layer = model.get_layer(f"hidden{i}")
        except ValueError:
            break
        w[f"hidden{i}/kernel"], w[f"hidden{i}/bias"] = layer.get_weights()
        i += 1
    w["logits/kernel"], w["logits/bias"] = model.get_layer("logits").get_weights()
    return {k: np.asarray(v, np.float32) for k, v in w.items()}


def _mlp_step(w: dict[str, np.ndarray], m: dict):
    tf = _tf()
    k = m["context"]
    e = w["embedding"].shape[1]
    emb = tf.constant(w["embedding"])
    layers = []
    i = 0
    while f"hidden{i}/kernel" in w:
        layers.append((tf.constant(w[f"hidden{i}/kernel"]), tf.constant(w[f"hidden{i}/bias"]), True))
        i += 1
    layers.append((tf.constant(w["logits/kernel"]), tf.constant(w["logits/bias"]), False))

    @tf.function(input_signature=[tf.TensorSpec([1, k], tf.int32, name="tokens")])
    def step(tokens):
        # A plain gather: Keras' Embedding lowers to LESS/SELECT, which TFLM cannot run.
        x = tf.reshape(tf.gather(emb, tokens), [1, k * e])
        for kern, bias, relu in layers:
            x = tf.matmul(x, kern) + bias
            if relu:
                x = tf.nn.relu(x)
        return {"logits": x}

    return step


def _mlp_count(w: dict[str, np.ndarray], m: dict) -> tuple[int, int]:
    params = sum(int(v.size) for v in w.values())
    macs = sum(int(v.size) for k, v in w.items() if k.endswith("/kernel"))
    return params, macs


def _mlp_shapes(m: dict, vocab: int) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {"embedding": (vocab, m["embed"])}
    width = m["context"] * m["embed"]
    for i, h in enumerate(m["hidden"]):
        shapes[f"hidden{i}/kernel"], shapes[f"hidden{i}/bias"] = (width, h), (h,)
        width = h
    shapes["logits/kernel"], shapes["logits/bias"] = (width, vocab), (vocab,)
    return shapes


ARCHS: dict[str, Arch] = {
    "mlp": Arch("mlp", _mlp_build, _mlp_weights, _mlp_step, _mlp_count, _mlp_shapes),
}


def get(name: str) -> Arch:
    return ARCHS[name]

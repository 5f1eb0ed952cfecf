"""Architecture registry.

An architecture knows how to (1) build a trainable Keras model over windows of token ids,
(2) pull its weights out as named numpy arrays, (3) write a single-step inference graph as a
plain tf.function over constant weights (the export the int8 converter and TFLM accept), and
(4) count its parameters and multiply-accumulates per token. New architectures (GRU, causal
conv, attention) register here and the rest of the pipeline follows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ..core.tfenv import tf as _tf


@dataclass(frozen=True)
class Arch:
    """`kind` "window": the model reads the last K ids ([B, K] -> [B, V] logits) and keeps no
    state. `kind` "step": trained as a sequence model ([B, T] -> [B, T, V]) and exported as a
    step model with explicit state tensors (docs/state.md); `states(m)` lists them as
    (name, width, delay)."""

    name: str
    build: Callable[[dict, int], Any]  # (model cfg, vocab) -> keras.Model
    weights: Callable[[Any], dict[str, np.ndarray]]  # keras model -> named arrays
    step_fn: Callable[..., Any]  # (weights, model cfg, batch=1) -> tf.function; batch None: any rows
    count: Callable[[dict[str, np.ndarray], dict], tuple[int, int]]  # -> (params, MACs per token)
    shapes: Callable[[dict, int], dict[str, tuple[int, ...]]]  # (model cfg, vocab) -> weight shapes
    kind: str = "window"  # core.config.WINDOW_ARCHS lists the window archs for the data stage
    states: Callable[[dict], list[tuple[str, int, int]]] = lambda m: []
    deployable: bool = True  # False: a float teacher only (no int8 export)

    def estimate(self, m: dict, vocab: int) -> tuple[int, int]:
        """(params, MACs per token) from the config alone, before training."""
        return self.count({k: np.empty(s, np.int8) for k, s in self.shapes(m, vocab).items()}, m)


# ---------------------------------------------------------------------------------------------
# What every arch shares: embedding -> layers `<prefix>0..n` (one per width in m["hidden"]) ->
# Dense(vocab) "logits". Weights are named `<prefix><i>/<part>`; the step models (docs/state.md)
# share one frame: token and states in, {"a_logits", "s00", "s01", ...} out.

def _layered_shapes(m: dict, vocab: int, prefix: str, layer: Callable[[int, int], dict], width: int) -> dict:
    """Weight shapes: embedding, `layer(input width, layer width)`'s parts per layer, logits."""
    shapes: dict[str, tuple[int, ...]] = {"embedding": (vocab, m["embed"])}
    for i, h in enumerate(m["hidden"]):
        shapes.update((f"{prefix}{i}/{part}", s) for part, s in layer(width, h).items())
        width = h
    shapes["logits/kernel"], shapes["logits/bias"] = (width, vocab), (vocab,)
    return shapes


def _layered_weights(model, prefix: str, parts: Sequence[str], split=lambda ws: ws) -> dict[str, np.ndarray]:
    """embedding, `<prefix>0..n/<part>` (each layer's get_weights(), `split` into `parts`) and
    logits, by name."""
    w = {"embedding": model.get_layer("embedding").get_weights()[0]}
    i = 0
    while True:
        try:
            layer = model.get_layer(f"{prefix}{i}")
        except ValueError:
            break
        w.update((f"{prefix}{i}/{part}", v) for part, v in zip(parts, split(layer.get_weights()), strict=True))
        i += 1
    w["logits/kernel"], w["logits/bias"] = model.get_layer("logits").get_weights()
    return {k: np.asarray(v, np.float32) for k, v in w.items()}


def _n_layers(w: dict[str, np.ndarray], prefix: str) -> int:
    n = 0
    while f"{prefix}{n}/bias" in w:
        n += 1
    return n


def _sequence_build(m: dict, vocab: int, name: str, layer: Callable[..., Any]):
    """[B, T] ids -> [B, T, V] logits; `layer(keras, i, width, x)` applies layer i."""
    keras = _tf().keras
    ids = keras.Input(shape=(None,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(vocab, m["embed"], name="embedding")(ids)
    for i, h in enumerate(m["hidden"]):
        x = layer(keras, i, h, x)
    out = keras.layers.Dense(vocab, name="logits")(x)
    return keras.Model(ids, out, name=name)


def _state_step(w: dict[str, np.ndarray], batch: int | None, states: list[tuple[str, int]], layers: Callable):
    """A step graph: `token` [batch, 1] and the (name, width) state inputs in; the embedding
    row through `layers(x, states) -> (x, new states)`; state i's new value out as "s<i>", the
    logits as "a_logits" (the converter orders outputs by key)."""
    tf = _tf()
    emb = tf.constant(w["embedding"])
    e = w["embedding"].shape[1]
    specs = [tf.TensorSpec([batch, 1], tf.int32, name="token")]
    specs += [tf.TensorSpec([batch, width], tf.float32, name=name) for name, width in states]
    wo, bo = tf.constant(w["logits/kernel"]), tf.constant(w["logits/bias"])
    rows = batch or -1

    @tf.function(input_signature=specs)
    def step(token, *state):
        x, new = layers(tf.reshape(tf.gather(emb, token), [rows, e]), state)
        out = {f"s{i:02d}": v for i, v in enumerate(new)}
        out["a_logits"] = tf.matmul(x, wo) + bo
        return out

    return step


def _matmul_count(w: dict[str, np.ndarray], m: dict) -> tuple[int, int]:
    params = sum(int(v.size) for k, v in w.items())
    macs = sum(int(v.size) for k, v in w.items() if k.endswith(("/kernel", "/recurrent", "/tap", "/now")))
    return params, macs


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
    return _layered_weights(model, "hidden", ("kernel", "bias"))


def _mlp_step(w: dict[str, np.ndarray], m: dict, batch: int | None = 1):
    tf = _tf()
    k = m["context"]
    e = w["embedding"].shape[1]
    emb = tf.constant(w["embedding"])
    layers = [(tf.constant(w[f"hidden{i}/kernel"]), tf.constant(w[f"hidden{i}/bias"]), True)
              for i in range(_n_layers(w, "hidden"))]
    layers.append((tf.constant(w["logits/kernel"]), tf.constant(w["logits/bias"]), False))

    rows = batch or -1

    @tf.function(input_signature=[tf.TensorSpec([batch, k], tf.int32, name="tokens")])
    def step(tokens):
        # A plain gather: Keras' Embedding lowers to LESS/SELECT, which TFLM cannot run.
        x = tf.reshape(tf.gather(emb, tokens), [rows, k * e])
        for kern, bias, relu in layers:
            x = tf.matmul(x, kern) + bias
            if relu:
                x = tf.nn.relu(x)
        return {"logits": x}

    return step


def _mlp_shapes(m: dict, vocab: int) -> dict[str, tuple[int, ...]]:
    return _layered_shapes(m, vocab, "hidden", lambda i, h: {"kernel": (i, h), "bias": (h,)},
                           m["context"] * m["embed"])


# ---------------------------------------------------------------------------------------------
# gru: embedding -> GRU layers (hidden = widths) -> Dense(vocab). Keras' GRU with reset_after:
#   z = sigmoid(x Wz + bz + h Uz + cz)   r = sigmoid(x Wr + br + h Ur + cr)
#   n = tanh(x Wn + bn + r * (h Un + cn))   h' = n + z * (h - n)
# The step graph uses one FULLY_CONNECTED per gate and input (no STRIDED_SLICE), state h per layer.

_RECURRENT = ("kernel", "recurrent", "bias")


def _gru_build(m: dict, vocab: int):
    return _sequence_build(m, vocab, "gru", lambda keras, i, h, x: keras.layers.GRU(
        h, return_sequences=True, reset_after=True, name=f"gru{i}")(x))


def _gru_weights(model) -> dict[str, np.ndarray]:
    return _layered_weights(model, "gru", _RECURRENT)


def _gru_step(w: dict[str, np.ndarray], m: dict, batch: int | None = 1):
    tf = _tf()
    widths = [w[f"gru{i}/recurrent"].shape[0] for i in range(_n_layers(w, "gru"))]
    layers = []
    for i, h in enumerate(widths):
        k, u, b = (w[f"gru{i}/{part}"] for part in _RECURRENT)
        gates = {}
        for g, name in enumerate(("z", "r", "n")):
            sl = slice(g * h, (g + 1) * h)
            gates[name] = (tf.constant(k[:, sl]), tf.constant(b[0, sl]), tf.constant(u[:, sl]), tf.constant(b[1, sl]))
        layers.append(gates)

    def fc(v, kern, bias):
        return tf.matmul(v, kern) + bias

    def cells(x, hs):
        new = []
        for g, h in zip(layers, hs):
            z = tf.sigmoid(fc(x, g["z"][0], g["z"][1]) + fc(h, g["z"][2], g["z"][3]))
            r = tf.sigmoid(fc(x, g["r"][0], g["r"][1]) + fc(h, g["r"][2], g["r"][3]))
            n = tf.tanh(fc(x, g["n"][0], g["n"][1]) + r * fc(h, g["n"][2], g["n"][3]))
            x = n + z * (h - n)
            new.append(x)
        return x, new

    return _state_step(w, batch, [(f"h{i}", h) for i, h in enumerate(widths)], cells)


def _gru_states(m: dict) -> list[tuple[str, int, int]]:
    return [(f"h{i}", h, 1) for i, h in enumerate(m["hidden"])]


def _gru_shapes(m: dict, vocab: int) -> dict[str, tuple[int, ...]]:
    return _layered_shapes(m, vocab, "gru", lambda i, h: dict(zip(_RECURRENT, ((i, 3 * h), (h, 3 * h), (2, 3 * h)))),
                           m["embed"])


# ---------------------------------------------------------------------------------------------
# conv: embedding -> causal Conv1D layers (kernel 2, dilation 1, 2, 4, ...; ReLU; residual when
# widths match) -> Dense(vocab). Layer l: y[t] = relu(W_tap x[t - d] + W_now x[t] + b). The step
# model reads x_l[t - d_l] as a state input (a ring of d_l entries the runtime owns) and writes
# x_l[t] as the matching state output.

def _conv_dilations(m: dict) -> list[int]:
    return [2 ** i for i in range(len(m["hidden"]))]


def _conv_build(m: dict, vocab: int):
    dilations = _conv_dilations(m)

    def layer(keras, i, c, x):
        y = keras.layers.Conv1D(c, 2, dilation_rate=dilations[i], padding="causal", activation="relu",
                                name=f"conv{i}")(x)
        return keras.layers.Add(name=f"res{i}")([x, y]) if c == x.shape[-1] else y

    return _sequence_build(m, vocab, "conv", layer)


def _conv_weights(model) -> dict[str, np.ndarray]:
    # kernel [2, in, out]: [0] reads x[t - d], [1] reads x[t]
    return _layered_weights(model, "conv", ("tap", "now", "bias"), lambda kb: (kb[0][0], kb[0][1], kb[1]))


def _conv_step(w: dict[str, np.ndarray], m: dict, batch: int | None = 1):
    tf = _tf()
    layers = [(tf.constant(w[f"conv{i}/tap"]), tf.constant(w[f"conv{i}/now"]), tf.constant(w[f"conv{i}/bias"]),
               w[f"conv{i}/tap"].shape[0]) for i in range(_n_layers(w, "conv"))]

    def cells(x, taps):
        new = []
        for (k_tap, k_now, b, width), tap in zip(layers, taps):
            new.append(x)  # this layer's input now: read back d_j steps later as tap j
            y = tf.nn.relu(tf.matmul(tap, k_tap) + tf.matmul(x, k_now) + b)
            x = x + y if y.shape[-1] == width else y
        return x, new

    return _state_step(w, batch, [(f"tap{j}", width) for j, (*_, width) in enumerate(layers)], cells)


def _conv_states(m: dict) -> list[tuple[str, int, int]]:
    widths = [m["embed"]] + list(m["hidden"][:-1])
    return [(f"tap{i}", wdt, d) for i, (wdt, d) in enumerate(zip(widths, _conv_dilations(m)))]


def _conv_shapes(m: dict, vocab: int) -> dict[str, tuple[int, ...]]:
    return _layered_shapes(m, vocab, "conv", lambda i, c: {"tap": (i, c), "now": (i, c), "bias": (c,)}, m["embed"])


# ---------------------------------------------------------------------------------------------
# lstm (teacher only, never deployed): embedding -> LSTM layers -> Dense(vocab). Keras' gate
# order i, f, c, o:  c' = f * c + i * tanh(x Wc + h Uc + bc),  h' = o * tanh(c').

def _lstm_build(m: dict, vocab: int):
    return _sequence_build(m, vocab, "lstm", lambda keras, i, h, x: keras.layers.LSTM(
        h, return_sequences=True, name=f"lstm{i}")(x))


def _lstm_weights(model) -> dict[str, np.ndarray]:
    return _layered_weights(model, "lstm", _RECURRENT)


def _lstm_step(w: dict[str, np.ndarray], m: dict, batch: int | None = 1):
    tf = _tf()
    n = _n_layers(w, "lstm")
    layers = [tuple(tf.constant(w[f"lstm{i}/{part}"]) for part in _RECURRENT) for i in range(n)]
    widths = [w[f"lstm{i}/recurrent"].shape[0] for i in range(n)]

    def cells(x, hc):
        new = []
        for i, (k, u, b) in enumerate(layers):
            h, c = hc[2 * i], hc[2 * i + 1]
            gi, gf, gc, go = tf.split(tf.matmul(x, k) + tf.matmul(h, u) + b, 4, axis=-1)
            c = tf.sigmoid(gf) * c + tf.sigmoid(gi) * tf.tanh(gc)
            x = tf.sigmoid(go) * tf.tanh(c)
            new += [x, c]
        return x, new

    return _state_step(w, batch, [s for i, h in enumerate(widths) for s in ((f"h{i}", h), (f"c{i}", h))], cells)


def _lstm_states(m: dict) -> list[tuple[str, int, int]]:
    return [s for i, h in enumerate(m["hidden"]) for s in ((f"h{i}", h, 1), (f"c{i}", h, 1))]


def _lstm_shapes(m: dict, vocab: int) -> dict[str, tuple[int, ...]]:
    return _layered_shapes(m, vocab, "lstm", lambda i, h: dict(zip(_RECURRENT, ((i, 4 * h), (h, 4 * h), (4 * h,)))),
                           m["embed"])


ARCHS: dict[str, Arch] = {
    "gru": Arch("gru", _gru_build, _gru_weights, _gru_step, _matmul_count, _gru_shapes, "step", _gru_states),
    "conv": Arch("conv", _conv_build, _conv_weights, _conv_step, _matmul_count, _conv_shapes, "step", _conv_states),
    "mlp": Arch("mlp", _mlp_build, _mlp_weights, _mlp_step, _matmul_count, _mlp_shapes),
    "lstm": Arch("lstm", _lstm_build, _lstm_weights, _lstm_step, _matmul_count, _lstm_shapes, "step", _lstm_states,
                 deployable=False),
}


def get(name: str) -> Arch:
    return ARCHS[name]

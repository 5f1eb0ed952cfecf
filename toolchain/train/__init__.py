"""Stages `train`, `teacher`, `synth` and `distill`: float Keras models from token streams.
The architecture registry, the training loop, float prediction, the one cross-entropy scorer
(`metrics`), the teacher, synthetic data and distillation, and `tlmc info`.
"""

"""Stage `quantize` and what runs an int8 model on the host: the full-int8 conversion, the
.tflite reader, the plan the C runtime executes (`plan/`), the interpreters (LiteRT, TFLM),
step models run token by token, integer sampling and host generation.
"""

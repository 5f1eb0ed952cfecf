"""`tlmc test` and `tlmc chat`: the hardware-in-the-loop suite and the interactive session,
against a device found or started by `target` and reached through `link`.
"""

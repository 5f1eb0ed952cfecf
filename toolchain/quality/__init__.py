"""`tlmc eval`: what a model is worth, float and int8 on the same data, and the host
reference for parsing voice commands.
"""

"""The shared kernel: settings, domain errors, the clock, files and text normalisation.

Nothing here imports another package of the project, so every room may import it.
"""

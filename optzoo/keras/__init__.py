"""Keras flavor: ``keras.optimizers`` and ``keras.optimizers.schedules`` names,
arguments and defaults, as optax transformations and schedules."""

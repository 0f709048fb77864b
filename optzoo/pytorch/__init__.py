"""PyTorch flavor: ``torch.optim`` and ``torch.optim.lr_scheduler`` names, arguments
and defaults, as optax transformations and schedules, equal number for number."""

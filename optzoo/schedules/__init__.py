"""Learning-rate schedules: each a traceable ``step -> lr`` function."""

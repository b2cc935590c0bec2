"""hipercow_slurm: placeholder until the driver lands."""

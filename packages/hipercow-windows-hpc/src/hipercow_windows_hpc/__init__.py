"""hipercow_windows_hpc: placeholder until the driver lands."""

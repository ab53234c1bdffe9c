"""Parameter sweeps: one base scenario x a grid of changes x seeds, run as independent jobs.

`spec` reads the sweep file, `expand` turns it into keyed points, `runner.run_sweep` runs
them on local processes or a Dask cluster, `store` keeps finished points so an interrupted
sweep resumes, `cli.sweep_command` is the command line. Nothing heavy is imported here:
every worker process imports this package to unpickle its jobs.
"""

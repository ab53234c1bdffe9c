"""Pieces of the command line that are not the simulator: shared click options, output
directory checks, and the scenario template behind `roomsim new`."""

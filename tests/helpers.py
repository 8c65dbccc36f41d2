"""Helpers shared by the end-to-end tests: run an experiment into a folder, read its CSVs."""
import csv

from syft_fl.experiment import prepare_out_dir, run


def run_into(path, config):
    """Run ``config`` into the new folder ``path`` (no progress bars, no plots); returns the summary."""
    prepare_out_dir(str(path), force=False)
    return run(config, str(path), progress=False, plots=False)


def read_csv(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))

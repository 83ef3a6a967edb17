"""Run conventions: typed options, self-describing run directories, checkpoints, statistics."""

from ganatomy.runs.options import dump_options, load_options, options_from_dict, options_to_dict
from ganatomy.runs.rundir import make_run_dir

__all__ = ["dump_options", "load_options", "options_from_dict", "options_to_dict", "make_run_dir"]

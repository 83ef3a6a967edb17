"""The project's error types.

Every error a user can cause (bad path, bad file, bad option) is a ``GanatomyError`` whose
message is one line naming the thing and the problem; the CLI prints it without a traceback.
"""


class GanatomyError(Exception):
    """A problem with the user's input, reported as one line."""


class OptionsError(GanatomyError):
    """Unknown, missing or ill-typed option."""


class DataError(GanatomyError):
    """A dataset, image or label file that cannot be used as it is."""


class CheckpointError(GanatomyError):
    """A checkpoint that is missing, corrupt or of the wrong kind."""


class TrainingDiverged(GanatomyError):
    """A loss became NaN or Inf; the last good checkpoint is kept."""


class NotFittedError(GanatomyError):
    """An estimator was used (transform, predict, save) before it was fitted."""

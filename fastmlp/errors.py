"""fastmlp's exceptions."""


class DivergenceError(FloatingPointError):
    """A fit produced a non-finite loss, gradient, weight or optimizer state.
    The model is back at its state from the start of that epoch; `epoch` and
    `batch` say where it happened, counted from 0 as the callbacks' epoch
    argument is (`batch` is None for the optimizer's state, which is checked
    once an epoch). The message counts from 1, as the progress line does."""

    def __init__(self, message, epoch, batch):
        super().__init__(message)
        self.epoch = epoch
        self.batch = batch


class ModelFileError(ValueError):
    """A model file is not one fastmlp wrote, or is damaged."""

"""vLLM's exceptions module: VLLMValidationError is the ValueError that invalid request parameters raise,
naming the parameter and the offending value."""


class VLLMValidationError(ValueError):
    """An invalid parameter: `parameter` names it and `value` holds what was given."""

    def __init__(self, message, *, parameter=None, value=None):
        super().__init__(message)
        self.parameter = parameter
        self.value = value

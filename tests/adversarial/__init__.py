"""Property tests with Hypothesis: drawn inputs, a picture or one clear error, nothing lost."""

from hypothesis import HealthCheck, settings


def budget(examples: int) -> settings:
    """A fixed, reproducible budget: ``examples`` draws, derandomised, no example database written
    into the working tree, and no deadline (a stylisation's time depends on the machine's load)."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )

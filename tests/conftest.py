"""Settings for every tier."""

from hypothesis import HealthCheck, settings

# No timing asserts, hypothesis's included: its deadline and "input generation is slow" health
# check fail a test because a shared 2-CPU machine was busy, not because the code is wrong.
settings.register_profile("kruise-py", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("kruise-py")
